"""Training objectives beyond plain DPO: the extra terms a method (or the user) can switch on.

Every term reads summed per-token log-probs of an answer (answer + EOS), β-scaled log-ratios
against the reference θi−1, and a mean over the micro-batch, like TRL's sigmoid DPO:

- DPO (``dpo_weight``): −log σ(β[(log π(y_w) − log π_ref(y_w)) − (S(y_l) − S_ref(y_l))]), where S is
  the likelihood, or with ``rejected_score="top_alternative"`` the summed log-prob of the most likely
  token *other than* y_l's own at each position (a rejected score one released self-training trainer uses; docs/methods.md).
  Pairs whose rejected answer is empty carry no DPO term (a zero in the batch mean).
- SFT (``sft_weight``): −w · Σ_t log π(y_w,t), summed over the chosen tokens (docs/methods.md gives the methods' weights);
  with ``sft_norm="token_mean"`` the mean over every chosen token of the batch (plain supervised fine-tuning).
- mDPO (Wang et al., EMNLP 2024, arXiv 2406.11839; luka-group/mDPO): the image-conditional term
  −log σ(r(m, y_w) − r(m', y_w)) with m' a random resized crop keeping 1–20 % of the image area
  (``crop_scale``), and the anchor −log σ(r(m, y_w) − δ), where r(m, y) = β[log π(y|m) − log π_ref(y|m)].
  The crop is applied to the processed, normalised pixel tensor, as there; it is drawn once per
  pair from a seed (the image, prompt and chosen answer) and shared by policy and reference (the
  released code draws a fresh, unseeded crop for each of the two passes).
- noisy-argmax negative (``noise_negative_weight``; Zhou et al. 2024, arXiv 2402.11411):
  â_t = argmax of the logits at position t of y_w under the image noised at ``noise_negative_step``
  (no gradient), N = Σ_t log softmax(clean-image logits)_t[â_t]; the term is
  −log σ(β[(log π(y_w) − log π_ref(y_w)) − (N_π − N_ref)]), N_ref taken under π_ref for both
  the argmax and the scoring. The noise is the harness's seeded diffusion noise, one seed per pair,
  shared by policy and reference, on the normalised pixel tensor (``noise_space="normalised"``) or, as
  a released trainer applies it, on the raw image before preprocessing, cast back to uint8 unclamped
  (``"pixel_unclamped"``; harness/noise.py).

With the reference precomputed (the default), the reference values of the extra terms are computed
by the evolve reference stage with θi−1, beside the chosen/rejected log-probs (harness/evolve/
reference.py), so training under DeepSpeed needs no reference model; rows without them (a training
job started outside ``harness evolve``) get them in one pass before the first optimiser step, with the
model as it is loaded (with LoRA, the zero-initialised adapters leave it unchanged).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.method import TrainingObjective

OBJECTIVES = ("dpo", "mdpo")
REJECTED_SCORES = ("likelihood", "top_alternative")
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)  # torchvision's RandomResizedCrop default aspect-ratio range
REF_KEYS = ("ref_copo_logps", "ref_noise_logps", "ref_rejected_alt_logps")
NOISE_SPACES = ("normalised", "pixel_unclamped")
SFT_NORMS = ("sum", "token_mean")


def with_mdpo(
    objective: TrainingObjective, *, copo_weight: float = 1.0, anchor_weight: float = 1.0, anchor_delta: float = 0.0
) -> TrainingObjective:
    """``objective`` plus mDPO's two terms (unit weights and δ = 0 as the released trainer)."""
    name = (
        objective.name
        if objective.name.endswith("mdpo")
        else ("mdpo" if objective.name == "dpo" else f"{objective.name}+mdpo")
    )
    return dataclasses.replace(
        objective,
        name=name,
        copo_weight=float(copo_weight),
        anchor_weight=float(anchor_weight),
        anchor_delta=float(anchor_delta),
    )


