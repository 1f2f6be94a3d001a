"""The self-evolution loop: θ0 → θ1 → … → θN, one resumable stage at a time.

Iteration i: new disjoint images → method.synthesize with θi−1 → reference pass with θi−1 → DPO
training → θi (a full HF checkpoint with its processor) → evaluation of θi. θ0 is evaluated too.
Every stage writes its files atomically, then a marker; rerunning the same command skips finished
stages and redoes an interrupted one from its start (all stages are deterministic in the seed).

A finished run grows: a larger ``--iters`` continues it (the images of the earlier iterations stay,
new disjoint ones are drawn for the new ones, θ1…θN are not touched), and ``--eval`` may name other
benchmarks. Any other change cannot continue a run: the error names each option that differs and
offers a new run directory (``--run-id``). Every option is checked, and the images are drawn, before
the run directory is created, so a start that fails validation leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness import atomic
from harness.backends.base import parse_backend_options
from harness.errors import HarnessError
from harness.faults import maybe_kill
from harness.images import ImageRef, open_source, sample_iterations
from harness.journal import Journal, chunked, merge_counts, recorded
from harness.method import PreferencePair, SynthesisContext, build_config
from harness.options import at_least, check_method_sets, check_train_values
from harness.plugins import registry
from harness.progress import stage_end, stage_start
from harness.runs import Run, RunConfigMismatch, check_continuable
from harness.train.config import TrainConfig, resolve_train_config

PAPER_IMAGES_PER_ITER = 6000
TINY_IMAGES_PER_ITER = 128  # the smallest scale at which the positive control moves CHAIR (docs/proving-ground.md)
CONTINUABLE = ("iterations", "evals")  # config keys a finished run may change (it grows)


@dataclass
class EvolveOptions:
    method: str = ""  # a registered method (required)
    iters: int = 3
    model: str = "tiny"
    images: str | None = None  # folder, LLaVA/COCO json, or "synthetic[:namespace]"; None = synthetic
    image_root: str | None = None
    images_per_iter: int | None = None
    backend: str = "hf"
    gen_batch_size: int = 16
    evals: list[str] | None = None  # None: the registered benchmarks that declare default_eval
    runs_dir: Path = Path("runs")
    run_dir: Path | None = None
    seed: int = 0
    variant: str | None = None
    overrides: list[str] = field(default_factory=list)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    restart: bool = False
    progress: bool = True
    eval_options: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None  # the run directory's name under runs_dir (instead of run_dir)
    gen_dtype: str = "auto"  # generation precision: auto (fp16 on GPU, fp32 on CPU and for tiny), fp16, bf16, fp32
    eval_theta0: bool = True  # False: θ0 is evaluated elsewhere (`harness reproduce` evaluates it once)
    # a run whose θ1 pairs and reference log-probs this run reuses: the same θ0, images and synthesis, only
    # the training objective differs (`harness reproduce` shares them between such rows)
    share_from: Path | None = None
    chunk_images: int = 256  # images per journaled chunk of the synthesis stage (pairs per reference chunk)
    backend_opts: list[str] = field(default_factory=list)  # --backend-opt key=value (engine options, e.g. vllm's)


def default_evals(reg=None) -> list[str]:
    """The benchmarks scored after every iteration when none are named: those that declare
    ``default_eval`` (the built-in default's judge-free yardstick)."""
    reg = reg or registry()
    return sorted(n for n, c in reg.benchmarks.items() if getattr(c, "default_eval", False))


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
    stages_run: int = 0  # stages this invocation ran
    stages_reused: int = 0  # stages finished by an earlier invocation (resume)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def evolve(opts: EvolveOptions, console: Console | None = None) -> list[IterationSummary]:
    console = console or Console()
    _check_options(opts)
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
    from harness.policy.loading import resolve_model_path

    base_path = resolve_model_path(opts.model)
    paper_per_iter = getattr(method_cls, "images_per_iter", None) or PAPER_IMAGES_PER_ITER
    per_iter = opts.images_per_iter or (TINY_IMAGES_PER_ITER if opts.model == "tiny" else paper_per_iter)
    plan = method.image_plan(per_iter)
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
        run_dir = opts.run_dir or opts.runs_dir / _slug(f"{label}-{Path(str(opts.model)).name}-s{opts.seed}")
    run = _open_run(run_dir, config, opts, source, per_iter, console, plan=plan)
    atomic.write_json(run.dir / "config.json", run.manifest.get("config", config))  # the resolved run config
    console.print(
        f"[bold]run[/] {run.dir}  method={label}  model={opts.model}  "
        f"{opts.iters} iterations × {per_iter} images  seed={opts.seed}"
    )

    summaries = [IterationSummary(0)]
    if opts.eval_theta0:
        summaries[0].metrics = _evaluate_stage(run, 0, base_path, opts, console, label)
    for i in range(1, opts.iters + 1):
        summaries.append(_iteration(run, i, base_path, method, source, train_cfg, opts, console, label))
    declared = {
        b: [(c.label, c.metric) for c in getattr(reg.benchmark(b), "columns", ()) if c.headline] for b in opts.evals
    }
    console.print(_summary_table(summaries, opts.evals, declared))
    return summaries


def _check_options(opts: EvolveOptions) -> None:
    """Every option with a range, checked before any loading, sampling or writing."""
    at_least("--iters", opts.iters, 1)
    if opts.images_per_iter is not None:
        at_least("--images-per-iter", opts.images_per_iter, 1)
    at_least("--gen-batch-size", opts.gen_batch_size, 1)
    at_least("--chunk-images", opts.chunk_images, 1)
    at_least("--seed", opts.seed, 0)
    check_train_values(opts.train_overrides)
    if opts.run_id is not None:
        if opts.run_dir is not None:
            raise HarnessError("--run-id and --run-dir both name the run directory; give one of them")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+-]*", opts.run_id):
            raise HarnessError(
                f"--run-id {opts.run_id}: a folder name of letters, digits and ._=+- (no path separators)"
            )


