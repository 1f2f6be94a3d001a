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


def not_yet(command: str, issue: str) -> None:
    raise HarnessError(f"`harness {command}` is not available yet: it lands with the [{issue}] issue")


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


@app.command("evolve")
@user_errors
def evolve_cmd(
    method: str = typer.Option("sena", help="Registered method (see `harness methods`)."),
    iters: int = typer.Option(3, help="Number of iterations θ0 → θN."),
) -> None:
    """Self-evolve a policy: θ0 → θ1 → … on unlabeled images (synthesize pairs, train with DPO)."""
    not_yet("evolve", "evolve")


@app.command("eval")
@user_errors
def eval_cmd(bench: str = typer.Option(..., "--bench", help="Registered benchmark (see `harness benchmarks`).")) -> None:
    """Score a model (or every θi of the stored runs) on a benchmark."""
    not_yet("eval", "benchmarks")


@app.command("leaderboard")
@user_errors
def leaderboard_cmd() -> None:
    """Write leaderboard.md comparing methods and iterations, from stored results only."""
    not_yet("leaderboard", "leaderboard")


@data_app.command("pull")
@user_errors
def data_pull(bench: str = typer.Argument(..., help="Benchmark name.")) -> None:
    """Download a benchmark's official files (with resume and checksums)."""
    not_yet("data pull", "benchmarks")


@data_app.command("check")
@user_errors
def data_check(bench: str = typer.Argument(..., help="Benchmark name.")) -> None:
    """Say which of a benchmark's files are present and which are missing."""
    not_yet("data check", "benchmarks")


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="harness")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
