"""What a submitted grid leaves in ``OUT/cluster/``: ``jobs.json`` (every job submitted: its scheduler id, log
files and dependencies, and the command that resubmits the grid), ``logs/`` (submitit's folder: each job's
script, stdout and stderr, named by job id) and ``state/<job>.json``, which the job itself writes when it
starts, finishes or fails (its host, its scheduler id, the error)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from harness import atomic


def now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cluster_dir(out: Path) -> Path:
    return Path(out) / "cluster"


def logs_dir(out: Path) -> Path:
    return cluster_dir(out) / "logs"


def state_path(out: Path, slug: str) -> Path:
    return cluster_dir(out) / "state" / f"{slug}.json"


def read_state(out: Path, slug: str) -> dict[str, Any]:
    path = state_path(out, slug)
    try:
        data = atomic.read_json(path) if path.is_file() else {}
    except Exception:  # noqa: BLE001 - a state file being replaced: as if absent
        data = {}
    return data if isinstance(data, dict) else {}


def write_state(out: Path, slug: str, **fields: Any) -> None:
    atomic.write_json(state_path(out, slug), {**read_state(out, slug), **fields})


def jobs_path(out: Path) -> Path:
    return cluster_dir(out) / "jobs.json"


def read_jobs(out: Path) -> dict[str, Any]:
    path = jobs_path(out)
    if not path.is_file():
        return {"jobs": {}}
    data = atomic.read_json(path)
    return data if isinstance(data, dict) and isinstance(data.get("jobs"), dict) else {"jobs": {}}


def record_jobs(out: Path, executor: str, resume: str, entries: dict[str, dict[str, Any]]) -> None:
    """Add or replace the entries of the jobs just submitted (older entries stay: their logs)."""
    data = read_jobs(out)
    jobs = dict(data["jobs"])
    for key, entry in entries.items():
        old = jobs.get(key, {})
        history = list(old.get("history", [])) + ([{k: old[k] for k in ("job_id", "stdout")}] if old else [])
        jobs[key] = {**entry, "history": history[-10:]}
    atomic.write_json(jobs_path(out), {"executor": executor, "resume": resume, "updated": now(), "jobs": jobs})
