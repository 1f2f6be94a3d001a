"""Image embeddings of diffusion-noised images, for engines that take precomputed embeddings (vLLM).

The official code noises the CLIP-normalised pixel tensor and never clips it (``add_diffusion_noise``;
docs/noise.md). An
engine that preprocesses PIL images itself cannot receive that tensor, but vLLM accepts the image
embeddings instead (``LLM(enable_mm_embeds=True)``; a ``(1, image tokens, LM hidden)`` tensor per
prompt). ``noised_image_embeds`` computes them with the policy's own vision tower and projector on the
exact tensor the ``hf`` backend generates from: the same pad-to-square, image processor and seeded
``harness.noise.add_noise``. Then the engine sees the official corruption, unclipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.backends.base import GenerationRequest
from harness.errors import HarnessError
from harness.noise import add_noise
from harness.policy.padding import expand_to_square


def noised_pixel_values(policy, requests: Sequence[GenerationRequest]):
    """The CLIP-normalised pixel tensor of each request, noised where it asks: [n, 3, H, W], float32."""
    images = []
    for r in requests:
        if not r.with_image:
            raise HarnessError(f"request {r.prompt[:40]!r}… has no image to embed")
        img = r.image.convert("RGB")
        images.append(expand_to_square(img, policy.image_mean) if policy.pad_to_square else img)
    pix = policy.processor.image_processor(images=images, return_tensors="pt")["pixel_values"].float()
    for j, r in enumerate(requests):
        if r.noise_step is not None:
            pix[j] = add_noise(pix[j], r.noise_step, r.seed)
    return pix


def noised_image_embeds(policy, requests: Sequence[GenerationRequest], *, batch_size: int = 16) -> list:
    """Per request, the projected image features ``[1, image tokens, LM hidden]`` that the LLaVA model
    splices in place of its ``<image>`` tokens, computed from ``noised_pixel_values`` in the policy's
    dtype and returned on the CPU (the engine's own processes move them to their GPUs)."""
    import torch

    model = policy.model
    config = model.config
    # the vision tower's device: with a vLLM engine only the tower and projector are on the GPU
    device = next(model.model.vision_tower.parameters()).device
    out = []
    for start in range(0, len(requests), batch_size):
        pix = noised_pixel_values(policy, requests[start : start + batch_size])
        with torch.inference_mode():
            feats = model.model.get_image_features(
                pixel_values=pix.to(device, policy.dtype),
                vision_feature_layer=config.vision_feature_layer,
                vision_feature_select_strategy=config.vision_feature_select_strategy,
            ).pooler_output
        out += [f.reshape(1, -1, f.shape[-1]).cpu() for f in feats]
    return out
