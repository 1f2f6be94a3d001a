"""Held-out pairs: did an iteration's training move the method's own signal?

Each iteration draws ``heldout`` images beyond the ones it trains on (``--heldout-images``; the same
images every iteration when the method's image set is fixed). The method makes pairs on them with the
rest, in the same synthesis call, and they are set aside (``iter<i>/heldout_pairs.jsonl``), never
trained on. After training, θi−1 and θi score them (summed log-probs, as the trainer's), and each pair's
reward margin β[(log πθi(y_w) − log πθi−1(y_w)) − (log πθi(y_l) − log πθi−1(y_l))] is 0 before training
by definition; its mean over the held-out pairs, with a paired bootstrap interval, says whether the
training learned to prefer chosen over rejected beyond the pairs it saw (``iter<i>/heldout.json``; the
leaderboard's "Pairs and training" table). Pairs without a rejected answer (a negative built in the
loss) give only the chosen reward β(log πθi(y_w) − log πθi−1(y_w)).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rich.console import Console

from harness import atomic
from harness.evolve.examples import pair_examples
from harness.evolve.gpu import load_policy_at, reference_dtype, release_accelerator
from harness.progress import stage_end, stage_start
from harness.runs import Run
from harness.train.config import TrainConfig

HELDOUT_FILE = "heldout_pairs.jsonl"
RESULT_FILE = "heldout.json"


def heldout_ids(refs, count: int, seed: int) -> set[str]:
    """The ``count`` images of an iteration's draw that are held out: those with the smallest hash of
    (seed, id), so a per-source draw gives held-out images from every source in proportion."""
    if count <= 0:
        return set()
    key = lambda r: hashlib.sha256(f"heldout\x1f{seed}\x1f{r.id}".encode()).hexdigest()  # noqa: E731
    return {r.id for r in sorted(refs, key=key)[:count]}


def split_pairs(pairs: list[dict], held: set[str]) -> tuple[list[dict], list[dict]]:
    """(training pairs, held-out pairs) by the pair's image."""
    return [p for p in pairs if p["image"] not in held], [p for p in pairs if p["image"] in held]


def heldout_stage(
    run: Run,
    i: int,
    prev: Path,
    beta: float,
    train_cfg: TrainConfig,
    console: Console,
    open_image,
    *,
    progress: bool = False,
) -> dict | None:
    """Score ``iter<i>/heldout_pairs.jsonl`` under θi−1 and θi; write ``iter<i>/heldout.json``."""
    out = run.iter_dir(i)
    path = out / HELDOUT_FILE
    if not path.is_file():
        return None
    pairs = atomic.read_jsonl(path)
    title = f"θ{i} · held-out reward margin (θ{i} vs θ{i - 1})"
    t_stage = stage_start(console, f"{title} ({len(pairs)} pairs)")
    result: dict = {"pairs": len(pairs), "beta": beta}
    if pairs:
        examples = pair_examples(pairs)
        before = _logps(prev, examples, train_cfg, open_image, progress)
        after = _logps(out / "checkpoint", examples, train_cfg, open_image, progress)
        result.update(margin_summary(examples, before, after, beta))
    atomic.write_json(out / RESULT_FILE, result)
    run.mark_done(f"heldout-{i}", pairs=len(pairs), margin=result.get("margin"))
    text = (
        f"margin {result['margin']:+.4f} [{result['margin_interval'][0]:+.4f}, {result['margin_interval'][1]:+.4f}]"
        if result.get("margin") is not None
        else "no pair with a rejected answer"
    )
    stage_end(console, title, t_stage, text)
    return result


def _logps(checkpoint: Path, examples: list[dict], cfg: TrainConfig, open_image, progress: bool) -> list[dict]:
    from harness.policy.templates import get_template
    from harness.train.collator import LlavaPairCollator
    from harness.train.reference import reference_logps

    release_accelerator()
    policy = load_policy_at(checkpoint, reference_dtype(cfg))
    collator = LlavaPairCollator(
        policy.processor,
        get_template(cfg.template),
        open_image,
        max_length=cfg.max_length,
        pad_to_square=policy.pad_to_square,
    )
    try:
        return reference_logps(policy.model, collator, examples, batch_size=cfg.ref_batch_size, progress=progress)
    finally:
        del policy
        release_accelerator()


def margin_summary(examples: list[dict], before: list[dict], after: list[dict], beta: float) -> dict:
    """Per-pair margins and chosen rewards, their means and paired bootstrap intervals (95 %)."""
    from harness.report.compare import paired_bootstrap

    chosen = [beta * (a["chosen_logps"] - b["chosen_logps"]) for a, b in zip(after, before)]
    margins = [
        beta * ((a["chosen_logps"] - b["chosen_logps"]) - (a["rejected_logps"] - b["rejected_logps"]))
        for e, a, b in zip(examples, after, before)
        if str(e.get("rejected", "")).strip()
    ]
    out: dict = {"with_rejected": len(margins)}
    for key, values in (("margin", margins), ("chosen_reward", chosen)):
        if not values:
            out[key] = None
            continue
        res = paired_bootstrap([(str(k), 0.0, v) for k, v in enumerate(values)], resamples=2000, seed=0)
        out[key] = round(res.delta, 6)
        out[f"{key}_interval"] = [round(res.ci_low, 6), round(res.ci_high, 6)]
        out[f"{key}_p"] = round(res.p_value, 6)
    if margins:
        out["accuracy"] = round(sum(m > 0 for m in margins) / len(margins), 4)
        out["significant"] = bool(out["margin_interval"][0] > 0 or out["margin_interval"][1] < 0)
    out["margins"] = [round(m, 6) for m in margins]
    return out
