"""The self-evolution loop: θ0 → θ1 → … → θN, one resumable stage at a time.

Iteration i: new disjoint images → method.synthesize with θi−1 → reference pass with θi−1 → DPO
training → θi (a full HF checkpoint with its processor) → evaluation of θi. θ0 is evaluated too.
Every stage writes its files atomically, then a marker; rerunning the same command skips finished
stages and redoes an interrupted one from its start (all stages are deterministic in the seed).
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness import atomic
from harness.errors import HarnessError
from harness.faults import maybe_kill
from harness.images import ImageRef, open_source, sample_iterations
from harness.method import PreferencePair, SynthesisContext, build_config
from harness.plugins import registry
from harness.runs import Run
from harness.train.config import TrainConfig

PAPER_IMAGES_PER_ITER = 6000
TINY_IMAGES_PER_ITER = 32


@dataclass
class EvolveOptions:
    method: str = "sena"
    iters: int = 3
    model: str = "tiny"
    images: str | None = None  # folder, LLaVA/COCO json, or "synthetic[:namespace]"; None = synthetic
    image_root: str | None = None
    images_per_iter: int | None = None
    backend: str = "hf"
    gen_batch_size: int = 16
    evals: list[str] = field(default_factory=lambda: ["shapes"])
    runs_dir: Path = Path("runs")
    run_dir: Path | None = None
    seed: int = 0
    variant: str | None = None
    overrides: list[str] = field(default_factory=list)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    restart: bool = False
    progress: bool = True
    eval_options: dict[str, Any] = field(default_factory=dict)


def variant_label(method: str, variant: str | None, overrides: list[str]) -> str:
    label = method + (f"[{variant}]" if variant else "")
    if overrides:
        label += "+" + ",".join(sorted(o.replace(" ", "") for o in overrides))
    return label


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")[:80]


@dataclass
class IterationSummary:
    iteration: int
    images: int = 0
    pairs: int = 0
    steps: int = 0
    train_loss: float | None = None
    seconds: float = 0.0
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def evolve(opts: EvolveOptions, console: Console | None = None) -> list[IterationSummary]:
    console = console or Console()
    if opts.iters < 1:
        raise HarnessError(f"--iters must be at least 1, got {opts.iters}")
    reg = registry()
    method_cls = reg.method(opts.method)
    method = method_cls(build_config(method_cls, opts.overrides, opts.variant))
    for bench in opts.evals:
        reg.benchmark(bench)
    reg.backend(opts.backend)
    source = open_source(opts.images, image_root=opts.image_root)
    from harness.policy.loading import resolve_model_path

    base_path = resolve_model_path(opts.model)
    per_iter = opts.images_per_iter or (TINY_IMAGES_PER_ITER if opts.model == "tiny" else PAPER_IMAGES_PER_ITER)
    train_cfg = TrainConfig.for_model(opts.model).with_overrides(opts.train_overrides)
    label = variant_label(opts.method, opts.variant, opts.overrides)
    config = {
        "method": opts.method,
        "variant": label,
        "method_config": method.config_dict(),
        "objective": dataclasses.asdict(method.objective()),
        "base_model": opts.model,
        "images": {"source": source.describe(), "per_iter": per_iter},
        "iterations": opts.iters,
        "seed": opts.seed,
        "backend": opts.backend,
        "train": dataclasses.asdict(train_cfg),
        "evals": list(opts.evals),
    }
    run_dir = opts.run_dir or opts.runs_dir / _slug(f"{label}-{Path(str(opts.model)).name}-s{opts.seed}")
    run = Run.open(run_dir, config, restart=opts.restart)
    console.print(f"[bold]run[/] {run.dir}  method={label}  model={opts.model}  "
                  f"{opts.iters} iterations × {per_iter} images  seed={opts.seed}")

    # images: one seeded, disjoint split for all iterations
    if not run.done("images"):
        split = sample_iterations(source, opts.iters, per_iter, opts.seed)
        for i, refs in enumerate(split.iterations, 1):
            atomic.write_json(run.iter_dir(i) / "images.json", [r.to_dict() for r in refs])
        if split.skipped:
            console.print(f"[yellow]skipped {len(split.skipped)} unreadable image(s)[/], e.g. {split.skipped[0][0]}: "
                          f"{split.skipped[0][1]}")
        run.mark_done("images", skipped=[list(s) for s in split.skipped])

    summaries = [IterationSummary(0)]
    summaries[0].metrics = _evaluate_stage(run, 0, base_path, opts, console, label)
    for i in range(1, opts.iters + 1):
        summaries.append(_iteration(run, i, base_path, method, source, train_cfg, opts, console, label))
    console.print(_summary_table(summaries, opts.evals))
    return summaries


def _checkpoint(run: Run, i: int, base_path: Path) -> Path:
    return base_path if i == 0 else run.iter_dir(i) / "checkpoint"


def _iteration(run, i, base_path, method, source, train_cfg, opts, console, label) -> IterationSummary:
    started = time.monotonic()
    out = run.iter_dir(i)
    prev = _checkpoint(run, i - 1, base_path)
    summary = IterationSummary(i)
    refs = [ImageRef(r["id"], r["path"], tuple(r.get("questions", ()))) for r in atomic.read_json(out / "images.json")]
    summary.images = len(refs)
    policy = None

    def open_image(example: dict):
        return source.open(ImageRef(example["image_ref"], example.get("image_path")))

    if not run.done(f"synthesize-{i}"):
        console.rule(f"θ{i}: synthesize pairs with θ{i - 1}")
        policy = _load(prev)
        from harness.backends import make_backend

        backend = make_backend(opts.backend, policy, **({"batch_size": opts.gen_batch_size} if opts.backend == "hf" else {}))
        ctx = SynthesisContext(seed=opts.seed * 1000 + i, iteration=i, checkpoint=str(prev),
                               open_image=source.open, progress=opts.progress)
        t0 = time.monotonic()
        pset = method.synthesize(backend, refs, ctx)
        maybe_kill(f"synthesize-{i}")
        if opts.backend != "hf":
            backend.close()
            policy = None
        atomic.write_jsonl(out / "pairs.jsonl", [p.to_dict() for p in pset.pairs])
        atomic.write_json(out / "stats.json", {"pairs": len(pset.pairs), "images": len(refs), "counts": pset.counts,
                                               "stats": pset.stats, "wall_s": round(time.monotonic() - t0, 3)})
        run.mark_done(f"synthesize-{i}", pairs=len(pset.pairs))
    pairs = [PreferencePair.from_dict(d) for d in atomic.read_jsonl(out / "pairs.jsonl")]
    summary.pairs = len(pairs)
    if not pairs:
        _carry_forward(run, i, prev, out, console)
        summary.metrics = _evaluate_stage(run, i, base_path, opts, console, label)
        summary.seconds = round(time.monotonic() - started, 1)
        return summary
    examples = [{"image_ref": p.image, "image_path": p.image_path, "prompt": p.prompt, "chosen": p.chosen,
                 "rejected": p.rejected, "kind": p.kind} for p in pairs]

    if not train_cfg.live_reference and not run.done(f"reference-{i}"):
        console.rule(f"θ{i}: reference log-probs of θ{i - 1}")
        from harness.policy.templates import get_template
        from harness.train.collator import LlavaPairCollator
        from harness.train.reference import reference_logps

        policy = policy or _load(prev)
        collator = LlavaPairCollator(policy.processor, get_template(train_cfg.template), open_image,
                                     max_length=train_cfg.max_length, pad_to_square=policy.pad_to_square)
        refs_lp = reference_logps(policy.model, collator, examples, batch_size=train_cfg.ref_batch_size,
                                  progress=opts.progress, on_batch=lambda n: maybe_kill(f"reference-{i}"))
        atomic.write_jsonl(out / "ref_logps.jsonl", refs_lp)
        run.mark_done(f"reference-{i}", pairs=len(refs_lp))
    policy = None
    gc.collect()

    if not run.done(f"train-{i}"):
        console.rule(f"θ{i}: DPO training from θ{i - 1}")
        from harness.train.dpo import train_iteration

        rows = examples
        if not train_cfg.live_reference:
            ref_rows = atomic.read_jsonl(out / "ref_logps.jsonl")
            if len(ref_rows) != len(examples):
                raise HarnessError(f"{out / 'ref_logps.jsonl'}: {len(ref_rows)} rows for {len(examples)} pairs")
            rows = [dict(e, ref_chosen_logps=r["chosen_logps"], ref_rejected_logps=r["rejected_logps"])
                    for e, r in zip(examples, ref_rows)]
        if train_cfg.launcher == "accelerate":
            from harness.train.launch import launch, write_job

            job = write_job(out / "train_job.json", policy_path=prev, out_dir=out / "checkpoint", rows=rows,
                            objective=method.objective(), cfg=train_cfg, source=source.describe())
            launch(job, train_cfg.accelerate_config)
            info = atomic.read_json(job.with_suffix(".result.json"))
        else:
            info = train_iteration(prev, out / "checkpoint", rows, objective=method.objective(), cfg=train_cfg,
                                   open_image=open_image, on_step=lambda step: maybe_kill(f"train-{i}"))
        atomic.write_json(out / "train.json", info)
        run.mark_done(f"train-{i}", steps=info["steps"], train_loss=info["train_loss"])
    info = run.stage_info(f"train-{i}")
    summary.steps, summary.train_loss = info.get("steps", 0), info.get("train_loss")
    summary.metrics = _evaluate_stage(run, i, base_path, opts, console, label)
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


def _carry_forward(run: Run, i: int, prev: Path, out: Path, console: Console) -> None:
    """No pairs survived the filters: nothing to learn, so θi = θi−1 (copied, and recorded as such)."""
    import shutil
    import tempfile

    if run.done(f"train-{i}"):
        return
    console.print(f"[yellow]θ{i}: the method produced no pairs (counts in {out / 'stats.json'}); "
                  f"θ{i} is θ{i - 1} unchanged[/]")
    tmp = Path(tempfile.mkdtemp(prefix=".carry-", dir=out))
    shutil.copytree(prev, tmp / "checkpoint")
    target = out / "checkpoint"
    if target.exists():
        shutil.rmtree(target)
    (tmp / "checkpoint").rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    atomic.write_json(out / "train.json", {"steps": 0, "examples": 0, "train_loss": None,
                                            "skipped": "no pairs: θi is θi−1 unchanged"})
    run.mark_done(f"train-{i}", steps=0, train_loss=None, skipped="no pairs")


def _load(path: Path):
    from harness.policy.loading import load_policy

    return load_policy(path)


def _evaluate_stage(run: Run, i: int, base_path: Path, opts: EvolveOptions, console: Console,
                    label: str) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {}
    for bench in opts.evals:
        results_path = run.iter_dir(i) / "eval" / bench / "results.json"
        stage = f"eval-{i}-{bench}"
        if not run.done(stage):
            console.rule(f"θ{i}: evaluate on {bench}")
            from harness.evaluate import evaluate
            from harness.report.results import ModelRef

            ref = ModelRef(id=f"{run.id}/theta{i}" if i else str(opts.model), path=str(_checkpoint(run, i, base_path)),
                           run_id=run.id, iteration=i, method=opts.method, variant=label, base=str(opts.model))
            evaluate(bench, model=_checkpoint(run, i, base_path), out=results_path, model_ref=ref,
                     backend="hf", console=console, **opts.eval_options)
            run.mark_done(stage)
        from harness.report.results import load_results

        metrics[bench] = load_results(results_path).metrics
    return metrics


def _summary_table(summaries: list[IterationSummary], evals: list[str]) -> Table:
    table = Table(title="Self-evolution summary")
    for col in ("θ", "images", "pairs", "DPO steps", "train loss", "time (s)"):
        table.add_column(col, justify="right")
    headline = {}
    for bench in evals:
        keys = sorted({k for s in summaries for k in s.metrics.get(bench, {})})[:4]
        headline[bench] = keys
        for k in keys:
            table.add_column(f"{bench} {k}", justify="right")
    for s in summaries:
        row = [f"θ{s.iteration}", str(s.images or "–"), str(s.pairs or "–"), str(s.steps or "–"),
               f"{s.train_loss:.4f}" if s.train_loss is not None else "–", f"{s.seconds:.1f}" if s.seconds else "–"]
        for bench in evals:
            for k in headline[bench]:
                v = s.metrics.get(bench, {}).get(k)
                row.append(f"{v:.2f}" if isinstance(v, (int, float)) else "–")
        table.add_row(*row)
    return table
