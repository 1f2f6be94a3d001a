"""The training stage: DPO (plus the method's auxiliary terms) from θi−1 to θi on the iteration's pairs,
inline or in accelerate workers; an iteration without pairs carries θi−1 forward unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from harness import atomic
from harness.errors import HarnessError
from harness.evolve.gpu import local_gpus
from harness.faults import maybe_kill
from harness.progress import stage_end, stage_start
from harness.runs import Run
from harness.train.config import TrainConfig


def train_stage(
    run: Run,
    i: int,
    prev: Path,
    examples: list[dict],
    method,
    source,
    train_cfg: TrainConfig,
    console: Console,
    open_image,
    *,
    objective=None,
    out: Path | None = None,
    marker: str | None = None,
    checkpoint: Path | None = None,
    title: str | None = None,
) -> dict:
    """Train θi from θi−1 into ``iter<i>/checkpoint``; ``train.json`` and the stage marker record its steps
    and loss. A stage of a multi-stage iteration passes its own ``objective``, folder ``out`` (its
    ref_logps.jsonl and train.json), ``marker``, ``checkpoint`` (where the result goes) and ``title``."""
    from harness.train.objectives import REF_KEYS

    out = out or run.iter_dir(i)
    marker = marker or f"train-{i}"
    checkpoint = checkpoint or run.iter_dir(i) / "checkpoint"
    objective = objective if objective is not None else method.objective()
    title = title or f"θ{i} · DPO training from θ{i - 1}"
    t_stage = stage_start(console, f"{title} ({len(examples)} pairs)")
    from harness.evolve.tracking import train_tracking
    from harness.train.dpo import train_iteration

    track = train_tracking(run, marker)  # --track: TRL's report_to writes the curves into the run folder

    rows = examples
    if not train_cfg.live_reference:
        ref_rows = atomic.read_jsonl(out / "ref_logps.jsonl")
        if len(ref_rows) != len(examples):
            raise HarnessError(f"{out / 'ref_logps.jsonl'}: {len(ref_rows)} rows for {len(examples)} pairs")
        rows = [
            dict(
                e,
                ref_chosen_logps=r["chosen_logps"],
                ref_rejected_logps=r["rejected_logps"],
                **{key: r[key] for key in REF_KEYS if key in r},
            )
            for e, r in zip(examples, ref_rows)
        ]
    if train_cfg.launcher == "accelerate":
        from harness.train.launch import launch, write_job

        job = write_job(
            out / "train_job.json",
            policy_path=prev,
            out_dir=checkpoint,
            rows=rows,
            objective=objective,
            cfg=train_cfg,
            source=source.describe(),
            track=track,
        )
        launch(job, train_cfg.accelerate_config, num_processes=local_gpus() or None)
        info = atomic.read_json(job.with_suffix(".result.json"))
    else:
        info = train_iteration(
            prev,
            checkpoint,
            rows,
            objective=objective,
            cfg=train_cfg,
            open_image=open_image,
            on_step=lambda step: maybe_kill(marker),
            track=track,
        )
    atomic.write_json(out / "train.json", info)
    run.mark_done(marker, steps=info["steps"], train_loss=info["train_loss"])
    loss = f", loss {info['train_loss']:.4f}" if isinstance(info.get("train_loss"), (int, float)) else ""
    stage_end(console, title, t_stage, f"{info['steps']} optimiser steps{loss}")
    return info


def carry_forward(run: Run, i: int, prev: Path, out: Path, console: Console) -> None:
    """No pairs survived the filters: nothing to learn, so θi = θi−1 (copied, and recorded as such)."""
    if run.done(f"train-{i}"):
        return
    console.print(
        f"[yellow]θ{i}: the method produced no pairs (counts in {out / 'stats.json'}); θ{i} is θ{i - 1} unchanged[/]"
    )
    tmp = atomic.make_temp_dir(".carry-", out)
    shutil.copytree(prev, tmp / "checkpoint")
    target = out / "checkpoint"
    if target.exists():
        shutil.rmtree(target)
    (tmp / "checkpoint").rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    atomic.write_json(
        out / "train.json", {"steps": 0, "examples": 0, "train_loss": None, "skipped": "no pairs: θi is θi−1 unchanged"}
    )
    run.mark_done(f"train-{i}", steps=0, train_loss=None, skipped="no pairs")
