"""Controlled hallucination decoding for the judge-free method (arXiv 2411.17760), batched.

At every decoding step the policy is run twice on the same answer prefix: once with the image
(``USER: <image>\\n{prompt} ASSISTANT:``) and once without it (``USER: {prompt} ASSISTANT:``),
each with its own KV cache. The next token is the argmax of the mixture

    p = (1 - h) · p_image + h · p_no_image

where ``h`` (the hallucination ratio) is per sample. ``h = 0`` is plain greedy decoding with the
image; ``h = 1`` is greedy decoding without it. The paper does not say whether it mixes
probabilities, mixes logits or switches tokens; mixing the two next-token distributions
(``rule="probability"``) is the project's reading, documented in methods/clip_filter/method.py;
``rule="logit"`` is the other reading, an interpolation of the two log-distributions,
``log p ∝ (1 - h) · log p_image + h · log p_no_image`` (the same argmax as interpolating the logits).

Implementation: ``model.generate`` drives the image-conditioned pass (its cache, EOS handling and
left-padding positions); a ``LogitsProcessor`` runs the image-free pass alongside it, feeding it
each chosen token, and replaces the scores by log p. Prompts of a batch are left-padded, and the
image-free pass gets position ids from its attention mask exactly as ``generate`` computes them,
so batching does not change the result.

It needs the model itself, so it works with the ``hf`` backend (which exposes ``.policy``); vLLM
exposes no per-step distribution of a second, image-free sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.policy.padding import expand_to_square

MIXING_RULES = ("probability", "logit")


def policy_of(backend) -> object:
    """The transformers policy behind ``backend``; a clear error for backends without one."""
    policy = getattr(backend, "policy", None)
    if policy is None or not hasattr(getattr(policy, "model", None), "generate"):
        raise HarnessError(
            f"the clip_filter method builds its negatives by mixing image-conditioned and image-free "
            f"next-token distributions, which needs the model in process: use the 'hf' backend "
            f"(backend {getattr(backend, 'name', type(backend).__name__)!r} exposes no transformers policy)"
        )
    return policy


@dataclass
class MixedOutput:
    text: str
    tokens: int  # generated tokens, EOS included when reached


def _mixer_class():
    import torch
    from transformers import LogitsProcessor

    class ImageFreeMixer(LogitsProcessor):
        """Runs the image-free sequence beside ``generate`` and mixes the two distributions."""

        def __init__(self, model, input_ids, attention_mask, ratios, rule="probability"):
            self.model = model
            self.rule = rule
            self.ids = input_ids
            self.mask = attention_mask
            self.h = ratios.float()[:, None]
            self.past = None
            self.pos = None

        def _image_free_logits(self, input_ids):
            if self.past is None:
                ids, mask = self.ids, self.mask
                pos = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
            else:
                ids = input_ids[:, -1:]
                self.mask = torch.cat([self.mask, torch.ones_like(ids)], dim=1)
                mask, pos = self.mask, self.pos + 1
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=pos,
                past_key_values=self.past,
                use_cache=True,
                logits_to_keep=1,
            )
            self.past = out.past_key_values
            self.pos = pos[:, -1:]
            return out.logits[:, -1, :]

        def __call__(self, input_ids, scores):
            no_img = self._image_free_logits(input_ids).float()
            lp_img = torch.log_softmax(scores.float(), dim=-1)
            lp_no = torch.log_softmax(no_img[:, : scores.shape[-1]], dim=-1)
            h = self.h.to(scores.device)
            if self.rule == "logit":
                return torch.log_softmax((1.0 - h) * lp_img + h * lp_no, dim=-1)
            mixed = torch.stack([torch.log1p(-h) + lp_img, torch.log(h) + lp_no])  # log(0) = -inf: exact ends
            return torch.logsumexp(mixed, dim=0)

    return ImageFreeMixer


def mixed_generate(
    policy,
    images: Sequence,
    prompts: Sequence[str],
    ratios: Sequence[float],
    *,
    max_new_tokens: int = 512,
    batch_size: int = 16,
    rule: str = "probability",
) -> list[MixedOutput]:
    """Greedy answers under the mixture (``rule``: see the module doc), one per (image, prompt, h), in order."""
    import torch

    if rule not in MIXING_RULES:
        raise HarnessError(f"mixing rule {rule!r} unknown; accepted: {', '.join(MIXING_RULES)}")

    if not len(images) == len(prompts) == len(ratios):
        raise HarnessError(f"mixed decoding: {len(images)} images, {len(prompts)} prompts, {len(ratios)} ratios")
    for h in ratios:
        if not 0.0 <= float(h) <= 1.0:
            raise HarnessError(f"hallucination ratio must be in 0-1, got {h}")
    proc, model, tok = policy.processor, policy.model, policy.processor.tokenizer
    with_img = [policy.template.render(p, with_image=True) for p in prompts]
    without = [policy.template.render(p, with_image=False) for p in prompts]
    lengths = [len(tok(p)["input_ids"]) for p in with_img]
    order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))
    out: list[MixedOutput | None] = [None] * len(prompts)
    mixer_cls = _mixer_class()
    device = policy.device
    for k in range(0, len(order), max(1, batch_size)):
        idx = order[k : k + max(1, batch_size)]
        pics = [im.convert("RGB") for im in (images[i] for i in idx)]
        if policy.pad_to_square:
            pics = [expand_to_square(im, policy.image_mean) for im in pics]
        enc = proc(images=pics, text=[with_img[i] for i in idx], padding=True, padding_side="left", return_tensors="pt")
        enc["pixel_values"] = enc["pixel_values"].to(policy.dtype)
        enc = {key: v.to(device) for key, v in enc.items()}
        free = tok([without[i] for i in idx], padding=True, padding_side="left", return_tensors="pt").to(device)
        mixer = mixer_cls(
            model,
            free["input_ids"],
            free["attention_mask"],
            torch.tensor([float(ratios[i]) for i in idx], device=device),
            rule,
        )
        with torch.inference_mode():
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                logits_processor=[mixer],
                pad_token_id=tok.pad_token_id,
            )
        new = gen[:, enc["input_ids"].shape[1] :]
        texts = tok.batch_decode(new, skip_special_tokens=True)
        for row, i, text in zip(new.tolist(), idx, texts):
            n = len(row)
            if tok.eos_token_id in row:
                n = row.index(tok.eos_token_id) + 1
            out[i] = MixedOutput(text.strip(), n)
    return out  # type: ignore[return-value]