_OPTION_OF = {
    "method": "--method",
    "variant": "--variant/--set",
    "method_config": "--set",
    "objective": "--set/--variant",
    "base_model": "--model",
    "images.source": "--images/--image-root",
    "images.per_iter": "--images-per-iter",
    "images": "--images",
    "seed": "--seed",
    "backend": "--backend",
    "train": "--train",
    "generation": "--gen-dtype",
    "train_recipe": "--train/--method",
}


def _option_name(key: str) -> str:
    """The command-line option behind a run config key (``train.learning_rate`` → ``--train learning_rate``)."""
    top, _, sub = key.partition(".")
    if key in _OPTION_OF:
        return _OPTION_OF[key]
    if sub and top == "train":
        return f"--train {sub}"
    if sub and top == "method_config":
        return f"--set {sub}"
    return _OPTION_OF.get(top, key)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "…"


def _free_run_id(run_dir: Path) -> str:
    n = 2
    while (run_dir.parent / f"{run_dir.name}-{n}").exists():
        n += 1
    return f"{run_dir.name}-{n}"


def _mismatch_message(exc: RunConfigMismatch) -> str:
    diffs = "; ".join(f"{_option_name(k)} ({_short(a)} → {_short(b)})" for k, a, b in exc.differences)
    return (
        f"{exc.run_dir} holds a run with a different config that cannot be continued: {diffs}. "
        f"Start a new run beside it with --run-id {_free_run_id(exc.run_dir)}, or delete this one and start "
        "over with --restart"
    )


def _drawn_iterations(run_dir: Path, old_config: dict[str, Any]) -> int:
    """How many iterations already have their images in ``run_dir`` (0 before the images stage finished)."""
    marker = run_dir / "stages" / "images.done"
    if not marker.is_file():
        return 0
    info = atomic.read_json(marker)
    drawn = info.get("iterations") if isinstance(info, dict) else None
    return int(drawn if drawn is not None else old_config.get("iterations", 0))


