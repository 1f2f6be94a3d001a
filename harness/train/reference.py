"""The reference pass: log-probs of every pair under θi−1, computed once and stored with the pairs.

As the official self-evolution training code does it: the reference is constant during an iteration, so
its likelihoods are precomputed in a separate pass and no reference model sits in memory during
training. The log-probs are the sums over answer tokens (answer + EOS) that TRL's DPO loss uses,
computed through TRL's fused LM head exactly as the trainer computes the policy's.

Deviation from the official code: the official pass runs the LLM in fp32 while training runs in
bf16; here the pass runs in the precision the trainer computes in (fp32 on CPU; bf16 on GPU, where
training runs bf16 autocast over fp32 weights, or DeepSpeed's bf16 weights), so reference and policy
agree at step 0 (exactly on CPU, to bf16 rounding on GPU).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from harness.progress import progress as progress_line
from harness.train.collator import LlavaPairCollator


def reference_logps(
    model,
    collator: LlavaPairCollator,
    examples: Sequence[dict],
    *,
    batch_size: int = 4,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> list[dict[str, float]]:
    """[{chosen_logps, rejected_logps, chosen_logps_normed, rejected_logps_normed}] per example, in order."""
    from trl.trainer.utils import add_fused_lm_head

    if not getattr(model, "_harness_fused_head", False):
        add_fused_lm_head(model)
        model._harness_fused_head = True
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    out: list[dict[str, float]] = []
    model.eval()
    with progress_line("reference log-probs", len(examples), disable=not progress) as bar, torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            chunk = list(examples[start : start + batch_size])
            batch = collator(chunk)
            cm = batch["completion_mask"].to(device)
            ids = batch["input_ids"].to(device)
            res = model(
                input_ids=ids,
                attention_mask=batch["attention_mask"].to(device),
                pixel_values=batch["pixel_values"].to(device, dtype),
                labels=ids.masked_fill(cm == 0, -100),
                use_cache=False,
                fused_lm_head=True,
            )
            mask = cm[:, 1:].to(res.log_probs.dtype)
            lp = res.log_probs[:, -mask.shape[1] :].float()
            sums = (lp * mask).sum(dim=1)
            means = sums / mask.sum(dim=1).clamp(min=1.0)
            n = len(chunk)
            for j in range(n):
                out.append(
                    {
                        "chosen_logps": sums[j].item(),
                        "rejected_logps": sums[n + j].item(),
                        "chosen_logps_normed": means[j].item(),
                        "rejected_logps_normed": means[n + j].item(),
                    }
                )
            bar.advance(n)
            if on_batch:
                on_batch(len(out))
    return out
