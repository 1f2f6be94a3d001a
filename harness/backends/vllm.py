"""vLLM generation (optional extra ``vllm``; GPU only).

vLLM preprocesses PIL images itself, so a noised request needs one of two paths:

- ``noise_input="pixels"`` (backend ``vllm``): a PIL image noised in pixel space
  (``harness.noise.noisy_pil_image``): padded to a square and resized to the vision tower's input
  size, then noised with the same schedule and seed, clipped to [0, 1] and quantised to uint8.
  Clipping and quantisation are the only differences from the tensor path of the ``hf`` backend
  (and of SeVa/SENA); docs/noise.md gives the measured gap.
- ``noise_input="embeds"`` (backend ``vllm_embeds``): the exact tensor path. The policy's vision
  tower and projector embed the unclipped noised tensor (``harness.backends.image_embeds``) and vLLM
  receives the embeddings (``enable_mm_embeds=True``). Clean images still go as PIL images.

All requests go to vLLM in one ``generate`` call (continuous batching); one engine per policy
checkpoint. ``build_inputs`` is pure and unit-tested without vLLM installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.backends.base import Backend, GenerationRequest
from harness.errors import HarnessError
from harness.noise import noisy_pil_image
from harness.policy.padding import expand_to_square


def input_size(processor) -> int:
    ip = processor.image_processor
    crop = getattr(ip, "crop_size", None) or {}
    if isinstance(crop, dict) and "height" in crop:
        return int(crop["height"])
    size = getattr(ip, "size", None) or {}
    return int(size.get("shortest_edge", size.get("height", 336)))


NOISE_INPUTS = ("pixels", "embeds")


def build_inputs(policy, requests: Sequence[GenerationRequest], *, noise_input: str = "pixels") -> list[dict[str, Any]]:
    """vLLM prompt dicts: the rendered template, and the image: a PIL image (clean, or noised in pixel
    space), or for a noised request with ``noise_input="embeds"`` its image embeddings."""
    if noise_input not in NOISE_INPUTS:
        raise HarnessError(f"noise_input must be one of {', '.join(NOISE_INPUTS)}, got {noise_input!r}")
    side = input_size(policy.processor)
    mean, std = policy.image_mean, policy.image_std
    embeds = {}
    if noise_input == "embeds":
        from harness.backends.image_embeds import noised_image_embeds

        noised = [i for i, r in enumerate(requests) if r.with_image and r.noise_step is not None]
        embeds = dict(zip(noised, noised_image_embeds(policy, [requests[i] for i in noised])))
    inputs = []
    for i, r in enumerate(requests):
        prompt = policy.template.render(r.prompt, with_image=r.with_image)
        if not r.with_image:
            inputs.append({"prompt": prompt})
            continue
        if i in embeds:
            inputs.append({"prompt": prompt, "multi_modal_data": {"image": embeds[i]}})
            continue
        img = r.image.convert("RGB")
        if policy.pad_to_square:
            img = expand_to_square(img, mean)
        if r.noise_step is not None:
            from PIL import Image

            img = noisy_pil_image(img.resize((side, side), Image.BICUBIC), r.noise_step, r.seed, mean, std)
        inputs.append({"prompt": prompt, "multi_modal_data": {"image": img}})
    return inputs


def sampling_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """Greedy decoding as the official scripts (vLLM's max_tokens default of 16 is never used)."""
    return {"temperature": 0.0, "max_tokens": request.max_new_tokens}


class VLLMBackend(Backend):
    name = "vllm"
    description = "vLLM offline engine: continuous batching on GPU (pip install 'self-evolution-harness[vllm]')"

    noise_input = "pixels"

    def __init__(self, policy, *, gpu_memory_utilization: float = 0.85, max_model_len: int = 4096,
                 tensor_parallel_size: int = 1, progress: bool = True, **engine_kwargs):
        try:
            import vllm
        except ImportError:
            raise HarnessError("the vllm backend needs vLLM: pip install 'self-evolution-harness[vllm]' "
                               "(GPU only; vLLM 0.33 pins torch 2.14 and transformers<5.21)") from None
        self.policy = policy
        self.progress = progress
        self._vllm = vllm
        self.llm = vllm.LLM(model=str(policy.path), dtype="bfloat16", gpu_memory_utilization=gpu_memory_utilization,
                            max_model_len=max_model_len, tensor_parallel_size=tensor_parallel_size,
                            limit_mm_per_prompt={"image": 1}, seed=0,
                            **({"enable_mm_embeds": True} if self.noise_input == "embeds" else {}), **engine_kwargs)

    def generate(self, requests: Sequence[GenerationRequest], *, desc: str = "generating") -> list[str]:
        params = [self._vllm.SamplingParams(**sampling_kwargs(r)) for r in requests]
        inputs = build_inputs(self.policy, requests, noise_input=self.noise_input)
        outputs = self.llm.generate(inputs, params, use_tqdm=self.progress)
        return [o.outputs[0].text.strip() for o in outputs]

    def close(self) -> None:
        del self.llm


class VLLMEmbedsBackend(VLLMBackend):
    name = "vllm_embeds"
    description = ("vLLM, noised images fed as image embeddings of the exact unclipped noised tensor "
                   "(the official noise path; needs the policy's vision tower on the GPU too)")
    noise_input = "embeds"
