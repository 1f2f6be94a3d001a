"""The ``harness`` command line (Typer). Thin: parse, call the engine, print with rich."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand

from harness.errors import HarnessError

app = typer.Typer(
    name="harness",
    help="Run and compare self-evolution alignment methods for LLaVA-family models, "
    "and score every iteration with the benchmarks' official scorers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Download benchmark data from its official sources, or check what is present.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


@app.callback()
def _startup() -> None:
    """Before any command: no library progress bars (ours say what is loading and saving)."""
    from harness.progress import quiet_libraries

    quiet_libraries()


def _console() -> Console:
    """Rich on a terminal; in a log file (nohup, SLURM, CI) wide enough that no table is cut at 80 columns."""
    from harness.progress import make_console

    return make_console()


def user_errors(fn):
    """Print a HarnessError as one red line and exit 2 (or the error's ``exit_code``: 1 for an incomplete
    result), without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HarnessError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=getattr(exc, "exit_code", 2)) from None

    return wrapper


def _options_table(title: str, options: list, flag: str) -> Table:
    with_help = any(o.help for o in options)
    table = Table(f"{flag} key", "type", "default", *(["help"] if with_help else []), title=title, title_justify="left")
    for o in options:
        table.add_row(o.name, o.type, o.default, *([o.help] if with_help else []))
    return table


@app.command("methods")
@user_errors
def methods_cmd(
    name: Optional[str] = typer.Argument(None, help="Show one method's options, variants and training recipe."),
) -> None:
    """List the registered self-evolution methods, with their options and variants."""
    from harness.plugin_info import method_options, method_recipe, method_variants
    from harness.plugins import registry

    reg = registry()
    console = _console()
    if name is not None:
        cls = reg.method(name)
        console.print(f"[bold]{name}[/bold]: {getattr(cls, 'description', '')}  ({cls.__module__})", highlight=False)
        console.print(_options_table("Options (harness evolve --set key=value)", method_options(cls), "--set"))
        variants = Table("variant", "overrides", title="Variants (harness evolve --variant NAME)", title_justify="left")
        for vname, over in sorted(method_variants(cls).items()):
            variants.add_row(vname, ", ".join(f"{k}={v}" for k, v in over.items()) or "(the defaults)")
        console.print(variants if method_variants(cls) else "No variants.")
        recipe = method_recipe(cls)
        console.print(
            "Training recipe (harness evolve --train key=value overrides it): "
            + (", ".join(f"{k}={v}" for k, v in recipe.items()) or "the trainer's defaults"),
            highlight=False,
        )
        return
    papers = Table("method", "description", "variants", "options", title="Registered methods")
    controls = Table("method", "description", "variants", "options", title="Validation controls (not a paper's method)")
    for mname, cls in sorted(reg.methods.items()):
        target = controls if getattr(cls, "validation_only", False) else papers
        target.add_row(
            mname,
            getattr(cls, "description", ""),
            ", ".join(sorted(method_variants(cls))) or "–",
            str(len(method_options(cls))),
        )
    if not reg.methods:
        console.print("No methods registered.")
        return
    console.print(papers)
    if controls.row_count:
        console.print(controls)
    console.print("`harness methods NAME` shows a method's --set options, variants and training recipe.")


@app.command("benchmarks")
@user_errors
def benchmarks_cmd(
    name: Optional[str] = typer.Argument(None, help="Show one benchmark's options and leaderboard columns."),
) -> None:
    """List the registered benchmarks, with their options."""
    from harness.plugin_info import benchmark_options
    from harness.plugins import registry

    reg = registry()
    console = _console()
    if name is not None:
        cls = reg.benchmark(name)
        console.print(
            f"[bold]{name}[/bold]: {getattr(cls, 'description', '')}  ({cls.__module__}); judge: "
            f"{'yes' if getattr(cls, 'needs_judge', False) else 'no'}",
            highlight=False,
        )
        console.print(_options_table("Options (harness eval --set key=value)", benchmark_options(cls), "--set"))
        cols = Table("column", "metric", "direction", "plotted", title="Leaderboard columns", title_justify="left")
        for c in getattr(cls, "columns", ()):
            cols.add_row(
                c.label,
                c.metric,
                "lower is better" if c.lower_is_better else "higher is better",
                "yes" if c.headline else "no",
            )
        console.print(cols)
        return
    table = Table("benchmark", "judge", "description", "options", title="Registered benchmarks")
    for bname, cls in sorted(reg.benchmarks.items()):
        table.add_row(
            bname,
            "yes" if getattr(cls, "needs_judge", False) else "no",
            getattr(cls, "description", ""),
            ", ".join(o.name for o in benchmark_options(cls)) or "–",
        )
    console.print(table if reg.benchmarks else "No benchmarks registered.")


