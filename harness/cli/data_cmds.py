"""`harness data pull` and `harness data check`: benchmark files, and methods' released data, from their official
sources."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import console_for_output, data_app, user_errors


def _sources(name: str) -> list:
    """The data sources of a benchmark, or of a method that declares released files (``Method.data_sources``)."""
    from harness.errors import HarnessError
    from harness.plugins import registry

    reg = registry()
    if name in reg.benchmarks:
        return reg.benchmark(name)().data_sources()
    if name in reg.methods and reg.methods[name].data_sources():
        return reg.methods[name].data_sources()
    with_data = sorted(m for m, cls in reg.methods.items() if cls.data_sources())
    raise HarnessError(
        f"unknown benchmark {name!r} (nor a method with files to pull); benchmarks: "
        f"{', '.join(sorted(reg.benchmarks)) or 'none'}; methods with data: {', '.join(with_data) or 'none'}"
    )


@data_app.command("pull")
@user_errors
def data_pull(
    bench: str = typer.Argument(
        ..., help="Benchmark name, or a method with released files (`harness methods NAME` lists them)."
    ),
    data_dir: Optional[Path] = typer.Option(None, help="Where to put it (default: data/<bench>)."),
    force: bool = typer.Option(False, help="Download again even when present and verified."),
) -> None:
    """Download a benchmark's official files, or a method's released data (with resume and checksums).

    Exit 1 when files to fetch by hand are still missing (the table says where to put them); a download that
    fails (an HTTP error, a checksum that does not match) exits 2."""
    from harness.data.pull import pull, render_pull

    console = console_for_output()
    report = pull(_sources(bench), data_dir or Path("data") / bench, force=force, console=console)
    console.print(render_pull(report))
    if not report.complete:
        raise typer.Exit(code=1)


@data_app.command("check")
@user_errors
def data_check(
    bench: str = typer.Argument(
        ..., help="Benchmark name, or a method with released files (`harness methods NAME` lists them)."
    ),
    data_dir: Optional[Path] = typer.Option(None, help="Where it lives (default: data/<bench>)."),
) -> None:
    """Say which of a benchmark's (or a method's) files are present and which are missing."""
    from harness.data.pull import check, render_check

    report = check(_sources(bench), data_dir or Path("data") / bench)
    console_for_output().print(render_check(report))
    if not report.ok:
        raise typer.Exit(code=1)
