"""`harness data pull` and `harness data check`: benchmark files from their official sources."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import console_for_output, data_app, user_errors


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

    console = console_for_output()
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
    console_for_output().print(render_check(report))
    if not report.ok:
        raise typer.Exit(code=1)