def _parse_train_sets(items: list[str]) -> dict:
    """--train key=value pairs, typed from TrainConfig's fields and range-checked (harness/options.py)."""
    from harness.options import parse_train_sets

    return parse_train_sets(items)


def _parse_evals(eval_benches: list[str] | None) -> list[str] | None:
    """``--eval`` values: repeated or comma-separated names; ``none``: no evaluation; None: the defaults."""
    if eval_benches is None:
        return None
    evals = [b.strip() for e in eval_benches for b in e.split(",") if b.strip()]
    return [] if evals == ["none"] else evals


@app.command("evolve")
@user_errors
def evolve_cmd(
    method: str = typer.Option(..., "--method", "-m", help="Registered method (see `harness methods`)."),
    iters: int = typer.Option(3, "--iters", "-n", help="Number of iterations θ0 → θN."),
    model: str = typer.Option("tiny", help="θ0: a llava-hf checkpoint folder, or `tiny` (built-in, offline)."),
    images: Optional[str] = typer.Option(
        None,
        help="Unlabeled images: a folder, a LLaVA-665k or COCO .json (with --image-root), or `synthetic` (default).",
    ),
    image_root: Optional[str] = typer.Option(None, help="Folder the image paths of a .json source are relative to."),
    images_per_iter: Optional[int] = typer.Option(
        None, help="Images per iteration (default: 6000 as the paper; 128 with the tiny model)."
    ),
    backend: str = typer.Option(
        "hf",
        help="Generation backend: hf (transformers), vllm or vllm_embeds (GPU extra; vllm_embeds feeds noised images as embeddings of the exact noised tensor).",
    ),
    gen_batch_size: int = typer.Option(16, help="Batch size of the hf backend."),
    gen_dtype: str = typer.Option(
        "auto",
        help="Generation precision: auto (fp16 on GPU as the official scripts, "
        "fp32 on CPU and for the tiny model), fp16, bf16 or fp32; recorded in the run.",
    ),
    backend_opts: list[str] = typer.Option(
        [],
        "--backend-opt",
        help="Engine option key=value of the backend "
        "(repeatable), e.g. gpu_memory_utilization=0.7, data_parallel_size=8.",
    ),
    chunk_images: int = typer.Option(
        256,
        help="Images per journaled chunk of the synthesis stage (and pairs per "
        "chunk of the reference pass): a killed stage resumes at its first "
        "unfinished chunk; host memory is bounded by one chunk.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the run's plan (`harness plan`) and do nothing."),
    eval_benches: Optional[list[str]] = typer.Option(
        None,
        "--eval",
        help="Benchmark(s) to score each θi on; "
        "repeat the option or separate with commas; `none` to skip "
        "(default: the benchmarks that declare themselves the "
        "default, see `harness benchmarks`).",
    ),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding run directories."),
    run_dir: Optional[Path] = typer.Option(None, help="This run's directory (default: derived from the options)."),
    run_id: Optional[str] = typer.Option(
        None, help="Name of this run's directory under --runs-dir (a new run beside one with another config)."
    ),
    seed: int = typer.Option(0, help="Seed of image sampling, prompt choice and noise."),
    variant: Optional[str] = typer.Option(None, help="A named variant of the method (e.g. a paper's ablation rows)."),
    sets: list[str] = typer.Option([], "--set", help="Method option key=value (repeatable), e.g. se=false."),
    train_sets: list[str] = typer.Option(
        [], "--train", help="Training option key=value (repeatable), e.g. lora=true, learning_rate=1e-6."
    ),
    restart: bool = typer.Option(False, help="Delete an existing run directory with another config and start over."),
) -> None:
    """Self-evolve a policy: θ0 → θ1 → … on unlabeled images (synthesize pairs, reference pass, DPO).

    Rerunning the same command resumes from the last finished stage; a larger --iters continues a finished
    run (the earlier iterations stay as they are).
    """
    from harness.evolve import EvolveOptions, evolve

    evals = _parse_evals(eval_benches)
    opts = EvolveOptions(
        method=method,
        iters=iters,
        model=model,
        images=images,
        image_root=image_root,
        images_per_iter=images_per_iter,
        backend=backend,
        gen_batch_size=gen_batch_size,
        evals=evals,
        runs_dir=runs_dir,
        run_dir=run_dir,
        seed=seed,
        variant=variant,
        overrides=list(sets),
        train_overrides=_parse_train_sets(train_sets),
        restart=restart,
        run_id=run_id,
        gen_dtype=gen_dtype,
        backend_opts=list(backend_opts),
        chunk_images=chunk_images,
    )
    if dry_run:
        from harness.plan import plan_evolve, print_plan

        print_plan(plan_evolve(opts), _console())
        return
    evolve(opts, _console())


