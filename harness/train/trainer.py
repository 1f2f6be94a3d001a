"""TRL's DPOTrainer with precomputed reference log-probs for images and an image-content
alignment term (length-normalised NLL of chosen descriptions).

Two things TRL 1.16 does not do, and how this subclass adds them without copying TRL's code:

1. Precomputed reference log-probs for a vision dataset (no reference model in
   memory). TRL refuses ``precompute_ref_log_probs`` when it sees an ``image`` column. Our rows carry
   the image under ``image_ref`` (the collator opens it), so TRL takes the dataset for text; we then
   skip TRL's text tokenisation (``_prepare_dataset``) and its own precompute pass
   (``_precompute_ref_logps``), because the rows already hold ``ref_chosen_logps`` /
   ``ref_rejected_logps`` from our reference pass (harness/train/reference.py). TRL's loss then reads
   them from the batch, exactly as for its own precomputed values.

2. The image-content alignment term (CA): the length-normalised NLL of the chosen description
   given (image, descriptive question). The chosen rows of the DPO batch *are* those sequences, so
   the term is read from the per-token log-probs of the DPO forward itself (captured by a forward
   hook on the policy, under grad), with no second forward. ``align_norm="batch"`` averages over the
   whole micro-batch with zeros for non-description pairs (the official code); ``"des"`` over
   description pairs only.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from trl import DPOTrainer
from trl.trainer import dpo_trainer as _trl_dpo


class SelfEvolutionDPOTrainer(DPOTrainer):
    def __init__(self, *args, align_weight: float = 0.0, align_norm: str = "batch", objective=None, **kwargs):
        self.align_weight = float(align_weight)
        self.align_norm = align_norm
        # an objective with extra terms (harness/train/objectives.py) takes its own loss path; None: TRL's DPO
        self.objective = objective
        dpo_args = kwargs.get("args")
        skip_hash = dpo_args is not None and dpo_args.precompute_ref_log_probs
        # TRL hashes every weight of the model to name its precompute cache file; ours are precomputed,
        # so that pass (a full copy of a 7B model to CPU) is skipped.
        ctx = (
            _patched(_trl_dpo, "hash_module", lambda module: "precomputed-by-harness")
            if skip_hash
            else contextlib.nullcontext()
        )
        with ctx:
            super().__init__(*args, **kwargs)

    # -- precomputed reference log-probs -------------------------------------------------------
    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        return dataset  # the LLaVA collator tokenises

    def _precompute_ref_logps(self, dataset, name, batch_size):
        missing = {"ref_chosen_logps", "ref_rejected_logps"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"precomputed reference log-probs are missing from the {name} dataset: {sorted(missing)}")
        return dataset

    # -- the alignment term --------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.objective is not None:
            from harness.train.objective_batch import extended_loss

            return extended_loss(self, model, inputs, return_outputs)
        is_des = inputs.pop("is_des", None)
        if self.align_weight == 0.0 or is_des is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        captured: list[Any] = []

        def grab(_module, _inputs, output):
            if torch.is_grad_enabled() and not captured:
                captured.append(output)

        handle = self.accelerator.unwrap_model(model).register_forward_hook(grab)
        try:
            result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            handle.remove()
        loss = result[0] if return_outputs else result
        align = self.alignment_nll(captured[0].log_probs, inputs["completion_mask"], is_des)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["align_nll"].append(self.accelerator.gather_for_metrics(align.detach()).mean().item())
        loss = loss + self.align_weight * align
        return (loss, result[1]) if return_outputs else loss

    def alignment_nll(
        self, log_probs: torch.Tensor, completion_mask: torch.Tensor, is_des: torch.Tensor
    ) -> torch.Tensor:
        """Mean over the micro-batch of −(1/|y_w|) Σ log π(y_w,t) for description pairs (zeros for others)."""
        n = is_des.shape[0]
        mask = completion_mask[:n, 1:].to(log_probs.dtype)
        lp = log_probs[:n, -mask.shape[1] :]
        per_seq = -(lp * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        weights = is_des.to(per_seq.dtype).to(per_seq.device)
        if self.align_norm == "des":
            return (per_seq * weights).sum() / weights.sum().clamp(min=1.0)
        return (per_seq * weights).mean()


@contextlib.contextmanager
def _patched(module, name: str, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)