def _open_run(
    run_dir: Path, config: dict[str, Any], opts: EvolveOptions, source, per_iter: int, console: Console, plan=None
) -> Run:
    """Open (create, resume or grow) the run and draw the images it still needs.

    The images are drawn before the run directory is created or changed, so a source with too few
    readable images leaves nothing behind. Growing keeps the images of the iterations drawn before and
    checks that the new ones are disjoint from them.
    """
    manifest = None
    if not opts.restart:
        try:
            manifest = check_continuable(run_dir, config, CONTINUABLE)
        except RunConfigMismatch as exc:
            raise HarnessError(_mismatch_message(exc)) from None
    drawn = 0
    if manifest is not None:
        old = manifest.get("config", {})
        config["iterations"] = max(opts.iters, int(old.get("iterations", 0)))
        config["evals"] = list(dict.fromkeys([*old.get("evals", []), *opts.evals]))
        drawn = _drawn_iterations(run_dir, old)
    total = config["iterations"]
    split = None
    if drawn < total:
        split = sample_iterations(source, total, per_iter, opts.seed, plan=plan)
        used: set[str] = set()
        for i in range(1, drawn + 1):
            used.update(str(r["id"]) for r in atomic.read_json(run_dir / f"iter{i}" / "images.json"))
        reused = sorted(used & {r.id for refs in split.iterations[drawn:] for r in refs})
        if reused:
            raise HarnessError(
                f"{run_dir}: the images drawn for θ{drawn + 1}…θ{total} include {len(reused)} used by "
                f"θ1…θ{drawn} (e.g. {reused[0]}; did the image source change?); --iters cannot "
                f"continue this run: start a new one with --run-id {_free_run_id(run_dir)}"
            )
    run = Run.open(run_dir, config, restart=opts.restart, continuable=CONTINUABLE)
    if split is not None:
        for i in range(drawn + 1, total + 1):
            atomic.write_json(run.iter_dir(i) / "images.json", [r.to_dict() for r in split.iterations[i - 1]])
        if split.skipped:
            console.print(
                f"[yellow]skipped {len(split.skipped)} unreadable image(s)[/], e.g. {split.skipped[0][0]}: "
                f"{split.skipped[0][1]}"
            )
        if drawn:
            console.print(f"run grows: θ{drawn + 1}…θ{total} get {per_iter} new images each, disjoint from θ1…θ{drawn}")
        run.mark_done(
            "images", skipped=[list(s) for s in split.skipped], iterations=total, mode=split.mode, quotas=split.quotas
        )
    return run


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

    if i == 1 and opts.share_from is not None:
        _share_first_iteration(run, Path(opts.share_from), train_cfg, console)
    if run.done(f"synthesize-{i}"):
        summary.stages_reused += 1
    else:
        summary.stages_run += 1
        policy = _synthesize_stage(run, i, prev, method, source, refs, opts, console)
    pairs = [PreferencePair.from_dict(d) for d in atomic.read_jsonl(out / "pairs.jsonl")]
    summary.pairs = len(pairs)
    if not pairs:
        _carry_forward(run, i, prev, out, console)
        summary.metrics = _evaluate_stage(run, i, base_path, opts, console, label)
        summary.seconds = round(time.monotonic() - started, 1)
        return summary
    examples = [
        {
            "image_ref": p.image,
            "image_path": p.image_path,
            "prompt": p.prompt,
            "chosen": p.chosen,
            "rejected": p.rejected,
            "kind": p.kind,
        }
        for p in pairs
    ]

    if not train_cfg.live_reference and run.done(f"reference-{i}"):
        summary.stages_reused += 1
    elif not train_cfg.live_reference:
        summary.stages_run += 1
        title = f"θ{i} · reference log-probs of θ{i - 1}"
        t_stage = stage_start(console, f"{title} ({len(examples)} pairs)")
        from harness.policy.templates import get_template
        from harness.train.collator import LlavaPairCollator
        from harness.train.reference import reference_logps

        ref_dtype = reference_dtype(train_cfg)
        jpath = out / "reference.journal.jsonl"
        size = recorded(jpath, "chunk_pairs", opts.chunk_images)
        journal = Journal(
            jpath, {"stage": f"reference-{i}", "chunk_pairs": size, "pairs": len(examples), "dtype": ref_dtype}
        )
        ref_chunks = list(chunked(examples, size))
        collator = None
        for k, chunk in ref_chunks:  # journaled per chunk: a killed pass resumes at its first unfinished chunk
            if journal.done(k):
                continue
            if policy is None or str(policy.dtype) != f"torch.{ref_dtype}":
                policy = None
                _release_accelerator()
                policy = _load(prev, ref_dtype)
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
                on_batch=lambda n: maybe_kill(f"reference-{i}"),
            )
            journal.append(k, {"rows": rows})
            maybe_kill(f"reference-{i}-chunk-{k}")
        refs_lp = [row for rec in journal.records(len(ref_chunks)) for row in rec["rows"]]
        atomic.write_jsonl(out / "ref_logps.jsonl", refs_lp)
        run.mark_done(f"reference-{i}", pairs=len(refs_lp), chunk_pairs=size)
        journal.remove()
        stage_end(console, title, t_stage, f"{len(refs_lp)} pairs scored")
    policy = None
    _release_accelerator()  # training (in this process or accelerate's workers) gets the whole GPU

    if run.done(f"train-{i}"):
        summary.stages_reused += 1
    else:
        summary.stages_run += 1
        title = f"θ{i} · DPO training from θ{i - 1}"
        t_stage = stage_start(console, f"{title} ({len(examples)} pairs)")
        from harness.train.dpo import train_iteration

        rows = examples
        if not train_cfg.live_reference:
            ref_rows = atomic.read_jsonl(out / "ref_logps.jsonl")
            if len(ref_rows) != len(examples):
                raise HarnessError(f"{out / 'ref_logps.jsonl'}: {len(ref_rows)} rows for {len(examples)} pairs")
            rows = [
                dict(e, ref_chosen_logps=r["chosen_logps"], ref_rejected_logps=r["rejected_logps"])
                for e, r in zip(examples, ref_rows)
            ]
        if train_cfg.launcher == "accelerate":
            from harness.train.launch import launch, write_job

            job = write_job(
                out / "train_job.json",
                policy_path=prev,
                out_dir=out / "checkpoint",
                rows=rows,
                objective=method.objective(),
                cfg=train_cfg,
                source=source.describe(),
            )
            launch(job, train_cfg.accelerate_config, num_processes=_local_gpus() or None)
            info = atomic.read_json(job.with_suffix(".result.json"))
        else:
            info = train_iteration(
                prev,
                out / "checkpoint",
                rows,
                objective=method.objective(),
                cfg=train_cfg,
                open_image=open_image,
                on_step=lambda step: maybe_kill(f"train-{i}"),
            )
        atomic.write_json(out / "train.json", info)
        run.mark_done(f"train-{i}", steps=info["steps"], train_loss=info["train_loss"])
        loss = f", loss {info['train_loss']:.4f}" if isinstance(info.get("train_loss"), (int, float)) else ""
        stage_end(console, title, t_stage, f"{info['steps']} optimiser steps{loss}")
    info = run.stage_info(f"train-{i}")
    summary.steps, summary.train_loss = info.get("steps", 0), info.get("train_loss")
    summary.metrics = _evaluate_stage(run, i, base_path, opts, console, label)
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