def _parse_bench_sets(bench: str, items: list[str]) -> dict:
    """``harness eval --set key=value`` pairs, typed from the benchmark class's keyword arguments."""
    import inspect

    from harness.method import _coerce
    from harness.plugins import registry

    if not items:
        return {}

    def settable_type(p: inspect.Parameter) -> str | None:
        """bool/int/float/str/Path for an option the command line can set, else None."""
        if isinstance(p.default, (str, int, float, bool)):
            return type(p.default).__name__
        names = [t.strip() for t in str(p.annotation).replace("'", "").split("|") if t.strip() != "None"]
        return names[0] if len(names) == 1 and names[0] in ("bool", "int", "float", "str", "Path") else None

    cls = registry().benchmark(bench)
    params = {
        name: t
        for name, p in inspect.signature(cls).parameters.items()
        if name not in ("self", "judge_model", "judge_runs")
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and (t := settable_type(p)) is not None
    }
    out = {}
    for item in items:
        if "=" not in item:
            raise HarnessError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        if key not in params:
            raise HarnessError(
                f"--set {key}: benchmark {bench!r} has no such option; accepted: {', '.join(sorted(params)) or 'none'}"
            )
        out[key] = Path(raw) if params[key] == "Path" else _coerce(params[key], raw, key)
    return out


@app.command("plan")
@user_errors
def plan_cmd(
    method: str = typer.Option(..., "--method", "-m", help="Registered method (see `harness methods`)."),
    iters: int = typer.Option(3, "--iters", "-n", help="Number of iterations θ0 → θN."),
    model: str = typer.Option("tiny", help="θ0: a llava-hf checkpoint folder, or `tiny`."),
    images_per_iter: Optional[int] = typer.Option(None, help="Images per iteration (as `harness evolve`)."),
    variant: Optional[str] = typer.Option(None, help="A named variant of the method."),
    sets: list[str] = typer.Option([], "--set", help="Method option key=value (repeatable)."),
    train_sets: list[str] = typer.Option([], "--train", help="Training option key=value (repeatable)."),
    eval_benches: Optional[list[str]] = typer.Option(
        None, "--eval", help="Benchmark(s) each θi is scored on; `none` to skip."
    ),
    gpus: Optional[int] = typer.Option(None, help="GPUs to plan for (default: the ones this machine has)."),
    gpu_memory: Optional[float] = typer.Option(None, help="GiB per GPU to plan for (default: this machine's)."),
) -> None:
    """The plan of an evolve run: generations and tokens per stage, training steps and memory per GPU under
    each ZeRO stage, judge calls and cost; wall-time estimates from throughputs recorded in perf/README.md."""
    from harness.evolve import EvolveOptions
    from harness.options import at_least
    from harness.plan import plan_evolve, print_plan

    if gpus is not None:
        at_least("--gpus", gpus, 0)
    if gpu_memory is not None and not gpu_memory > 0:
        raise HarnessError(f"--gpu-memory: must be a number > 0, got {gpu_memory}")
    evals = None if eval_benches is None else [b.strip() for e in eval_benches for b in e.split(",") if b.strip()]
    evals = [] if evals == ["none"] else evals
    opts = EvolveOptions(
        method=method,
        iters=iters,
        model=model,
        images_per_iter=images_per_iter,
        variant=variant,
        overrides=list(sets),
        train_overrides=_parse_train_sets(train_sets),
        evals=evals,
    )
    print_plan(plan_evolve(opts, gpus=gpus, gpu_memory_gib=gpu_memory), _console())


