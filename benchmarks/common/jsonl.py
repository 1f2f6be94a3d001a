"""Line-checked JSONL reading, integer fields and predictions keyed by id (used by ``chair``, ``objhal`` and ``pope``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def iter_jsonl(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a missing file or a bad line is a HarnessError."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: {what} not found")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{path}:{lineno}: malformed JSON line ({exc.msg})") from None
            if not isinstance(row, dict):
                raise HarnessError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def int_field(row: dict[str, Any], key: str, where: str) -> int:
    """An integer field (an int, or a string of digits); anything else is a HarnessError."""
    value = row.get(key)
    if isinstance(value, bool) or value is None:
        raise HarnessError(f"{where}: missing or non-integer field {key!r} ({value!r})")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise HarnessError(f"{where}: field {key!r} must be an integer, got {value!r}")


def keyed_predictions(
    path: Path, items, rows: Iterable[tuple[str, str, str]], id_name: str, what: str
) -> dict[str, str]:
    """``{key: text}`` from ``rows`` of (where, key, text), each already checked by the benchmark's reader;
    a key seen twice, or an item without a row, is a HarnessError naming the line or the ids."""
    predictions: dict[str, str] = {}
    for where, key, text in rows:
        if key in predictions:
            raise HarnessError(f"{where}: {id_name} {key} appears more than once")
        predictions[key] = text
    missing = [item.id for item in items if item.id not in predictions]
    if missing:
        raise missing_ids_error(path, missing, what)
    return predictions


def missing_ids_error(path: Path, missing: list[str], what: str = "prediction") -> HarnessError:
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return HarnessError(f"{path}: no {what} for id {shown}")
