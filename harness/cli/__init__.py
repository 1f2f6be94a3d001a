"""The ``harness`` command line (Typer). Thin: parse, call the engine, print with rich.

One module per command group: plugin_cmds (methods, benchmarks), run_cmds (evolve, plan,
reproduce), cluster_cmds (sweep, status: grids as scheduler jobs), eval_cmds (eval, leaderboard, compare), judge_cmds (rejudge, compare --judge), audit_cmds (audit), inspect_cmds (inspect), data_cmds (data pull/check), tiny_cmds (tiny info/rebuild); app.py holds the
Typer apps they register on and what they share, parsing.py the key=value options.
"""

# isort: skip_file
# The command modules register their commands on import; `harness --help` lists them in this order.
from harness.cli.app import app
from harness.cli import plugin_cmds  # noqa: F401
from harness.cli import run_cmds  # noqa: F401
from harness.cli import cluster_cmds  # noqa: F401
from harness.cli import eval_cmds  # noqa: F401
from harness.cli import judge_cmds  # noqa: F401
from harness.cli import audit_cmds  # noqa: F401
from harness.cli import inspect_cmds  # noqa: F401
from harness.cli import data_cmds  # noqa: F401
from harness.cli import tiny_cmds  # noqa: F401


def main() -> None:  # pragma: no cover - console entry
    app(prog_name="harness")


__all__ = ["app", "main"]