@app.command("reproduce")
@user_errors
def reproduce_cmd(
    table: str = typer.Argument(..., help="A published table a method plugin declares (an unknown name lists them)."),
    model: str = typer.Option("tiny", help="θ0: a llava-hf checkpoint folder, or `tiny` (built-in, offline)."),
    images: Optional[str] = typer.Option(None, help="Unlabeled images, as for `harness evolve`."),
    image_root: Optional[str] = typer.Option(None, help="Folder the image paths of a .json source are relative to."),
    images_per_iter: Optional[int] = typer.Option(
        None, help="Images per iteration (default: the paper's; 128 with the tiny model)."
    ),
    backend: str = typer.Option("hf", help="Generation backend (see `harness evolve --help`)."),
    gen_batch_size: int = typer.Option(16, help="Batch size of the hf backend."),
    gen_dtype: str = typer.Option("auto", help="Generation precision: auto, fp16, bf16 or fp32."),
    eval_benches: Optional[list[str]] = typer.Option(
        None,
        "--eval",
        help="Benchmark(s) to score (repeatable; default: the table's; with the tiny model evolve's default).",
    ),
    out: Optional[Path] = typer.Option(
        None,
        help="Folder of the table's runs, table.md and table.json (default: runs/reproduce-<table>-<model>-s<seed>).",
    ),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding run directories."),
    seed: int = typer.Option(0, help="Seed of image sampling, prompt choice and noise (the same for every row)."),
    sets: list[str] = typer.Option([], "--set", help="Method option key=value added to every row (repeatable)."),
    train_sets: list[str] = typer.Option([], "--train", help="Training option key=value (repeatable)."),
    judge_model: Optional[str] = typer.Option(None, help="Judge model (default: the benchmarks' protocol judge)."),
    judge_base_url: Optional[str] = typer.Option(
        None, help="OpenAI-compatible judge server; the key is read from OPENAI_API_KEY."
    ),
    judge_runs: int = typer.Option(3, help="Judge runs per item."),
    judge_concurrency: int = typer.Option(16, help="Concurrent judge requests."),
    no_judge_cache: bool = typer.Option(False, help="Bypass the judge cache."),
    max_cost: Optional[float] = typer.Option(None, help="Stop before a benchmark's judge spend passes this many USD."),
    dry_run: bool = typer.Option(
        False, help="List the runs, generations, judge calls and estimated judge cost; run nothing."
    ),
) -> None:
    """Re-run a paper's table (e.g. an ablation grid) and print ours beside the published numbers.

    Every row is an evolve run (resumable: rerun the same command to continue); θ0 is evaluated once.
    """
    from harness.reproduce import ReproduceOptions, reproduce
    from harness.reproduce import dry_run as plan_only

    eval_options = {
        "judge_model": judge_model,
        "judge_base_url": judge_base_url,
        "judge_runs": judge_runs,
        "judge_concurrency": judge_concurrency,
        "use_cache": not no_judge_cache,
        "max_cost": max_cost,
    }
    evals = _parse_evals(eval_benches)
    opts = ReproduceOptions(
        table=table,
        model=model,
        images=images,
        image_root=image_root,
        images_per_iter=images_per_iter,
        backend=backend,
        gen_batch_size=gen_batch_size,
        gen_dtype=gen_dtype,
        evals=evals,
        out=out,
        runs_dir=runs_dir,
        seed=seed,
        overrides=list(sets),
        train_overrides=_parse_train_sets(train_sets),
        eval_options=eval_options,
    )
    if dry_run:
        plan_only(opts, _console())
    else:
        reproduce(opts, _console())


def _declared_option_values() -> str | None:
    """The option values each registered benchmark declares (``option_help``), read when help is shown."""
    try:
        from harness.plugins import registry

        benches = registry().benchmarks
    except Exception:  # help must show even when a plugin is broken
        return None
    lines = [
        f"{name}: --set {key}= {text}"
        for name, cls in sorted(benches.items())
        for key, text in (getattr(cls, "option_help", None) or {}).items()
    ]
    return "Benchmark options: " + " · ".join(lines) if lines else None


