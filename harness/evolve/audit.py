"""The audit stage: the iteration's pairs checked against the truth of their images where a plugin knows
it (harness/audit.py), written to ``iter<i>/audit.json`` beside the pairs."""

from __future__ import annotations

from rich.console import Console

from harness.progress import stage_end, stage_start
from harness.runs import Run


def audit_stage(run: Run, i: int, source, console: Console, truth=()) -> None:
    """``truth``: the ``--audit-truth`` paths (COCO annotation files and the like)."""
    from harness.audit import audit_iteration

    title = f"θ{i} · pair audit against the images' truth"
    started = stage_start(console, title)
    s = audit_iteration(run.iter_dir(i), source.describe(), truth=truth)
    if s["audited"]:
        ci = s["precision_interval"]
        said = (
            f"{s['audited']} of {s['pairs']} pairs: chosen truly better {s['precision']} % [{ci[0]}, {ci[1]}], "
            f"inverted {s['inverted']} %, tied {s['tied']} %"
        )
    else:
        said = f"{s['pairs']} pairs, none audited (no known truth for these images)"
        said += f": {s['note']}" if s.get("note") else ""
    run.mark_done(f"audit-{i}", audited=s["audited"], precision=s.get("precision"))
    stage_end(console, title, started, said)
