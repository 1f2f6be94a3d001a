"""An iteration's training stages: reference pass then training, once per stage the method declares.

Most methods train once per iteration, and their files stay where they always were: ``iter<i>/ref_logps.jsonl``,
``iter<i>/train.json``, ``iter<i>/checkpoint`` (θi), stage markers ``reference-<i>`` and ``train-<i>``.
A method with several stages (``Method.training_stages``: e.g. preference training then a
second DPO stage, or preference training then supervised fine-tuning) runs them in order, each from the previous one's result: stage k's files
go to ``iter<i>/stage-<name>/`` (its pairs when it makes its own, ref_logps.jsonl, train.json, and its
checkpoint unless it is the last, whose result is θi in ``iter<i>/checkpoint``), its markers are
``synthesize-<i>-<name>``, ``reference-<i>-<name>`` and ``train-<i>-<name>``, and its reference is the
checkpoint it starts from (as a released two-stage recipe takes the merged stage-1 model as its reference).
``iter<i>/train.json`` then records the first stage (the preference training on the iteration's pairs)
with every stage's record under ``stages``; ``train-<i>`` is marked when the last stage is done.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from harness import atomic
from harness.evolve.examples import pair_examples
from harness.evolve.gpu import release_accelerator
from harness.evolve.reference import reference_stage
from harness.evolve.train import train_stage
from harness.runs import Run
from harness.train.config import TrainConfig


def effective_objective(stage_objective, train_cfg: TrainConfig):
    """The stage's objective with the user's ``--train objective=…`` applied, checked."""
    from harness.train.objectives import check_objective, select_objective

    return check_objective(select_objective(stage_objective, train_cfg.objective))


def stage_train_config(train_cfg: TrainConfig, record: dict, stage, *, tiny: bool) -> TrainConfig:
    """``train_cfg`` with the stage's recipe applied, except keys the user set with --train (``record`` is the
    run's train_recipe record) and, on the tiny model, its tiny-scale keys."""
    from harness.train.config import TINY_SCALE_KEYS

    keep = set(record.get("user", {})) | (set(TINY_SCALE_KEYS) if tiny else set())
    overrides = {k: v for k, v in stage.recipe.items() if k not in keep}
    return train_cfg.with_overrides(overrides) if overrides else train_cfg