class _EvalCommand(TyperCommand):
    """``harness eval --help`` ends with the option values the benchmarks declare (looked up at help time)."""

    def format_help(self, ctx, formatter):  # noqa: ANN001 - click's signature
        self.epilog = _declared_option_values()
        return super().format_help(ctx, formatter)


@app.command("eval", cls=_EvalCommand)
@user_errors
def eval_cmd(
    bench: str = typer.Option(..., "--bench", "-b", help="Registered benchmark (see `harness benchmarks`)."),
    model: Optional[str] = typer.Option(
        None,
        help="A checkpoint folder, `tiny`, or RUN_ID:ITER. Default: every θi "
        "of the stored runs without a result for this benchmark, then θ0.",
    ),
    data_dir: Optional[Path] = typer.Option(None, help="The benchmark's data (default: data/<bench>)."),
    predictions: Optional[Path] = typer.Option(
        None, help="Score this predictions file (official format); no generation."
    ),
    judge_model: str = typer.Option(
        "gpt-4-1106-preview", help="Judge model (default: the papers' gpt-4-1106-preview)."
    ),
    judge_base_url: Optional[str] = typer.Option(
        None,
        help="OpenAI-compatible server (default: OPENAI_BASE_URL "
        "or api.openai.com); the key is read from OPENAI_API_KEY.",
    ),
    judge_runs: int = typer.Option(3, help="Judge runs per item (the paper averages 3)."),
    judge_concurrency: int = typer.Option(16, help="Concurrent judge requests."),
    no_judge_cache: bool = typer.Option(False, help="Bypass the judge cache."),
    dry_run: bool = typer.Option(False, help="Print the number of judge calls and the estimated cost; call nothing."),
    max_cost: Optional[float] = typer.Option(None, help="Stop before the judge spend passes this many USD."),
    out: Optional[Path] = typer.Option(None, help="Results file (default: next to the run, or results/<model>/)."),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding run directories."),
    backend: str = typer.Option("hf", help="Generation backend."),
    batch_size: int = typer.Option(16, help="Generation batch size (hf backend)."),
    chunk_items: int = typer.Option(
        256,
        help="Items per journaled chunk of generation: a killed run's rerun generates only "
        "the chunks it had not finished.",
    ),
    limit: Optional[int] = typer.Option(
        None,
        help="Only the first N items (smoke tests; stored apart as "
        "results.limit<N>.json, never as the benchmark's result).",
    ),
    rescore: bool = typer.Option(
        False,
        help="Score again although the same model, protocol and items were "
        "scored (predictions are reused; only a complete score replaces the result).",
    ),
    sets: list[str] = typer.Option(
        [],
        "--set",
        help="Benchmark option key=value (repeatable), e.g. "
        "evaluation_type=g; an unknown key lists the benchmark's options; the values "
        "benchmarks declare are listed below, and by `harness benchmarks NAME`.",
    ),
) -> None:
    """Score a model (or every θi of the stored runs) on a benchmark.

    Exit code 1 when judgements are missing (the judge never answered): nothing becomes a result, the
    partial state goes to results.partial.json, and rerunning the same command asks only for those.
    """
    from harness.evaluate import IncompleteResultError, evaluate, pending_models, resolve_model, results_path

    bench_options = _parse_bench_sets(bench, list(sets))
    data = data_dir or Path("data") / bench
    common = dict(
        data_dir=data,
        judge_model=judge_model,
        judge_base_url=judge_base_url,
        judge_runs=judge_runs,
        judge_concurrency=judge_concurrency,
        use_cache=not no_judge_cache,
        max_cost=max_cost,
        dry_run=dry_run,
        backend=backend,
        batch_size=batch_size,
        chunk_items=chunk_items,
        limit=limit,
        console=_console(),
        rescore=rescore,
        runs_dir=runs_dir,
        results_dir=Path("results"),
        bench_options=bench_options or None,
    )
    if predictions is not None or model is not None:
        ref = resolve_model(model, runs_dir) if model is not None else None  # None: keyed by the file's content
        evaluate(
            bench,
            model=(ref.path or model) if ref is not None and predictions is None else None,
            predictions=predictions,
            out=out,
            model_ref=ref,
            **common,
        )
        return
    refs = pending_models(runs_dir, bench)
    if not refs:
        _console().print(f"Nothing to evaluate: every model in {runs_dir} has a {bench} result.")
        return
    incomplete: list[str] = []
    for ref in refs:  # one model's missing judgements do not stop the others; the exit code says so at the end
        try:
            evaluate(
                bench,
                model=ref.path,
                predictions=None,
                out=results_path(ref, bench, runs_dir, Path("results")),
                model_ref=ref,
                **common,
            )
        except IncompleteResultError as exc:
            Console(stderr=True).print(f"[bold red]incomplete:[/] {exc}", highlight=False, soft_wrap=True)
            incomplete.append(ref.id)
    if incomplete:
        raise IncompleteResultError(
            f"{bench}: {len(incomplete)} of {len(refs)} model(s) have missing judgements "
            f"({', '.join(incomplete)}); rerun the same command to complete them"
        )


