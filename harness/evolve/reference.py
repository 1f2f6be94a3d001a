"""The reference stage: θi−1's log-probabilities of every pair's chosen and rejected answers, computed
once before training (journaled per chunk of pairs: a killed pass resumes at its first unfinished chunk),
so DPO needs no live reference model. An objective with extra terms (a cropped image, a negative
built under a noised image, a top-alternative rejected score) gets their reference values in the same
pass, so no objective needs a reference model during training, under DeepSpeed or not."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from harness import atomic
from harness.evolve.gpu import load_policy_at, reference_dtype, release_accelerator
from harness.evolve.options import EvolveOptions
from harness.faults import maybe_kill
from harness.journal import Journal, chunked, recorded
from harness.progress import stage_end, stage_start
from harness.runs import Run
from harness.train.config import TrainConfig


def reference_stage(
    run: Run,
    i: int,
    prev: Path,
    examples: list[dict],
    train_cfg: TrainConfig,
    opts: EvolveOptions,
    console: Console,
    open_image,
    policy=None,
    *,
    objective=None,
    out: Path | None = None,
    marker: str | None = None,
    model_label: str | None = None,
) -> None:
    """Write ``ref_logps.jsonl`` (one row per example) into ``out`` (default ``iter<i>/``) and mark the stage
    (default ``reference-<i>``) done. ``policy``: θi−1 already loaded by the synthesis stage, reused when its
    precision is the reference pass's. ``objective``: the training objective, whose extra terms' reference
    values are added to each row (``ref_copo_logps``, ``ref_noise_logps``, ``ref_rejected_alt_logps``)."""
    from harness.train.objectives import precompute_reference, reference_keys

    out = out or run.iter_dir(i)
    marker = marker or f"reference-{i}"
    extra = reference_keys(objective) if objective is not None else []
    title = f"θ{i} · reference log-probs of {model_label or f'θ{i - 1}'}"
    t_stage = stage_start(console, f"{title} ({len(examples)} pairs)")
    from harness.policy.templates import get_template
    from harness.train.collator import LlavaPairCollator
    from harness.train.reference import reference_logps

    ref_dtype = reference_dtype(train_cfg)
    jpath = out / "reference.journal.jsonl"
    size = recorded(jpath, "chunk_pairs", opts.chunk_images)
    journal = Journal(
        jpath,
        {"stage": marker, "chunk_pairs": size, "pairs": len(examples), "dtype": ref_dtype, "extra": list(extra)},
    )
    ref_chunks = list(chunked(examples, size))
    collator = extra_collator = None
    for k, chunk in ref_chunks:  # journaled per chunk: a killed pass resumes at its first unfinished chunk
        if journal.done(k):
            continue
        if policy is None or str(policy.dtype) != f"torch.{ref_dtype}":
            policy = None
            release_accelerator()
            policy = load_policy_at(prev, ref_dtype)
        if collator is None:
            collator = LlavaPairCollator(
                policy.processor,
                get_template(train_cfg.template),
                open_image,
                max_length=train_cfg.max_length,
                pad_to_square=policy.pad_to_square,
            )
        rows = reference_logps(
            policy.model,
            collator,
            list(chunk),
            batch_size=train_cfg.ref_batch_size,
            progress=opts.progress,
            on_batch=lambda n: maybe_kill(marker),
        )
        if extra:
            if extra_collator is None:
                from harness.train.dpo import noise_collation
                from harness.train.objective_batch import ObjectivePairCollator

                extra_collator = ObjectivePairCollator(
                    policy.processor,
                    get_template(train_cfg.template),
                    open_image,
                    max_length=train_cfg.max_length,
                    pad_to_square=policy.pad_to_square,
                    align_kinds=objective.align_kinds,
                    **noise_collation(objective),
                )
            values = precompute_reference(
                policy.model, extra_collator, list(chunk), objective, batch_size=train_cfg.ref_batch_size
            )
            rows = [dict(row, **{key: values[key][j] for key in extra}) for j, row in enumerate(rows)]
        journal.append(k, {"rows": rows})
        maybe_kill(f"{marker}-chunk-{k}")
    refs_lp = [row for rec in journal.records(len(ref_chunks)) for row in rec["rows"]]
    atomic.write_jsonl(out / "ref_logps.jsonl", refs_lp)
    run.mark_done(marker, pairs=len(refs_lp), chunk_pairs=size, extra=list(extra))
    journal.remove()
    stage_end(console, title, t_stage, f"{len(refs_lp)} pairs scored")