def select_objective(
    objective: TrainingObjective, name: str | None, *, option: str = "--train objective"
) -> TrainingObjective:
    """The method's objective, with ``name`` applied: None or "dpo" keeps it, "mdpo" adds mDPO's terms."""
    if name in (None, "", "dpo"):
        return objective
    if name == "mdpo":
        return with_mdpo(objective)
    raise HarnessError(f"{option}={name}: unknown objective; accepted: {', '.join(OBJECTIVES)}")


def check_objective(obj: TrainingObjective) -> TrainingObjective:
    """Refuse values the loss cannot compute, naming the field."""
    if obj.rejected_score not in REJECTED_SCORES:
        raise HarnessError(f"objective rejected_score={obj.rejected_score!r}: accepted: {', '.join(REJECTED_SCORES)}")
    for key in ("dpo_weight", "sft_weight", "copo_weight", "anchor_weight", "noise_negative_weight"):
        v = getattr(obj, key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or math.isnan(v):
            raise HarnessError(f"objective {key}={v!r}: expected a number ≥ 0")
    lo, hi = (float(x) for x in obj.crop_scale)
    if not 0 < lo <= hi <= 1:
        raise HarnessError(f"objective crop_scale={tuple(obj.crop_scale)!r}: expected 0 < min ≤ max ≤ 1")
    if obj.sft_norm not in SFT_NORMS:
        raise HarnessError(f"objective sft_norm={obj.sft_norm!r}: accepted: {', '.join(SFT_NORMS)}")
    if obj.noise_space not in NOISE_SPACES:
        raise HarnessError(f"objective noise_space={obj.noise_space!r}: accepted: {', '.join(NOISE_SPACES)}")
    from harness.noise import check_step

    check_step(obj.noise_negative_step)
    return obj


def is_plain(obj: TrainingObjective) -> bool:
    """True when the objective is TRL's sigmoid DPO (+ the alignment term): the trainer's original path."""
    return (
        obj.dpo_weight == 1.0
        and obj.sft_weight == 0
        and obj.rejected_score == "likelihood"
        and obj.copo_weight == 0
        and obj.anchor_weight == 0
        and obj.noise_negative_weight == 0
    )


def reference_keys(obj: TrainingObjective) -> list[str]:
    """The extra reference values ``obj`` needs beyond the chosen/rejected log-probs."""
    keys = []
    if obj.copo_weight:
        keys.append("ref_copo_logps")
    if obj.noise_negative_weight:
        keys.append("ref_noise_logps")
    if obj.dpo_weight and obj.rejected_score == "top_alternative":
        keys.append("ref_rejected_alt_logps")
    return keys


# -- corruptions ---------------------------------------------------------------------------------


def crop_box(height: int, width: int, scale: Sequence[float], seed: int) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random resized crop: torchvision's sampling rule (10 tries, then a
    centre crop at the clamped ratio), drawn from a seeded generator."""
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    area = height * width
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        target = area * torch.empty(1).uniform_(float(scale[0]), float(scale[1]), generator=gen).item()
        ratio = math.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=gen).item())
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=gen).item())
            left = int(torch.randint(0, width - w + 1, (1,), generator=gen).item())
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < CROP_RATIO[0]:
        w, h = width, int(round(width / CROP_RATIO[0]))
    elif in_ratio > CROP_RATIO[1]:
        h, w = height, int(round(height * CROP_RATIO[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(pixels: torch.Tensor, scale: Sequence[float], seed: int) -> torch.Tensor:
    """One C×H×W tensor cropped (seeded) and resized back to H×W, bilinear with antialiasing."""
    _, height, width = pixels.shape
    top, left, h, w = crop_box(height, width, scale, seed)
    crop = pixels[:, top : top + h, left : left + w].unsqueeze(0).float()
    out = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return out.squeeze(0).to(pixels.dtype)


def cropped(pixels: torch.Tensor, seeds: Sequence[int], scale: Sequence[float]) -> torch.Tensor:
    return torch.stack([random_resized_crop(p, scale, int(s)) for p, s in zip(pixels, seeds)])


def noised(pixels: torch.Tensor, seeds: Sequence[int], step: int) -> torch.Tensor:
    from harness.noise import add_noise

    return torch.stack([add_noise(p, step, int(s)) for p, s in zip(pixels, seeds)])


# -- per-row quantities ----------------------------------------------------------------------------


def _token_logps_fused(model, ids, att, pix, cm) -> torch.Tensor:
    """Per-token log-probs of each row's completion tokens ([B, T−1], zeros elsewhere), fused LM head."""
    labels = ids.masked_fill(cm == 0, -100)
    out = model(input_ids=ids, attention_mask=att, pixel_values=pix, labels=labels, use_cache=False, fused_lm_head=True)
    mask = cm[:, 1:]
    return out.log_probs[:, -mask.shape[1] :] * mask.to(out.log_probs.dtype)


