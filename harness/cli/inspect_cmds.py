"""`harness inspect`: a run's preference pairs in a static HTML page per iteration (harness/pairview/)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import app, console_for_output, user_errors


@app.command("inspect")
@user_errors
def inspect_cmd(
    run: Path = typer.Argument(..., help="A run folder (runs/<run>)."),
    iteration: Optional[int] = typer.Option(
        None, "--iter", help="The iteration whose pairs to show (default: every finished one)."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Folder for the pages and their pictures (default: RUN/inspect)."
    ),
) -> None:
    """Write one HTML page per iteration (iter<i>.html, pictures in iter<i>.files/) that opens from disk:
    every pair with its image (the noised image beside it where the method used one), question, chosen
    and rejected answers, the method's scores and labels and the truth audit's marks, with filters
    (audit verdict, kind, the method's labels, text) and pages. The run's own files are only read."""
    from harness.pairview import inspect_run

    console = console_for_output()
    for w in inspect_run(run, iteration, out):
        console.print(f"θ{w.iteration}: {w.pairs} pairs, {w.pictures} pictures → {w.page}", highlight=False)