class _CountingBackend:
    """Forwards to the real backend and counts the requests it is given (recorded per chunk)."""

    def __init__(self, backend):
        self.backend = backend
        self.requests = 0

    def generate(self, requests, *, desc: str = "generating") -> list[str]:
        self.requests += len(requests)
        return self.backend.generate(requests, desc=desc)

    def __getattr__(self, name: str):
        return getattr(self.backend, name)


def _open_chunk(source, refs: list[ImageRef]) -> tuple[dict[str, Any], list[list[str]]]:
    """Open (decode) one chunk's images: {id: image}, and [id, error] for each one that vanished or is
    corrupt (skipped and counted; the stage goes on)."""
    opened: dict[str, Any] = {}
    skipped: list[list[str]] = []
    for ref in refs:
        try:
            opened[ref.id] = source.open(ref)
        except (OSError, ValueError, HarnessError) as exc:  # PIL's errors are OSError/ValueError subclasses
            skipped.append([ref.id, f"{type(exc).__name__}: {exc}"[:200]])
    return opened, skipped


def _chunk_opener(opened: dict[str, Any], source):
    """ctx.open_image for one chunk: its already decoded images; any other ref is opened from the source."""

    def open_image(ref):
        image = opened.get(ref.id)
        return image if image is not None else source.open(ref)

    return open_image


