"""``harness status DIR``: each job of a submitted grid, its state and its log file.

The state is the job's own word (``cluster/state/<job>.json``: running, finished, failed with its error),
checked against the scheduler: SLURM's ``squeue`` (pending or running) and ``sacct`` (how it ended: a job
killed for its time limit or memory writes nothing itself); a local job whose process is gone without a
word was killed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.cluster.records import jobs_path, read_jobs, read_state
from harness.cluster.submit import _slurm_queue
from harness.errors import HarnessError

FAILED = ("failed", "killed", "timeout", "cancelled", "out of memory", "node fail")


def _sacct(ids: list[str]) -> dict[str, str]:
    if not ids or shutil.which("sacct") is None:
        return {}
    try:
        out = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(ids)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    rows = (line.split("|", 1) for line in out.stdout.splitlines() if "|" in line)
    return {i: s.split()[0] for i, s in rows}


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, OSError):
        return False
    return True


def job_states(out: Path) -> list[dict[str, Any]]:
    """Per job of ``out``'s grid: key, what, state, job id, log files, error."""
    out = Path(out)
    if not jobs_path(out).is_file():
        raise HarnessError(
            f"{out}: no submitted grid here ({jobs_path(out)} is missing); `harness reproduce TABLE --executor "
            "slurm --out DIR` or `harness sweep … --executor slurm` submits one"
        )
    jobs = read_jobs(out)["jobs"]
    ids = [str(e["job_id"]) for e in jobs.values() if e.get("executor") == "slurm"]
    queued, ended = _slurm_queue(ids), _sacct(ids)
    rows = []
    for key, entry in jobs.items():
        own = read_state(out, key.replace("/", "__"))
        job_id = str(entry.get("job_id"))
        said = own.get("state")
        if own and own.get("job_id") not in (None, job_id) and said != "finished":
            said = None  # the state file is an earlier attempt's
        if job_id in queued:
            state = queued[job_id].lower()
        elif said in ("finished", "failed"):
            state = said
        elif entry.get("executor") == "slurm" and job_id in ended and ended[job_id] != "COMPLETED":
            state = ended[job_id].lower().replace("_", " ")
        elif entry.get("executor") == "local" and said == "running" and not _alive(job_id):
            state = "killed"
        else:
            state = said or "submitted"
        rows.append(
            {
                "job": key,
                "what": entry.get("what", ""),
                "state": state,
                "job_id": job_id,
                "stdout": entry.get("stdout"),
                "stderr": entry.get("stderr"),
                "error": own.get("error") if state in FAILED else None,
                "host": own.get("host"),
            }
        )
    return rows


def print_status(out: Path, console: Console) -> list[dict[str, Any]]:
    rows = job_states(out)
    data = read_jobs(out)
    table = Table(title=f"{out}: {len(rows)} job(s) ({data.get('executor', '?')})")
    for col in ("job", "what", "state", "id", "log"):
        table.add_column(col, overflow="fold")
    colour = {"finished": "green", "running": "cyan", "pending": "yellow"}
    for r in rows:
        style = "red" if r["state"] in FAILED else colour.get(r["state"], "")
        state = f"[{style}]{r['state']}[/]" if style else r["state"]
        table.add_row(r["job"], r["what"], state, r["job_id"], r["stdout"] or "")
    console.print(table)
    failed = [r for r in rows if r["state"] in FAILED]
    for r in failed:
        console.print(
            f"[red]{r['job']}[/] {r['state']}: {r['error'] or 'no error written (see the log)'}; log {r['stderr']}",
            highlight=False,
            soft_wrap=True,
        )
    if failed or any(r["state"] not in ("finished",) for r in rows):
        console.print(f"resume (submits only what is not finished): {data.get('resume', '?')}", highlight=False)
    return rows
