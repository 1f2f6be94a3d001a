"""The ``harness`` command line (Typer). Thin: parse, call the engine, print with rich."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError

app = typer.Typer(
    name="harness",
    help="Run and compare self-evolution alignment methods for LLaVA-family models, "
    "and score every iteration with the benchmarks' official scorers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Download benchmark data from its official sources, or check what is present.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


def _console() -> Console:
    return Console(stderr=False)


def user_errors(fn):
    """Print a HarnessError as one red line and exit 2, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HarnessError as exc:
            Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


@app.command("methods")
@user_errors
def methods_cmd() -> None:
    """List the registered self-evolution methods."""
    from harness.plugins import registry

    reg = registry()
    table = Table("method", "description", "plugin module", title="Registered methods")
    for name, cls in sorted(reg.methods.items()):
        table.add_row(name, getattr(cls, "description", ""), cls.__module__)
    _console().print(table if reg.methods else "No methods registered.")


@app.command("benchmarks")
@user_errors
def benchmarks_cmd() -> None:
    """List the registered benchmarks."""
    from harness.plugins import registry

    reg = registry()
    table = Table("benchmark", "judge", "description", "plugin module", title="Registered benchmarks")
    for name, cls in sorted(reg.benchmarks.items()):
        table.add_row(name, "yes" if getattr(cls, "needs_judge", False) else "no", getattr(cls, "description", ""),
                      cls.__module__)
    _console().print(table if reg.benchmarks else "No benchmarks registered.")