def _synthesize_stage(
    run: Run, i: int, prev: Path, method, source, refs: list[ImageRef], opts: EvolveOptions, console: Console
):
    """Synthesis, streamed: chunks of ``chunk_images`` images, each opened, generated and appended to the
    journal (``synthesize.journal.jsonl``) before the next is opened; a rerun skips the journaled chunks.
    pairs.jsonl is then written from the journal, atomically. Returns the policy when it can be reused."""
    out = run.iter_dir(i)
    jpath = out / "synthesize.journal.jsonl"
    size = recorded(jpath, "chunk_images", opts.chunk_images)  # a resumed stage keeps its chunking
    journal = Journal(
        jpath,
        {
            "stage": f"synthesize-{i}",
            "chunk_images": size,
            "images": len(refs),
            "first": refs[0].id if refs else None,
            "last": refs[-1].id if refs else None,
        },
    )
    chunks = list(chunked(refs, size))
    todo = [k for k, _ in chunks if not journal.done(k)]
    title = f"θ{i} · synthesize pairs with θ{i - 1}"
    resumed = f", resuming at chunk {todo[0] + 1} of {len(chunks)}" if todo and len(todo) < len(chunks) else ""
    t_stage = stage_start(console, f"{title} ({len(refs)} images{resumed})")
    policy = backend = None
    t0 = time.monotonic()
    requests_now = 0
    if todo:
        policy, backend = _generation_backend(prev, opts)
        counted = _CountingBackend(backend)
        for k, chunk in chunks:
            if journal.done(k):
                continue
            opened, skipped = _open_chunk(source, list(chunk))
            ctx = SynthesisContext(
                seed=opts.seed * 1000 + i,
                iteration=i,
                checkpoint=str(prev),
                open_image=_chunk_opener(opened, source),
                progress=opts.progress,
                base_model=str(opts.model),
            )
            before = counted.requests
            readable = [r for r in chunk if r.id in opened]
            pset = method.synthesize(counted, readable, ctx) if readable else None
            record = {
                "pairs": [p.to_dict() for p in pset.pairs] if pset else [],
                "counts": pset.counts if pset else {},
                "stats": pset.stats if pset else {},
                "images": len(chunk),
                "skipped": skipped,
                "requests": counted.requests - before,
            }
            del opened, ctx, pset, readable  # this chunk's images go before the next chunk's are opened
            gc.collect()
            journal.append(k, record)
            maybe_kill(f"synthesize-{i}-chunk-{k}")
        requests_now = counted.requests
    maybe_kill(f"synthesize-{i}")
    if backend is not None:
        backend.close()  # engines and data-parallel workers give their GPUs back
        backend = None
        if opts.backend != "hf":
            policy = None
        _release_accelerator()
    records = journal.records(len(chunks))
    pairs = [p for rec in records for p in rec["pairs"]]
    skipped = [s for rec in records for s in rec.get("skipped", [])]
    counts = merge_counts([rec["counts"] for rec in records])
    if skipped:
        counts = {"images.unreadable_at_synthesis": len(skipped), **counts}
        console.print(
            f"[yellow]skipped {len(skipped)} image(s) that vanished or are unreadable[/], "
            f"e.g. {skipped[0][0]}: {skipped[0][1]}"
        )
    stats = records[0]["stats"] if len(records) == 1 else {"chunks": [rec["stats"] for rec in records]}
    atomic.write_jsonl(out / "pairs.jsonl", pairs)
    atomic.write_json(
        out / "stats.json",
        {
            "pairs": len(pairs),
            "images": len(refs),
            "counts": counts,
            "stats": stats,
            "skipped_images": skipped,
            "chunk_images": size,
            "chunks": len(chunks),
            "chunks_resumed": len(chunks) - len(todo),
            "requests_by_chunk": [rec["requests"] for rec in records],
            "requests_this_invocation": requests_now,
            "wall_s": round(time.monotonic() - t0, 3),
        },
    )
    run.mark_done(
        f"synthesize-{i}", pairs=len(pairs), chunk_images=size, chunks=len(chunks), skipped_images=len(skipped)
    )
    journal.remove()
    stage_end(console, title, t_stage, f"{len(refs)} images → {len(pairs)} pairs")
    maybe_kill(f"synthesized-{i}")  # the stage is finished (perf/streaming_memory.py measures up to here)
    return policy if opts.backend == "hf" else None


