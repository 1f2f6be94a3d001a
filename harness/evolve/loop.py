"""The self-evolution loop: θ0 → θ1 → … → θN, one resumable stage at a time.

Iteration i: new disjoint images, or the image plan's one fixed set (open_run.py) → method.synthesize with
θi−1 (synthesize.py) → the
pairs audited against the images' truth where it is known (audit.py; the pairs of the held-out images set aside, heldout.py) → per training stage the method declares (stages.py; one for most methods): reference pass
with θi−1 (reference.py) → DPO training → θi → the held-out pairs' reward margin of θi against θi−1 (heldout.py), a full HF checkpoint with its processor
(train.py) → evaluation of θi (evaluate.py). θ0 is evaluated too. Every stage writes its files
atomically, then a marker; rerunning the same command skips finished stages and redoes an
interrupted one from its start or its first unfinished chunk (all stages are deterministic in the
seed). Every option is checked, and the images are drawn, before the run directory is created, so a
start that fails validation leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from harness import atomic
from harness.backends.base import parse_backend_options
from harness.backends.helpers import open_helpers
from harness.errors import HarnessError
from harness.evolve.audit import audit_stage
from harness.evolve.evaluate import checkpoint_path, evaluate_stage
from harness.evolve.examples import pair_examples
from harness.evolve.gpu import generation_precision
from harness.evolve.heldout import heldout_ids, heldout_stage
from harness.evolve.open_run import open_run
from harness.evolve.options import (
    PAPER_IMAGES_PER_ITER,
    TINY_IMAGES_PER_ITER,
    EvolveOptions,
    check_options,
    default_evals,
    heldout_count,
    slug,
    variant_label,
)
from harness.evolve.scaling import scale_training
from harness.evolve.stages import run_stages
from harness.evolve.summary import IterationSummary, summary_table
from harness.evolve.synthesize import share_first_iteration, synthesize_stage
from harness.evolve.tracking import RunTracking, resolve_track
from harness.evolve.train import carry_forward
from harness.images import ImageRef, open_source
from harness.method import PreferencePair, build_config
from harness.options import check_method_sets
from harness.plugins import registry
from harness.policy.threads import threads_for, torch_threads
from harness.runs import Run
from harness.train.config import resolve_train_config


def evolve(opts: EvolveOptions, console: Console | None = None) -> list[IterationSummary]:
    console = console or Console()
    check_options(opts)
    reg = registry()
    if not opts.method:
        raise HarnessError(f"--method is required; registered methods: {', '.join(sorted(reg.methods))}")
    method_cls = reg.method(opts.method)
    if opts.evals is None:
        opts = dataclasses.replace(opts, evals=default_evals(reg))
    check_method_sets(method_cls.Config, opts.overrides)
    method = method_cls(build_config(method_cls, opts.overrides, opts.variant))
    for bench in opts.evals:
        reg.benchmark(bench)
    parse_backend_options(opts.backend, getattr(reg.backend(opts.backend), "options", {}), opts.backend_opts)
    source = open_source(opts.images, image_root=opts.image_root)
    method.check_images(source)
    if opts.audit_truth:  # a --audit-truth the audit cannot use stops the run now, not after a synthesis
        from harness.audit import find_auditor

        find_auditor(source.describe(), reg, opts.audit_truth)
    from harness.policy.loading import resolve_model_path

    base_path = resolve_model_path(opts.model)
    with torch_threads(threads_for(base_path)):  # one thread for a tiny-scale model (harness/policy/threads.py)
        return _evolve(opts, console, reg, method_cls, method, source, base_path)


def _evolve(opts: EvolveOptions, console: Console, reg, method_cls, method, source, base_path: Path):
    paper_per_iter = getattr(method_cls, "images_per_iter", None) or PAPER_IMAGES_PER_ITER
    per_iter = opts.images_per_iter or (TINY_IMAGES_PER_ITER if opts.model == "tiny" else paper_per_iter)
    heldout = heldout_count(opts, per_iter)
    plan = method.image_plan(per_iter + heldout)
    # TrainConfig.for_model ⊕ the method's recipe ⊕ --train (the tiny model keeps its tiny-scale keys)
    train_cfg, train_record = resolve_train_config(opts.model, method.train_recipe(), opts.train_overrides)
    train_cfg, train_record = scale_training(opts.model, base_path, train_cfg, train_record, opts.train_overrides)
    gen_device, gen_dtype = generation_precision(opts.model, opts.gen_dtype)
    label = variant_label(opts.method, opts.variant, opts.overrides)
    config = {
        "method": opts.method,
        "variant": label,
        "method_config": method.config_dict(),
        "objective": dataclasses.asdict(method.objective()),
        "base_model": opts.model,
        "images": {
            "source": source.describe(),
            "per_iter": per_iter,
            **({"heldout": heldout} if heldout else {}),
            "plan": plan.to_dict() if plan is not None else None,
        },
        "iterations": opts.iters,
        "seed": opts.seed,
        "backend": opts.backend,
        "generation": {"dtype": gen_dtype, "device": gen_device, "requested": opts.gen_dtype},
        "train": dataclasses.asdict(train_cfg),
        "train_recipe": train_record,
        "evals": list(opts.evals),
    }
    if opts.run_id is not None:
        run_dir = opts.runs_dir / opts.run_id
    else:
        run_dir = opts.run_dir or opts.runs_dir / slug(f"{label}-{Path(str(opts.model)).name}-s{opts.seed}")
    if (track := resolve_track(opts.track, run_dir, opts.restart)) != "none":
        config["track"] = track  # recorded, so a resume keeps it (absent: no tracking)
    with ExitStack() as stack:  # the run folder's lock (open_run takes it) is held to the run's end
        run = open_run(run_dir, config, opts, source, per_iter + heldout, console, plan=plan, stack=stack)
        atomic.write_json(run.dir / "config.json", run.manifest.get("config", config))  # the resolved run config
        if opts.run_toml is not None:  # the options that made it, for `harness evolve --config RUN/run.toml`
            atomic.write_text(run.dir / "run.toml", opts.run_toml)
        console.print(
            f"[bold]run[/] {run.dir}  method={label}  model={opts.model}  "
            f"{opts.iters} iterations × {per_iter} images  seed={opts.seed}"
        )
        tracking = RunTracking(run, source, console)  # --track: after each stage (harness/evolve/tracking.py)
        stack.callback(tracking.close)

        # spare cores generate whole batches beside this process (outputs unchanged; harness/backends/helpers.py)
        threads = threads_for(base_path) if opts.backend == "hf" else None
        helpers = open_helpers(opts.gen_helpers, threads, images=per_iter + heldout)
        if helpers is not None:
            stack.callback(helpers.close)
        summaries = [IterationSummary(0)]
        if opts.eval_theta0:
            summaries[0].metrics = evaluate_stage(run, 0, base_path, opts, console, label, helpers)
            tracking.after(0, "evaluate", evals=opts.evals)
        last = opts.iters if opts.stop_after is None else min(opts.stop_after, opts.iters)  # a cluster job's share
        for i in range(1, last + 1):
            summaries.append(
                _iteration(
                    run, i, base_path, method, source, train_cfg, train_record, opts, console, label, tracking, helpers
                )
            )
        declared = {
            b: [(c.label, c.metric) for c in getattr(reg.benchmark(b), "columns", ()) if c.headline] for b in opts.evals
        }
        console.print(summary_table(summaries, opts.evals, declared))
        return summaries


def _iteration(
    run: Run,
    i: int,
    base_path: Path,
    method,
    source,
    train_cfg,
    train_record,
    opts,
    console,
    label,
    tracking=None,
    helpers=None,
) -> IterationSummary:
    """One iteration's stages in order; each skipped when an earlier invocation finished it."""
    started = time.monotonic()
    out = run.iter_dir(i)
    prev = checkpoint_path(run, i - 1, base_path)
    summary = IterationSummary(i)
    refs = [ImageRef(r["id"], r["path"], tuple(r.get("questions", ()))) for r in atomic.read_json(out / "images.json")]
    held = heldout_ids(refs, int((run.manifest.get("config", {}).get("images") or {}).get("heldout", 0)), opts.seed)
    summary.images = len(refs) - len(held)
    policy = None

    def open_image(example: dict):
        return source.open(ImageRef(example["image_ref"], example.get("image_path")))

    if i == 1 and opts.share_from is not None:
        share_first_iteration(run, Path(opts.share_from), train_cfg, console)
    if run.done(f"synthesize-{i}"):
        summary.stages_reused += 1
    else:
        summary.stages_run += 1
        policy = synthesize_stage(run, i, prev, method, source, refs, opts, console, heldout=held, helpers=helpers)
    if not run.done(f"audit-{i}"):
        audit_stage(run, i, source, console, opts.audit_truth)
    tracking = tracking or RunTracking(run, source)
    tracking.after(i, "synthesize", "audit")
    pairs = [PreferencePair.from_dict(d) for d in atomic.read_jsonl(out / "pairs.jsonl")]
    summary.pairs = len(pairs)
    if not pairs:
        carry_forward(run, i, prev, out, console)
        summary.metrics = evaluate_stage(run, i, base_path, opts, console, label, helpers)
        tracking.after(i, "train", "evaluate", evals=opts.evals)
        summary.seconds = round(time.monotonic() - started, 1)
        return summary
    examples = pair_examples(pairs)
    tracking.pause()  # training reports its own curves (TRL's report_to)
    run_stages(
        run,
        i,
        prev,
        examples,
        method,
        source,
        [r for r in refs if r.id not in held],
        train_cfg,
        train_record,
        opts,
        console,
        open_image,
        summary,
        policy,
        helpers,
    )
    policy = None
    if held and not run.done(f"heldout-{i}"):
        beta = method.training_stages()[0].objective.beta
        heldout_stage(run, i, prev, beta, train_cfg, console, open_image, progress=opts.progress)
    info = run.stage_info(f"train-{i}")
    summary.steps, summary.train_loss = info.get("steps", 0), info.get("train_loss")
    tracking.after(i, "train")
    summary.metrics = evaluate_stage(run, i, base_path, opts, console, label, helpers)
    tracking.after(i, "evaluate", evals=opts.evals)
    summary.seconds = round(time.monotonic() - started, 1)
    return summary
