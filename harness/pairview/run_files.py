"""One finished iteration of a run folder, read strictly for the pair viewer.

Every check runs before anything is written, and each refusal names the path: a folder that is not a
run (no ``manifest.json``), a run made by an older version that the viewer cannot read (no image source
in its manifest, pairs without the fields of ``PreferencePair``, no ``audit.json`` because it was made
before pair audits, or an audit of other pairs), an iteration whose synthesis has not finished (no
``stages/synthesize-<i>.done``). harness/runs.py describes the run folder's layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import atomic
from harness.audit import AUDIT_FILE
from harness.errors import HarnessError
from harness.runs import read_manifest

PAIR_FIELDS = ("image", "prompt", "chosen", "rejected")  # what every pair of this version holds (PreferencePair)


@dataclass
class IterationFiles:
    """What the viewer shows of one iteration: its pairs, their audit, the method's counts, the training."""

    run_dir: Path
    manifest: dict[str, Any]
    iteration: int
    pairs: list[dict[str, Any]]
    audit: dict[str, Any]  # {"summary": ..., "marks": [one per pair]} (harness/audit.py)
    stats: dict[str, Any] | None  # stats.json: the counts after each step and filter
    train: dict[str, Any] | None  # train.json, once θi is trained

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest.get("config") or {}

    @property
    def source(self) -> dict[str, Any]:
        return image_source(self.run_dir, self.manifest)


def image_source(run_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    source = ((manifest.get("config") or {}).get("images") or {}).get("source")
    if not isinstance(source, dict) or not source.get("kind"):
        raise HarnessError(
            f"{run_dir}: made by an older version of harness: its manifest.json records no image source "
            "(config.images.source), so its images cannot be found; rerun it with this version"
        )
    return source


def open_run(run_dir: Path) -> dict[str, Any]:
    """The manifest of the run in ``run_dir``, after checking that it is a run this version can show."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise HarnessError(f"{run_dir}: no such folder; give a run folder such as runs/<run>")
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: not a folder; give a run folder such as runs/<run>")
    manifest = read_manifest(run_dir)
    if manifest is None:
        raise HarnessError(f"{run_dir}: not a run folder (no manifest.json); give a folder such as runs/<run>")
    image_source(run_dir, manifest)
    return manifest


def finished_iterations(run_dir: Path) -> list[int]:
    """The iterations whose synthesis has finished (``stages/synthesize-<i>.done``), in order."""
    found = []
    for marker in (Path(run_dir) / "stages").glob("synthesize-*.done"):
        tail = marker.stem.split("-", 1)[1]
        if tail.isdigit():
            found.append(int(tail))
    return sorted(found)


def _finished_text(finished: list[int]) -> str:
    return f"finished: {', '.join(map(str, finished))}" if finished else "none has finished yet"


def check_iteration(run_dir: Path, iteration: int, finished: list[int]) -> None:
    if iteration == 0:
        raise HarnessError(f"--iter 0: θ0 of {run_dir} is the base model and has no pairs ({_finished_text(finished)})")
    if iteration < 0:
        raise HarnessError(f"--iter: must be an integer >= 1, got {iteration}")
    if iteration not in finished:
        raise HarnessError(
            f"--iter {iteration}: {run_dir / f'iter{iteration}'} has no finished synthesis yet (no "
            f"stages/synthesize-{iteration}.done), so no pairs to show; iterations {_finished_text(finished)}"
        )


def _read_pairs(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise HarnessError(f"{path}: missing although the synthesis is marked finished; the run folder is damaged")
    pairs = atomic.read_jsonl(path)
    for n, pair in enumerate(pairs, 1):
        missing = [k for k in PAIR_FIELDS if not isinstance(pair, dict) or not isinstance(pair.get(k), str)]
        if missing:
            raise HarnessError(
                f"{path}: pair {n} has no {', '.join(repr(k) for k in missing)} (text): made by an older version "
                "of harness, whose pairs this viewer cannot read; rerun the iteration with this version"
            )
    return pairs


def _read_audit(run_dir: Path, iteration: int, n_pairs: int) -> dict[str, Any]:
    path = run_dir / f"iter{iteration}" / AUDIT_FILE
    if not path.is_file():
        raise HarnessError(
            f"{path}: missing: this run was made before pair audits; run `harness audit {run_dir}` (it writes "
            f"iter<i>/{AUDIT_FILE} beside the pairs), then inspect again"
        )
    audit = atomic.read_json(path)
    marks = audit.get("marks") if isinstance(audit, dict) else None
    if not isinstance(marks, list) or not isinstance(audit.get("summary"), dict):
        raise HarnessError(
            f"{path}: not an audit of this version (no 'summary' and 'marks'); run `harness audit {run_dir}` again"
        )
    if len(marks) != n_pairs or any(not isinstance(m, dict) or m.get("pair") != k for k, m in enumerate(marks)):
        raise HarnessError(
            f"{path}: audits {len(marks)} pairs but pairs.jsonl holds {n_pairs}: the audit is of other pairs; "
            f"run `harness audit {run_dir}` again"
        )
    return audit


def _optional_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = atomic.read_json(path)
    return data if isinstance(data, dict) else None


def read_iteration(run_dir: Path, manifest: dict[str, Any], iteration: int) -> IterationFiles:
    """Iteration ``iteration`` of the run in ``run_dir`` (checked: see the module docstring)."""
    run_dir = Path(run_dir)
    check_iteration(run_dir, iteration, finished_iterations(run_dir))
    folder = run_dir / f"iter{iteration}"
    pairs = _read_pairs(folder / "pairs.jsonl")
    return IterationFiles(
        run_dir=run_dir,
        manifest=manifest,
        iteration=iteration,
        pairs=pairs,
        audit=_read_audit(run_dir, iteration, len(pairs)),
        stats=_optional_json(folder / "stats.json"),
        train=_optional_json(folder / "train.json"),
    )