def _parse_train_sets(items: list[str]) -> dict:
    """--train key=value pairs, typed from TrainConfig's fields."""
    import dataclasses

    from harness.method import _coerce
    from harness.train.config import TrainConfig

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out = {}
    for item in items:
        if "=" not in item:
            raise HarnessError(f"--train {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        if key not in fields:
            raise HarnessError(f"--train {key}: unknown training option; accepted: {', '.join(sorted(fields))}")
        ftype = str(fields[key].type).replace("'", "")
        base = ftype.split("|")[0].strip()
        out[key] = None if raw.lower() == "none" and "None" in ftype else _coerce(base, raw, key)
    return out


@app.command("evolve")
@user_errors
def evolve_cmd(
    method: str = typer.Option("sena", "--method", "-m", help="Registered method (see `harness methods`)."),
    iters: int = typer.Option(3, "--iters", "-n", help="Number of iterations θ0 → θN."),
    model: str = typer.Option("tiny", help="θ0: a llava-hf checkpoint folder, or `tiny` (built-in, offline)."),
    images: Optional[str] = typer.Option(None, help="Unlabeled images: a folder, a LLaVA-665k or COCO .json "
                                         "(with --image-root), or `synthetic` (default)."),
    image_root: Optional[str] = typer.Option(None, help="Folder the image paths of a .json source are relative to."),
    images_per_iter: Optional[int] = typer.Option(None, help="Images per iteration (default: 6000 as the paper; "
                                                  "32 with the tiny model)."),
    backend: str = typer.Option("hf", help="Generation backend: hf (transformers), vllm or vllm_embeds (GPU extra; vllm_embeds feeds noised images as embeddings of the exact noised tensor)."),
    gen_batch_size: int = typer.Option(16, help="Batch size of the hf backend."),
    eval_benches: list[str] = typer.Option(["shapes"], "--eval", help="Benchmark(s) to score each θi on; "
                                           "repeat the option; `none` to skip."),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding run directories."),
    run_dir: Optional[Path] = typer.Option(None, help="This run's directory (default: derived from the options)."),
    seed: int = typer.Option(0, help="Seed of image sampling, prompt choice and noise."),
    variant: Optional[str] = typer.Option(None, help="A named variant of the method (e.g. SENA's ablations)."),
    sets: list[str] = typer.Option([], "--set", help="Method option key=value (repeatable), e.g. se=false."),
    train_sets: list[str] = typer.Option([], "--train", help="Training option key=value (repeatable), "
                                         "e.g. lora=true, learning_rate=1e-6."),
    restart: bool = typer.Option(False, help="Delete an existing run directory with another config and start over."),
) -> None:
    """Self-evolve a policy: θ0 → θ1 → … on unlabeled images (synthesize pairs, reference pass, DPO).

    Rerunning the same command resumes from the last finished stage.
    """
    from harness.evolve import EvolveOptions, evolve

    evals = [] if eval_benches == ["none"] else list(eval_benches)
    opts = EvolveOptions(method=method, iters=iters, model=model, images=images, image_root=image_root,
                         images_per_iter=images_per_iter, backend=backend, gen_batch_size=gen_batch_size,
                         evals=evals, runs_dir=runs_dir, run_dir=run_dir, seed=seed, variant=variant,
                         overrides=list(sets), train_overrides=_parse_train_sets(train_sets), restart=restart)
    evolve(opts, _console())


@app.command("eval")
@user_errors
def eval_cmd(
    bench: str = typer.Option(..., "--bench", "-b", help="Registered benchmark (see `harness benchmarks`)."),
    model: Optional[str] = typer.Option(None, help="A checkpoint folder, `tiny`, or RUN_ID:ITER. Default: every θi "
                                        "of the stored runs without a result for this benchmark, then θ0."),
    data_dir: Optional[Path] = typer.Option(None, help="The benchmark's data (default: data/<bench>)."),
    predictions: Optional[Path] = typer.Option(None, help="Score this predictions file (official format); "
                                               "no generation."),
    judge_model: str = typer.Option("gpt-4-1106-preview", help="Judge model (the SENA paper's)."),
    judge_base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible server (default: OPENAI_BASE_URL "
                                                 "or api.openai.com); the key is read from OPENAI_API_KEY."),
    judge_runs: int = typer.Option(3, help="Judge runs per item (the paper averages 3)."),
    judge_concurrency: int = typer.Option(16, help="Concurrent judge requests."),
    no_judge_cache: bool = typer.Option(False, help="Bypass the judge cache."),
    dry_run: bool = typer.Option(False, help="Print the number of judge calls and the estimated cost; call nothing."),
    max_cost: Optional[float] = typer.Option(None, help="Stop before the judge spend passes this many USD."),
    out: Optional[Path] = typer.Option(None, help="Results file (default: next to the run, or results/<model>/)."),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding run directories."),
    backend: str = typer.Option("hf", help="Generation backend."),
    batch_size: int = typer.Option(16, help="Generation batch size (hf backend)."),
    limit: Optional[int] = typer.Option(None, help="Only the first N items (smoke tests)."),
) -> None:
    """Score a model (or every θi of the stored runs) on a benchmark."""
    from harness.evaluate import evaluate, pending_models, resolve_model, results_path

    data = data_dir or Path("data") / bench
    common = dict(data_dir=data, judge_model=judge_model, judge_base_url=judge_base_url, judge_runs=judge_runs,
                  judge_concurrency=judge_concurrency, use_cache=not no_judge_cache, max_cost=max_cost,
                  dry_run=dry_run, backend=backend, batch_size=batch_size, limit=limit, console=_console())
    if predictions is not None or model is not None:
        if model is not None:
            ref = resolve_model(model, runs_dir)
        else:
            from harness.report.results import ModelRef

            ref = ModelRef(id=predictions.stem)
        target = out or results_path(ref, bench, runs_dir, Path("results"))
        evaluate(bench, model=ref.path if predictions is None else None, predictions=predictions, out=target,
                 model_ref=ref, **common)
        return
    refs = pending_models(runs_dir, bench)
    if not refs:
        _console().print(f"Nothing to evaluate: every model in {runs_dir} has a {bench} result.")
        return
    for ref in refs:
        evaluate(bench, model=ref.path, predictions=None, out=results_path(ref, bench, runs_dir, Path("results")),
                 model_ref=ref, **common)


@app.command("leaderboard")
@user_errors
def leaderboard_cmd(
    runs: list[Path] = typer.Option([Path("runs"), Path("results")], "--runs", help="Folders to scan for results "
                                    "(repeatable)."),
    out: Path = typer.Option(Path("leaderboard.md"), help="The markdown file to write (plots go next to it)."),
) -> None:
    """Write leaderboard.md comparing methods and iterations, from stored results only."""
    from harness.report.leaderboard import build_leaderboard

    report = build_leaderboard(list(runs), out)
    console = _console()
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(f"wrote {report.out} ({report.rows} rows from {report.results_used} results) and "
                  f"{len(report.plots)} plot(s)")


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
    from harness.report.compare import compare, render_comparison

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