@app.command("leaderboard")
@user_errors
def leaderboard_cmd(
    runs: Optional[list[Path]] = typer.Option(
        None, "--runs", help="Folders to scan for results (repeatable; default: runs/ and results/ where they exist)."
    ),
    out: Path = typer.Option(Path("leaderboard.md"), help="The markdown file to write (plots go next to it)."),
    force: bool = typer.Option(False, help="Overwrite an existing leaderboard even when no result is found."),
    strict: bool = typer.Option(False, help="Fail, writing nothing, when any results file cannot be read."),
) -> None:
    """Write leaderboard.md comparing methods and iterations, from stored results only.

    Files that cannot be read are listed in the markdown's "Skipped files" section (--strict: an error).
    """
    from harness.report.leaderboard import build_leaderboard

    dirs = list(runs) if runs else [d for d in (Path("runs"), Path("results")) if d.is_dir()]
    if not dirs:
        raise HarnessError("no runs/ or results/ folder here; pass --runs FOLDER")
    report = build_leaderboard(dirs, out, force=force, strict=strict)
    console = _console()
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    skipped = f", {len(report.skipped)} file(s) skipped (listed in it)" if report.skipped else ""
    console.print(
        f"wrote {report.out} ({report.rows} rows from {report.results_used} results{skipped}) and "
        f"{len(report.plots)} plot(s)",
        highlight=False,
        soft_wrap=True,
    )


@app.command("compare")
@user_errors
def compare_cmd(
    a: Path = typer.Argument(..., help="Model A: a results.json, results/<model>, or runs/<run>/iter<i>."),
    b: Path = typer.Argument(..., help="Model B, the same forms."),
    bench: str = typer.Option(..., "--bench", "-b", help="Benchmark to compare on."),
    resamples: int = typer.Option(10_000, help="Paired bootstrap resamples."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
) -> None:
    """Paired comparison of two models on the same items (bootstrap for scores, McNemar for right/wrong)."""
    from harness.options import at_least
    from harness.report.compare import compare, render_comparison

    at_least("--resamples", resamples, 1)
    at_least("--seed", seed, 0)
    report = compare(a, b, bench, resamples=resamples, seed=seed)
    _console().print(render_comparison(report))


def _bench(name: str):
    from harness.plugins import registry

    return registry().benchmark(name)()


@data_app.command("pull")
@user_errors
def data_pull(
    bench: str = typer.Argument(..., help="Benchmark name."),
    data_dir: Optional[Path] = typer.Option(None, help="Where to put it (default: data/<bench>)."),
    force: bool = typer.Option(False, help="Download again even when present and verified."),
) -> None:
    """Download a benchmark's official files (with resume and checksums)."""
    from harness.data.pull import pull, render_pull

    console = _console()
    report = pull(_bench(bench).data_sources(), data_dir or Path("data") / bench, force=force, console=console)
    console.print(render_pull(report))
    if not report.complete:
        raise typer.Exit(code=1)


@data_app.command("check")
@user_errors
def data_check(
    bench: str = typer.Argument(..., help="Benchmark name."),
    data_dir: Optional[Path] = typer.Option(None, help="Where it lives (default: data/<bench>)."),
) -> None:
    """Say which of a benchmark's files are present and which are missing."""
    from harness.data.pull import check, render_check

    report = check(_bench(bench).data_sources(), data_dir or Path("data") / bench)
    _console().print(render_check(report))
    if not report.ok:
        raise typer.Exit(code=1)


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="harness")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