def _generation_backend(prev: Path, opts: EvolveOptions):
    """(policy, backend) for θi−1. The backend class loads the policy: an engine that loads its own weights
    (vLLM) keeps the policy's off the GPU, so the GPU is the engine's while it generates."""
    from harness.plugins import registry

    cls = registry().backend(opts.backend)
    options = parse_backend_options(opts.backend, getattr(cls, "options", {}), opts.backend_opts)
    if opts.backend == "hf":
        options.setdefault("batch_size", opts.gen_batch_size)
    dtype = generation_precision(opts.model, opts.gen_dtype)[1]
    policy = cls.load_policy(prev, dtype) if hasattr(cls, "load_policy") else _load(prev, dtype)
    return policy, cls(policy, **options)


def _release_accelerator() -> None:
    """Give the GPU memory of dropped models back before the next stage loads its own."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _share_first_iteration(run: Run, donor: Path, train_cfg: TrainConfig, console: Console) -> None:
    """Copy θ1's pairs (and reference log-probs) from ``donor``, a run of the same θ0, images and synthesis.

    Only finished stages are copied, only when both runs drew the same θ1 images; ``stats.json`` and the
    stage marker say where they came from. Training, which differs, is never shared.
    """
    out, theirs = run.iter_dir(1), donor / "iter1"
    if not (donor / "stages" / "synthesize-1.done").is_file() or run.done("synthesize-1"):
        return
    if atomic.read_json(theirs / "images.json") != atomic.read_json(out / "images.json"):
        console.print(f"[yellow]not sharing θ1's pairs with {donor}: its θ1 images differ[/]")
        return
    stats = atomic.read_json(theirs / "stats.json")
    atomic.write_jsonl(out / "pairs.jsonl", atomic.read_jsonl(theirs / "pairs.jsonl"))
    atomic.write_json(out / "stats.json", dict(stats, shared_from=str(donor)))
    run.mark_done("synthesize-1", pairs=stats.get("pairs"), shared_from=str(donor))
    if not train_cfg.live_reference and (donor / "stages" / "reference-1.done").is_file():
        rows = atomic.read_jsonl(theirs / "ref_logps.jsonl")
        atomic.write_jsonl(out / "ref_logps.jsonl", rows)
        run.mark_done("reference-1", pairs=len(rows), shared_from=str(donor))
    console.print(f"θ1 · pairs{'' if train_cfg.live_reference else ' and reference log-probs'} shared from {donor}")


def _local_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no CUDA runtime
        return 0


def scale_training(
    model: str,
    base_path: Path,
    cfg: TrainConfig,
    record: dict,
    user: dict,
    gpus: int | None = None,
    gpu_memory_gib: float | None = None,
) -> tuple[TrainConfig, dict]:
    """Training at scale by default: a non-tiny model on a machine with GPUs trains in accelerate workers on
    every local GPU with ZeRO-3 (``zero3_offload`` when the ZeRO-3 model states would take over 60 % of a
    GPU); CPU and the tiny model keep the single inline process. A ``--train launcher=...`` wins."""
    if "launcher" in user or cfg.launcher != "inline" or model == "tiny":
        return cfg, record
    if gpus is None:
        gpus = _local_gpus()
    if not gpus:
        return cfg, record
    from harness.plan import model_shape, training_launcher

    if gpu_memory_gib is None:
        import torch

        gpu_memory_gib = torch.cuda.get_device_properties(0).total_memory / 1024**3
    shape = model_shape(base_path, lora_r=cfg.lora_r if cfg.lora else None)
    trainable = (
        (shape.lora_params + (shape.projector if cfg.lora_train_projector else 0))
        if cfg.lora
        else shape.language + shape.projector + (0 if cfg.freeze_vision_tower else shape.vision)
    )
    choice = training_launcher(model, cfg, gpus, gpu_memory_gib, shape.params, trainable)
    config_name = "zero3_offload" if "offload" in choice else "zero3"
    scaled = cfg.with_overrides({"launcher": "accelerate", "accelerate_config": config_name})
    record = dict(
        record,
        scaled={
            "launcher": "accelerate",
            "accelerate_config": config_name,
            "gpus": gpus,
            "why": f"{model}: {shape.params / 1e9:.1f}B parameters, {gpus} GPU(s) of {gpu_memory_gib:.0f} GiB",
        },
    )
    return scaled, record


def _carry_forward(run: Run, i: int, prev: Path, out: Path, console: Console) -> None:
    """No pairs survived the filters: nothing to learn, so θi = θi−1 (copied, and recorded as such)."""
    import shutil

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


def _load(path: Path, dtype: str | None = None):
    from harness.policy.loading import load_policy

    return load_policy(path, dtype=dtype)


def generation_precision(model: str, requested: str = "auto") -> tuple[str, str]:
    """(device, dtype) θi generates with: ``auto`` is fp16 on GPU (as the official generation scripts load
    LLaVA-1.5), fp32 on CPU and for the built-in tiny model; ``fp16``/``bf16``/``fp32`` as asked."""
    from harness.policy.loading import DTYPES, pick_device_dtype

    if requested != "auto" and requested not in DTYPES:
        raise HarnessError(f"--gen-dtype {requested}: accepted: auto, fp16, bf16, fp32")
    device, _ = pick_device_dtype()
    if requested == "auto" and model == "tiny":
        requested = "float32"
    return pick_device_dtype(device, requested)


def reference_dtype(cfg: TrainConfig) -> str:
    """The precision of the reference pass: the one training computes in (bf16 on GPU unless bf16=false)."""
    from harness.policy.loading import pick_device_dtype

    device, _ = pick_device_dtype()
    bf16 = cfg.bf16 if cfg.bf16 is not None else device.startswith("cuda")
    return "bfloat16" if bf16 and device.startswith("cuda") else "float32"


def _evaluate_stage(
    run: Run, i: int, base_path: Path, opts: EvolveOptions, console: Console, label: str
) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {}
    for bench in opts.evals:
        results_path = run.iter_dir(i) / "eval" / bench / "results.json"
        stage = f"eval-{i}-{bench}"
        if not run.done(stage):
            title = f"θ{i} · evaluate on {bench}"
            t_stage = stage_start(console, title)
            from harness.evaluate import evaluate
            from harness.report.results import ModelRef

            ref = ModelRef(
                id=f"{run.id}/theta{i}" if i else str(opts.model),
                path=str(_checkpoint(run, i, base_path)),
                run_id=run.id,
                iteration=i,
                method=opts.method,
                variant=label,
                base=str(opts.model),
            )
            evaluate(
                bench,
                model=_checkpoint(run, i, base_path),
                out=results_path,
                model_ref=ref,
                backend="hf",
                console=console,
                **opts.eval_options,
            )
            run.mark_done(stage)
            stage_end(console, title, t_stage, str(results_path))
        from harness.report.results import load_results

        metrics[bench] = load_results(results_path).metrics
    return metrics


def _time_cell(s: IterationSummary) -> str:
    """Seconds this invocation spent; a stage finished by an earlier invocation is said to be reused."""
    if s.iteration == 0:
        return "–"
    if s.stages_run == 0 and s.stages_reused:
        return "resumed (done earlier)"
    text = f"{s.seconds:.1f}"
    return text + (" (resumed)" if s.stages_reused else "")


def _summary_table(
    summaries: list[IterationSummary], evals: list[str], columns: dict[str, list[tuple[str, str]]] | None = None
) -> Table:
    """``columns``: per benchmark, the (label, metric) pairs its plugin declares as headline."""
    table = Table(title="Self-evolution summary")
    for col in ("θ", "images", "pairs", "DPO steps", "train loss", "time (s)"):
        table.add_column(col, justify="right")
    headline = {}
    for bench in evals:
        declared = (columns or {}).get(bench)
        keys = declared or [
            (f"{bench} {k}", k) for k in sorted({k for s in summaries for k in s.metrics.get(bench, {})})[:4]
        ]
        headline[bench] = [k for _, k in keys]
        for label, _ in keys:
            table.add_column(label, justify="right")
    for s in summaries:
        row = [
            f"θ{s.iteration}",
            str(s.images or "–"),
            str(s.pairs or "–"),
            str(s.steps or "–"),
            f"{s.train_loss:.4f}" if s.train_loss is not None else "–",
            _time_cell(s),
        ]
        for bench in evals:
            for k in headline[bench]:
                v = s.metrics.get(bench, {}).get(k)
                row.append(f"{v:.2f}" if isinstance(v, (int, float)) else "–")
        table.add_row(*row)
    return table
