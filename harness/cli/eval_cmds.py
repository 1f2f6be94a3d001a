"""`harness eval`, `harness leaderboard` and `harness compare`: scores, the board, paired comparisons (of two models,
or with --judge of two judges: harness/cli/judge_cmds.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from harness.cli.app import app, console_for_output, help_epilog_command, user_errors
from harness.cli.config_file import config_option
from harness.cli.parsing import parse_bench_sets
from harness.errors import HarnessError


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


@app.command("eval", cls=help_epilog_command(_declared_option_values))
@user_errors
def eval_cmd(
    config: Optional[Path] = config_option(),
    bench: str = typer.Option(..., "--bench", "-b", help="Registered benchmark (see `harness benchmarks`)."),
    model: Optional[str] = typer.Option(
        None,
        help="A checkpoint folder, `tiny`, or RUN_ID:ITER. Default: every θi "
        "of the stored runs without a result for this benchmark, then θ0.",
    ),
    data_dir: Optional[Path] = typer.Option(None, help="The benchmark's data (default: data/<bench>)."),
    own_data: bool = typer.Option(
        False,
        "--own-data",
        help="The files in --data-dir are your own, not the benchmark's release: they are not checked against the "
        "release's checksums (otherwise a mismatch is an error, exit 2), and the result names them as yours.",
    ),
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
    judge_cache: bool = typer.Option(
        True, "--judge-cache/--no-judge-cache", help="Use the judge cache (--no-judge-cache bypasses it)."
    ),
    dry_run: bool = typer.Option(False, help="Print the number of judge calls and the estimated cost; call nothing."),
    max_cost: Optional[float] = typer.Option(None, help="Stop before the judge spend passes this many USD."),
    out: Optional[Path] = typer.Option(None, help="Results file (default: next to the run, or results/<model>/)."),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding run directories."),
    backend: str = typer.Option("hf", help="Generation backend."),
    gen_batch_size: Optional[int] = typer.Option(
        None, "--gen-batch-size", help="Generation batch size of the hf backend, as evolve's (default 16)."
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", hidden=True, help="The older spelling of --gen-batch-size."
    ),
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
    from harness.options import at_least

    if gen_batch_size is not None and batch_size is not None:
        raise HarnessError("--gen-batch-size and --batch-size are two spellings of one option; give one")
    typed, batch_size = ("--batch-size", batch_size) if batch_size is not None else ("--gen-batch-size", gen_batch_size)
    batch_size = 16 if batch_size is None else batch_size
    at_least(typed, batch_size, 1)  # named as typed
    bench_options = parse_bench_sets(bench, list(sets))
    data = data_dir or Path("data") / bench
    common = dict(
        data_dir=data,
        judge_model=judge_model,
        judge_base_url=judge_base_url,
        judge_runs=judge_runs,
        judge_concurrency=judge_concurrency,
        use_cache=judge_cache,
        max_cost=max_cost,
        dry_run=dry_run,
        backend=backend,
        batch_size=batch_size,
        chunk_items=chunk_items,
        limit=limit,
        console=console_for_output(),
        rescore=rescore,
        runs_dir=runs_dir,
        results_dir=Path("results"),
        bench_options=bench_options or None,
        own_data=own_data,
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
        console_for_output().print(f"Nothing to evaluate: every model in {runs_dir} has a {bench} result.")
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
    out: Path = typer.Option(
        Path("runs/leaderboard.md"),
        help="The markdown file to write (plots go next to it); the project's own leaderboard.md is made with "
        "--out leaderboard.md from its default runs.",
    ),
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
    console = console_for_output()
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
    paths: Optional[list[Path]] = typer.Argument(
        None,
        metavar="A B | FOLDER",
        help="Models A and B: a results.json, results/<model>, or runs/<run>/iter<i>. With --judge: the results "
        "files or folders to read (default: runs/ and results/).",
        show_default=False,
    ),
    bench: Optional[str] = typer.Option(
        None, "--bench", "-b", help="Benchmark to compare on (required for two models; with --judge: only this one)."
    ),
    judge: list[str] = typer.Option(
        [],
        "--judge",
        help="Compare two judges instead of two models: --judge OLD --judge NEW, on the stored predictions both "
        "scored (see `harness rejudge`): item agreement, headline change, ranking flips.",
    ),
    out: Optional[Path] = typer.Option(
        None,
        help="With --judge: the folder for the report, its JSON and plots (default: runs/judge-agreement_<A>_vs_<B>).",
    ),
    resamples: int = typer.Option(10_000, help="Paired bootstrap resamples."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
) -> None:
    """Paired comparison of two models on the same items (bootstrap for scores, McNemar for right/wrong), or,
    with --judge A --judge B, of two judges on the same stored predictions."""
    from harness.options import at_least
    from harness.report.compare import compare, render_comparison

    at_least("--resamples", resamples, 1)
    at_least("--seed", seed, 0)
    if judge:
        from harness.cli.judge_cmds import judge_agreement

        judge_agreement(paths, list(judge), bench, out, resamples, seed)
        return
    if out is not None:
        raise HarnessError("--out: only with --judge (two models are compared on the terminal)")
    if not paths or len(paths) != 2:
        raise HarnessError(f"compare: give two models A and B (or --judge A --judge B), got {len(paths or [])} path(s)")
    if bench is None:
        raise HarnessError("--bench: required to compare two models (the benchmark both have a result for)")
    report = compare(paths[0], paths[1], bench, resamples=resamples, seed=seed)
    console_for_output().print(render_comparison(report))
