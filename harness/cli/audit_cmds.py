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
    audit_truth: list[Path] = typer.Option(
        [],
        "--audit-truth",
        help="Truth the run folder does not hold, for the pair auditors (repeatable): files or folders, e.g. for "
        "COCO images (a LLaVA-665k source's coco/ images are COCO train2017) instances_<split>.json, optionally "
        "captions_<split>.json, and the data folder of the benchmark whose vocabulary the auditor uses "
        "(docs/options.md).",
    ),
) -> None:
    """Check every finished iteration's pairs against the truth of their images (where a plugin knows it:
    the synthetic world's scenes; COCO images through their instance annotations)
    and write iter<i>/audit.json: the share of pairs whose chosen answer is truly better, inverted and tied
    shares, hallucinations of chosen and rejected answers. `harness evolve` does this after each synthesis;
    this command audits runs made before, or again (e.g. with --audit-truth)."""
    from harness.audit import audit_run, auditor_for_run

    for run in runs:  # every path is checked before anything is written
        if not (run / "manifest.json").is_file():
            raise HarnessError(f"{run}: not a run folder (no manifest.json); give a folder such as runs/<run>")
    cache: dict = {}
    for run in runs:  # and the truth read (once per image source): a bad --audit-truth writes nothing
        auditor_for_run(run, truth=audit_truth, cache=cache)
    console = console_for_output()
    table = Table(
        "run", "θ", "pairs", "audited", "chosen better %", "inverted %", "tied %", "halluc. chosen", "halluc. rejected"
    )
    notes: dict[str, str] = {}
    for run in runs:
        found = audit_run(run, truth=audit_truth, cache=cache)
        if not found:
            console.print(f"{run}: no finished synthesis yet: nothing to audit", highlight=False)
        for i, s in sorted(found.items()):
            if not s["audited"]:
                table.add_row(run.name, f"θ{i}", str(s["pairs"]), "0 (no known truth)", "–", "–", "–", "–", "–")
                if s.get("note"):
                    notes.setdefault(s["note"], run.name)
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
    for note, name in notes.items():
        console.print(f"{name}: not audited: {note}", highlight=False)
