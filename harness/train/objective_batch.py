"""The batch and the trainer step of the extended objectives (harness/train/objectives.py).

``ObjectivePairCollator`` is the LLaVA pair collator plus what the extra terms need: a seed per pair
(the crop and the noise are drawn from it, so policy and precomputed reference see the same
corrupted image), whether the pair has a rejected answer, and the precomputed extra reference
values. ``extended_loss`` is the trainer's step for those objectives: policy terms under grad,
reference terms from the batch (precomputed) or from the reference model (``live_reference``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch

from harness.train.collator import LlavaPairCollator
from harness.train.objectives import REF_KEYS, objective_loss, reference_from_batch, row_terms


def pair_seed(example: dict) -> int:
    """A 31-bit seed from the pair's image, prompt and chosen answer (stable across runs and order)."""
    import hashlib

    text = "\x1f".join(str(example.get(k, "")) for k in ("image_ref", "prompt", "chosen"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % (2**31)


class ObjectivePairCollator(LlavaPairCollator):
    """``noise_space="pixel_unclamped"`` with a ``noise_step``: also ``noisy_pixel_values``, each pair's image
    noised on its raw pixels (as one released trainer does; harness/noise.py) and then preprocessed like the clean one."""

    def __init__(self, *args, noise_space: str = "normalised", noise_step: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.noise_space = noise_space
        self.noise_step = noise_step

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = super().__call__(examples)
        seeds = [pair_seed(e) for e in examples]
        batch["row_seed"] = torch.tensor(seeds, dtype=torch.long)
        if self.noise_space == "pixel_unclamped" and self.noise_step is not None:
            from harness.noise import raw_pixel_noise_unclamped
            from harness.policy.padding import expand_to_square

            mean = self.processor.image_processor.image_mean
            noisy = []
            for e, seed in zip(examples, seeds):
                img = raw_pixel_noise_unclamped(self.open_image(e).convert("RGB"), self.noise_step, seed)
                noisy.append(expand_to_square(img, mean) if self.pad_to_square else img)
            batch["noisy_pixel_values"] = self.processor.image_processor(images=noisy, return_tensors="pt")[
                "pixel_values"
            ]
        batch["has_rejected"] = torch.tensor([1.0 if str(e.get("rejected", "")).strip() else 0.0 for e in examples])
        for key in REF_KEYS:
            if key in examples[0]:
                batch[key] = torch.tensor([float(e[key]) for e in examples])
        return batch


_EXTRA_KEYS = ("row_seed", "has_rejected", "is_des", "ref_chosen_logps", "ref_rejected_logps", *REF_KEYS)


def _reference_context(trainer):
    """The reference model for a live reference: the adapter-disabled policy (LoRA) or TRL's copy."""
    from accelerate.utils import is_peft_model
    from trl.trainer import dpo_trainer as trl_dpo

    if trainer.ref_model is None and is_peft_model(trainer.model):
        unwrapped = trainer.accelerator.unwrap_model(trainer.model)
        return trainer.model, trl_dpo.use_adapter(
            unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None
        )
    return trainer.ref_model, contextlib.nullcontext()


def extended_loss(trainer, model, inputs: dict[str, Any], return_outputs: bool = False):
    """The loss of ``trainer.objective`` on one micro-batch; logs each term under ``objective/<term>``."""
    obj = trainer.objective
    extras = {k: inputs.pop(k) for k in list(inputs) if k in _EXTRA_KEYS}
    batch = dict(inputs, row_seed=extras["row_seed"])
    pol = row_terms(model, batch, obj)
    if trainer.precompute_ref_logps:
        ref = reference_from_batch(extras, obj)
    else:
        ref_model, ctx = _reference_context(trainer)
        with torch.no_grad(), ctx:
            ref = {k: v.detach() for k, v in row_terms(ref_model, batch, obj).items()}
    loss, terms = objective_loss(obj, pol, ref, extras["has_rejected"])
    mode = "train" if trainer.model.training else "eval"
    if trainer.align_weight and "is_des" in extras:
        n = extras["is_des"].shape[0]
        align = trainer.alignment_nll(pol["chosen_tokens"], inputs["completion_mask"][:n], extras["is_des"])
        terms["align_nll"] = align
        loss = loss + trainer.align_weight * align
    for name, value in terms.items():
        trainer._metrics[mode][f"objective/{name}"].append(
            trainer.accelerator.gather_for_metrics(value.detach()).mean().item()
        )
    return (loss, {"terms": terms}) if return_outputs else loss