def run_stages(
    run: Run,
    i: int,
    prev: Path,
    examples: list[dict],
    method,
    source,
    refs,
    train_cfg: TrainConfig,
    train_record: dict,
    opts,
    console: Console,
    open_image,
    summary,
    policy=None,
    helpers=None,
) -> None:
    """Reference and training of every stage of iteration ``i``; θi ends in ``iter<i>/checkpoint``.
    ``helpers``: spare-core generation helpers for a stage that makes its own pairs."""
    stages = tuple(method.training_stages())
    out = run.iter_dir(i)
    if len(stages) == 1:
        objective = effective_objective(stages[0].objective, train_cfg)
        cfg = stage_train_config(train_cfg, train_record, stages[0], tiny=opts.model == "tiny")
        if not cfg.live_reference and run.done(f"reference-{i}"):
            summary.stages_reused += 1
        elif not cfg.live_reference:
            summary.stages_run += 1
            reference_stage(run, i, prev, examples, cfg, opts, console, open_image, policy=policy, objective=objective)
        policy = None
        release_accelerator()  # training (in this process or accelerate's workers) gets the whole GPU
        if run.done(f"train-{i}"):
            summary.stages_reused += 1
        else:
            summary.stages_run += 1
            train_stage(run, i, prev, examples, method, source, cfg, console, open_image, objective=objective)
        return

    if run.done(f"train-{i}"):  # marked once every stage is done: nothing to redo, nothing rewritten
        summary.stages_reused += len(stages)
        return
    start = prev
    records = []
    for k, stage in enumerate(stages):
        last = k == len(stages) - 1
        folder = out / f"stage-{stage.name}"
        folder.mkdir(parents=True, exist_ok=True)
        label = f"θ{i} stage {stage.name}"
        start_label = f"θ{i - 1}" if k == 0 else f"θ{i} after stage {stages[k - 1].name}"
        rows = examples
        if stage.pairs == "own":
            rows = _own_pairs(run, i, stage, folder, start, method, source, refs, opts, console, summary, helpers)
        objective = effective_objective(stage.objective, train_cfg)
        cfg = stage_train_config(train_cfg, train_record, stage, tiny=opts.model == "tiny")
        ckpt = out / "checkpoint" if last else folder / "checkpoint"
        ref_marker, train_marker = f"reference-{i}-{stage.name}", f"train-{i}-{stage.name}"
        if not rows:
            console.print(f"[yellow]{label}: no pairs; the stage is skipped[/]")
            records.append({"stage": stage.name, "steps": 0, "skipped": "no pairs"})
            if last:
                _copy_checkpoint(start, ckpt)
            continue
        if not cfg.live_reference and run.done(ref_marker):
            summary.stages_reused += 1
        elif not cfg.live_reference:
            summary.stages_run += 1
            reference_stage(
                run,
                i,
                start,
                rows,
                cfg,
                opts,
                console,
                open_image,
                policy=policy if k == 0 else None,
                objective=objective,
                out=folder,
                marker=ref_marker,
                model_label=start_label,
            )
        policy = None
        release_accelerator()
        if run.done(train_marker):
            summary.stages_reused += 1
            info = atomic.read_json(folder / "train.json")
        else:
            summary.stages_run += 1
            info = train_stage(
                run,
                i,
                start,
                rows,
                method,
                source,
                cfg,
                console,
                open_image,
                objective=objective,
                out=folder,
                marker=train_marker,
                checkpoint=ckpt,
                title=f"{label} · {stage.summary or objective.name} from {start_label}",
            )
        records.append(dict(info, stage=stage.name, objective_name=objective.name))
        start = ckpt
    first = next((r for r in records if r.get("steps")), records[0])
    total = {
        **{k: v for k, v in first.items() if k != "stage"},
        "stage": first.get("stage"),
        "steps": first.get("steps", 0),
        "stages": records,
    }
    atomic.write_json(out / "train.json", total)
    run.mark_done(
        f"train-{i}",
        steps=sum(r.get("steps", 0) for r in records),
        train_loss=first.get("train_loss"),
        stages=[s.name for s in stages],
    )


def _own_pairs(
    run: Run, i: int, stage, folder: Path, start: Path, method, source, refs, opts, console, summary, helpers=None
):
    """The stage's own pairs, made by the method with the checkpoint the stage starts from (journaled like
    the synthesis stage; ``stage-<name>/pairs.jsonl``)."""
    from harness.evolve.synthesize import synthesize_stage

    marker = f"synthesize-{i}-{stage.name}"
    if run.done(marker):
        summary.stages_reused += 1
    else:
        summary.stages_run += 1

        def call(backend, images, ctx):
            return method.stage_pairs(stage.name, backend, images, ctx)

        synthesize_stage(
            run,
            i,
            start,
            method,
            source,
            list(refs),
            opts,
            console,
            out=folder,
            marker=marker,
            make_pairs=call,
            title=f"θ{i} stage {stage.name} · {stage.summary or 'pairs'}",
            helpers=helpers,
        )
    return pair_examples(atomic.read_jsonl(folder / "pairs.jsonl"))


def _copy_checkpoint(src: Path, dst: Path) -> None:
    import shutil

    if dst.exists():
        return
    tmp = atomic.make_temp_dir(".stage-", dst.parent)
    shutil.copytree(src, tmp / "checkpoint")
    (tmp / "checkpoint").rename(dst)
    shutil.rmtree(tmp, ignore_errors=True)
