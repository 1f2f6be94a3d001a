"""`harness rejudge` (stored predictions judged again by another judge) and the judge-agreement mode of
`harness compare --judge A --judge B` (how far two judges' numbers on the same predictions differ)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import app, console_for_output, user_errors
from harness.errors import HarnessError


def default_folders(paths: list[Path] | None) -> list[Path]:
    """The folders given, else runs/ and results/ where they exist (as `harness leaderboard` scans)."""
    if paths:
        return list(paths)
    found = [d for d in (Path("runs"), Path("results")) if d.is_dir()]
    if not found:
        raise HarnessError("no runs/ or results/ folder here; give the results files or folders to read")
    return found


@app.command("rejudge")
@user_errors
def rejudge_cmd(
    paths: Optional[list[Path]] = typer.Argument(
        None,
        help="Results files, or folders searched for results.json (a run, an iteration, results/<model>; "
        "default: runs/ and results/).",
        show_default=False,
    ),
    judge_model: str = typer.Option(..., help="The judge to score the stored predictions with."),
    judge_base_url: Optional[str] = typer.Option(
        None,
        help="OpenAI-compatible server (default: OPENAI_BASE_URL or api.openai.com); the key is read from "
        "OPENAI_API_KEY.",
    ),
    judge_runs: Optional[int] = typer.Option(None, help="Judge runs per item (default: as the stored result)."),
    judge_concurrency: int = typer.Option(16, help="Concurrent judge requests."),
    judge_cache: bool = typer.Option(
        True, "--judge-cache/--no-judge-cache", help="Use the judge cache (--no-judge-cache bypasses it)."
    ),
    max_cost: Optional[float] = typer.Option(None, help="Stop before the judge spend passes this many USD."),
    dry_run: bool = typer.Option(False, help="Print the judge calls and the estimated cost; call nothing."),
    bench: list[str] = typer.Option([], "--bench", "-b", help="Only results of this benchmark (repeatable)."),
    data_dir: Optional[Path] = typer.Option(
        None, help="The benchmark's data, as scored (default: data/<bench>); needs a single --bench."
    ),
) -> None:
    """Score the stored predictions of runs, iterations or models again with another judge; nothing is generated.

    Each new result is stored beside the original as results.judge-<judge>.json (the original is never
    replaced); cached judgements are reused, so a killed rejudge resumes where it stopped. Predictions or
    benchmark data that changed since the original was scored are refused with the reason (exit 2); missing
    judgements leave the new result incomplete (exit 1; rerun to complete it). `harness compare --judge OLD
    --judge NEW` then measures the drift.
    """
    from harness.evaluate.rejudge import rejudge

    if data_dir is not None and len(bench) != 1:
        raise HarnessError("--data-dir: give exactly one --bench, whose data it is")
    rejudge(
        default_folders(paths),
        judge_model=judge_model,
        judge_base_url=judge_base_url,
        judge_runs=judge_runs,
        judge_concurrency=judge_concurrency,
        use_cache=judge_cache,
        max_cost=max_cost,
        data_dir=data_dir,
        benches=set(bench) or None,
        dry_run=dry_run,
        console=console_for_output(),
    )


def judge_agreement(
    paths: list[Path] | None, judges: list[str], bench: str | None, out: Path | None, resamples: int, seed: int
) -> None:
    """`harness compare --judge A --judge B`: the table, the report file, the JSON and the plots."""
    from harness.evaluate.models import model_slug
    from harness.plugins import registry
    from harness.report.judge_drift import judge_drift
    from harness.report.judge_drift_render import render_drift, write_drift

    if len(judges) != 2:
        raise HarnessError(f"--judge: give exactly two judges (--judge OLD --judge NEW), got {len(judges)}")
    a, b = judges
    folders = default_folders(paths)
    out = out or Path("runs") / f"judge-agreement_{model_slug(a)}_vs_{model_slug(b)}"
    report = judge_drift(
        folders, a, b, benches={bench} if bench else None, classes=registry().benchmarks, resamples=resamples, seed=seed
    )
    write_drift(report, out)
    console_for_output().print(render_drift(report, out))
