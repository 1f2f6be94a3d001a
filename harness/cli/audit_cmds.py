"""`harness audit`: a run's preference pairs checked against the truth of their images."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from harness.cli.app import app, console_for_output, user_errors
from harness.errors import HarnessError


@app.command("audit")
@user_errors
def audit_cmd(
    runs: list[Path] = typer.Argument(..., help="Run folders (runs/<run>)."),
) -> None:
    """Check every finished iteration's pairs against the truth of their images (where a plugin knows it:
    the synthetic world's scenes) and write iter<i>/audit.json: the share of pairs whose chosen answer is
    truly better, inverted and tied shares, hallucinations of chosen and rejected answers. `harness
    evolve` does this after each synthesis; this command audits runs made before, or again."""
    from harness.audit import audit_run

    for run in runs:  # every path is checked before anything is written
        if not (run / "manifest.json").is_file():
            raise HarnessError(f"{run}: not a run folder (no manifest.json); give a folder such as runs/<run>")
    console = console_for_output()
    table = Table(
        "run", "θ", "pairs", "audited", "chosen better %", "inverted %", "tied %", "halluc. chosen", "halluc. rejected"
    )
    for run in runs:
        found = audit_run(run)
        if not found:
            console.print(f"{run}: no finished synthesis yet: nothing to audit", highlight=False)
        for i, s in sorted(found.items()):
            if not s["audited"]:
                table.add_row(run.name, f"θ{i}", str(s["pairs"]), "0 (no known truth)", "–", "–", "–", "–", "–")
                continue
            ci = s["precision_interval"]
            table.add_row(
                run.name,
                f"θ{i}",
                str(s["pairs"]),
                str(s["audited"]),
                f"{s['precision']} [{ci[0]}, {ci[1]}]",
                str(s["inverted"]),
                str(s["tied"]),
                f"{s['hallucinated_per_chosen']:.2f}",
                f"{s['hallucinated_per_rejected']:.2f}",
            )
    console.print(table)
