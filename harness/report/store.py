"""Where a result is stored, what identifies it, and when a stored one may be reused or replaced.

One (model, benchmark) folder holds, for the benchmark's full item set::

    results.json              the result: complete, identified (harness/report/results.py)
    results.partial.json      the last incomplete attempt (judgements missing), never the result
    <predictions file>        generated predictions, in the benchmark's official format
    generation.json           what generated them (model identity, items, decoding), so a rerun reuses them

and for a ``--limit N`` smoke run the same names tagged ``limit<N>`` (``results.limit2.json``,
``results.limit2.partial.json``, ``predictions.limit2.jsonl``, ``generation.limit2.json``): a smoke
result never replaces the full one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError
from harness.report.results import Results, identity_differences, load_results

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ResultSlot:
    """The files of one result: ``results`` (complete only), ``partial``, ``predictions`` and ``generation``."""

    results: Path
    partial: Path
    predictions: Path
    generation: Path
    limit: int | None = None


def _tagged(path: Path, tag: str) -> Path:
    """``results.json`` + ``limit2`` → ``results.limit2.json`` (the tag goes before the last suffix)."""
    if not tag:
        return path
    return path.with_name(f"{path.stem}.{tag}{path.suffix}") if path.suffix else path.with_name(f"{path.name}.{tag}")


def result_slot(results_file: Path, predictions_name: str, limit: int | None) -> ResultSlot:
    """The files of the result whose full-set results file is ``results_file``; ``limit``: a smoke run's N."""
    results_file = Path(results_file)
    tag = f"limit{limit}" if limit is not None else ""
    main = _tagged(results_file, tag)
    partial = _tagged(main, "partial")
    predictions = _tagged(results_file.parent / predictions_name, tag)
    generation = _tagged(results_file.parent / "generation.json", tag)
    return ResultSlot(main, partial, predictions, generation, limit)


# ------------------------------------------------------------------------------------ content hashes


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def folder_sha256(folder: Path) -> str:
    """A content hash of a checkpoint folder: every regular file below it (hidden ones left out), by relative
    path and content, in sorted order. Renaming or moving the folder keeps the hash; retraining changes it."""
    folder = Path(folder)
    h = hashlib.sha256()
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    for path in files:
        rel = path.relative_to(folder).as_posix()
        h.update(rel.encode("utf-8") + b"\0" + str(path.stat().st_size).encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


def items_identity(item_ids: Sequence[str], limit: int | None) -> dict[str, Any]:
    """The item subset scored: the ``--limit`` (None for the full set), the count and a hash of the ids in order."""
    digest = hashlib.sha256("\n".join(item_ids).encode("utf-8")).hexdigest()[:16]
    return {"limit": limit, "count": len(item_ids), "sha256": digest}


# ------------------------------------------------------------------------------------ reuse or refuse


def stored_result(slot: ResultSlot, identity: dict[str, Any], *, out_option: str = "--out") -> Results | None:
    """The stored result of ``slot`` when it has this ``identity`` (reuse it), None when there is none.

    A stored result of another identity, one without an identity (an earlier harness) or one that
    cannot be read is never replaced: HarnessError naming the file and what differs.
    """
    path = slot.results
    if not path.exists():
        return None
    try:
        old = load_results(path)
    except HarnessError as exc:
        raise HarnessError(f"{exc}. It is left as it is; move it away or give another {out_option}") from None
    if not old.identity:
        raise HarnessError(
            f"{path}: a result written without an identity (an earlier harness version); it is "
            f"kept: move it away to score again here, or give another {out_option}"
        )
    diff = identity_differences(old.identity, identity)
    if diff:
        raise HarnessError(
            f"{path} holds another result (it differs in {', '.join(diff)}); it is kept: "
            f"give another {out_option} to store this one apart"
        )
    return old


def reusable_predictions(slot: ResultSlot, provenance: dict[str, Any]) -> bool:
    """True when ``slot.predictions`` were generated by the same model for the same items and decoding
    (recorded in ``slot.generation``) and are unchanged since."""
    if not (slot.generation.is_file() and slot.predictions.is_file()):
        return False
    try:
        recorded = atomic.read_json(slot.generation)
    except HarnessError:
        return False
    if not isinstance(recorded, dict):
        return False
    same = {k: recorded.get(k) for k in provenance} == provenance
    return same and recorded.get("predictions_sha256") == file_sha256(slot.predictions)


def record_generation(slot: ResultSlot, provenance: dict[str, Any]) -> None:
    """Write ``slot.generation``: what produced ``slot.predictions`` and their hash."""
    atomic.write_json(
        slot.generation,
        {**provenance, "predictions_file": slot.predictions.name, "predictions_sha256": file_sha256(slot.predictions)},
    )


def remove_partial(slot: ResultSlot) -> None:
    try:
        os.unlink(slot.partial)
    except FileNotFoundError:
        pass
