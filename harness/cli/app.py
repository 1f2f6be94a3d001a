"""The Typer apps (``harness`` and its ``data`` and ``tiny`` groups) and what every command shares: the console, the
error wrapper that turns a HarnessError into one red line and exit 2, option tables."""

from __future__ import annotations

import functools

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError

app = typer.Typer(
    name="harness",
    help="Run and compare self-evolution alignment methods for LLaVA-family models, "
    "and score every iteration with the benchmarks' official scorers.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (README, "Shell completion")
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Download benchmark data from its official sources, or check what is present.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
tiny_app = typer.Typer(
    help="The built-in tiny models shipped with the package: what they are, and a local rebuild compared with them.",
    no_args_is_help=True,
)
app.add_typer(tiny_app, name="tiny")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"harness {version('self-evolution-harness')}")
        except PackageNotFoundError:  # run from a source tree that is not installed
            typer.echo("harness (not installed)")
        raise typer.Exit()


@app.callback()
def _startup(
    show_version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """Before any command: no library progress bars (ours say what is loading and saving)."""
    from harness.progress import quiet_libraries

    quiet_libraries()


def console_for_output() -> Console:
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
        except KeyboardInterrupt:
            import shlex
            import sys

            command = shlex.join(["harness", *sys.argv[1:]])
            Console(stderr=True).print(
                "[bold yellow]interrupted:[/] every finished stage and journaled chunk is kept (a result is "
                f"written whole or not at all); rerun the same command to resume: {command}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=130) from None

    return wrapper


def options_table(title: str, options: list, flag: str) -> Table:
    with_help = any(o.help for o in options)
    table = Table(f"{flag} key", "type", "default", *(["help"] if with_help else []), title=title, title_justify="left")
    for o in options:
        table.add_row(o.name, o.type, o.default, *([o.help] if with_help else []))
    return table


def help_epilog_command(epilog):
    """A Typer command class whose ``--help`` ends with ``epilog()``, computed when help is shown (what the
    installed plugins declare: benchmark options, reproducible tables)."""
    from typer.core import TyperCommand

    class _Command(TyperCommand):
        def format_help(self, ctx, formatter):  # noqa: ANN001 - click's signature
            self.epilog = epilog()
            return super().format_help(ctx, formatter)

    return _Command