def _log_softmax_logits(model, ids, att, pix) -> torch.Tensor:
    """log softmax of the next-token logits at every position but the last ([B, T−1, V], float32)."""
    out = model(input_ids=ids, attention_mask=att, pixel_values=pix, use_cache=False)
    return torch.log_softmax(out.logits[:, :-1].float(), dim=-1)


def top_alternative(logp: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per position, the token to score: the argmax, or the second-best when the argmax is the label."""
    top2 = logp.topk(2, dim=-1).indices
    return torch.where(top2[..., 0] == labels, top2[..., 1], top2[..., 0])


def row_terms(model, batch: dict[str, Any], obj: TrainingObjective) -> dict[str, torch.Tensor]:
    """Summed log-probs per pair for every term ``obj`` uses, under ``model`` (grad as the caller sets).

    Keys: ``chosen``, ``chosen_tokens`` ([n, T−1]), and as needed ``rejected``, ``copo``, ``noise``.
    The rejected rows are not run when the DPO term is off.
    """
    ids, att, cm = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    pix = batch["pixel_values"]
    n = ids.shape[0] // 2
    rows = ids.shape[0] if obj.dpo_weight else n
    mask = cm[:rows, 1:]
    out: dict[str, torch.Tensor] = {}
    top_alt = obj.dpo_weight and obj.rejected_score == "top_alternative"
    if top_alt or obj.noise_negative_weight:
        logp = _log_softmax_logits(model, ids[:rows], att[:rows], pix[:rows])
        labels = ids[:rows, 1:]
        fmask = mask.to(logp.dtype)
        tok = logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1) * fmask
        out["chosen_tokens"] = tok[:n]
        out["chosen"] = tok[:n].sum(1)
        out["chosen_count"] = fmask[:n].sum(1)
        if obj.dpo_weight:
            if top_alt:
                alt = top_alternative(logp[n:], labels[n:])
                out["rejected"] = (logp[n:].gather(-1, alt.unsqueeze(-1)).squeeze(-1) * fmask[n:]).sum(1)
            else:
                out["rejected"] = tok[n:].sum(1)
        if obj.noise_negative_weight:
            seeds = batch["row_seed"].tolist()
            noisy_pix = batch.get("noisy_pixel_values")  # raw-pixel noise, made by the collator
            if noisy_pix is None:
                noisy_pix = noised(pix[:n], seeds, obj.noise_negative_step)
            with torch.no_grad():
                noisy = _log_softmax_logits(model, ids[:n], att[:n], noisy_pix.to(pix.dtype))
                argmax = noisy.argmax(dim=-1)
            out["noise"] = (logp[:n].gather(-1, argmax.unsqueeze(-1)).squeeze(-1) * fmask[:n]).sum(1)
    else:
        tok = _token_logps_fused(model, ids[:rows], att[:rows], pix[:rows], cm[:rows])
        out["chosen_tokens"] = tok[:n]
        out["chosen"] = tok[:n].sum(1)
        out["chosen_count"] = mask[:n].to(tok.dtype).sum(1)
        if obj.dpo_weight:
            out["rejected"] = tok[n:].sum(1)
    if obj.copo_weight:
        crop = cropped(pix[:n], batch["row_seed"].tolist(), obj.crop_scale)
        out["copo"] = _token_logps_fused(model, ids[:n], att[:n], crop, cm[:n]).sum(1)
    return out


def reference_from_batch(batch: dict[str, Any], obj: TrainingObjective) -> dict[str, torch.Tensor]:
    """Precomputed reference values of a batch (the evolve reference pass plus the extra-term pass)."""
    ref = {"chosen": batch["ref_chosen_logps"], "rejected": batch["ref_rejected_logps"]}
    if "ref_rejected_alt_logps" in batch:
        ref["rejected"] = batch["ref_rejected_alt_logps"]
    if "ref_copo_logps" in batch:
        ref["copo"] = batch["ref_copo_logps"]
    if "ref_noise_logps" in batch:
        ref["noise"] = batch["ref_noise_logps"]
    return ref


def objective_loss(
    obj: TrainingObjective, pol: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], has_rejected: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The batch loss and its terms (each a batch mean, before weighting)."""
    beta = obj.beta
    dev = pol["chosen"].device
    r_w = beta * (pol["chosen"] - ref["chosen"].to(dev))
    terms: dict[str, torch.Tensor] = {}
    loss = torch.zeros((), device=dev, dtype=r_w.dtype)
    if obj.dpo_weight:
        r_l = beta * (pol["rejected"] - ref["rejected"].to(dev))
        terms["dpo"] = (-F.logsigmoid(r_w - r_l) * has_rejected.to(dev, r_w.dtype)).mean()
        loss = loss + obj.dpo_weight * terms["dpo"]
    if obj.copo_weight:
        r_c = beta * (pol["copo"] - ref["copo"].to(dev))
        terms["copo"] = (-F.logsigmoid(r_w - r_c)).mean()
        loss = loss + obj.copo_weight * terms["copo"]
    if obj.anchor_weight:
        terms["anchor"] = (-F.logsigmoid(r_w - obj.anchor_delta)).mean()
        loss = loss + obj.anchor_weight * terms["anchor"]
    if obj.noise_negative_weight:
        r_n = beta * (pol["noise"] - ref["noise"].to(dev))
        terms["noise_negative"] = (-F.logsigmoid(r_w - r_n)).mean()
        loss = loss + obj.noise_negative_weight * terms["noise_negative"]
    if obj.sft_weight and obj.sft_norm == "token_mean":
        tokens = pol["chosen_tokens"]
        count = pol["chosen_count"].sum().clamp(min=1.0)
        terms["sft"] = -tokens.sum() / count
        loss = loss + obj.sft_weight * terms["sft"]
    elif obj.sft_weight:
        terms["sft"] = (-pol["chosen"]).mean()
        loss = loss + obj.sft_weight * terms["sft"]
    terms["reward_chosen"] = r_w.detach().mean()
    return loss, terms


def precompute_reference(
    model, collator, rows: list[dict], obj: TrainingObjective, *, batch_size: int, autocast=None
) -> dict[str, list[float]]:
    """The extra reference values (``reference_keys(obj)``) of every row, with ``model`` as it is now."""
    import contextlib

    keys = reference_keys(obj)
    out: dict[str, list[float]] = {k: [] for k in keys}
    if not keys:
        return out
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast() if autocast else contextlib.nullcontext():
            for start in range(0, len(rows), batch_size):
                batch = collator(rows[start : start + batch_size])
                batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
                batch["pixel_values"] = batch["pixel_values"].to(next(model.parameters()).dtype)
                terms = row_terms(model, batch, obj)
                for key, term in (
                    ("ref_copo_logps", "copo"),
                    ("ref_noise_logps", "noise"),
                    ("ref_rejected_alt_logps", "rejected"),
                ):
                    if key in out:
                        out[key] += [float(x) for x in terms[term].float().cpu()]
    finally:
        model.train(was_training)
    return out
