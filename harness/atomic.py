"""Atomic writes: nothing in a run directory is ever left half-written.

Every writer goes to a temporary file in the same directory, flushes and fsyncs it, then
renames it over the target (``os.replace`` is atomic on POSIX and Windows).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """The project's one JSON style: sorted keys, two-space indent, UTF-8, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, dumps_json(obj))


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    lines = [json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows]
    return write_text(path, "".join(line + "\n" for line in lines))


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """Read a JSONL file; a malformed line raises HarnessError naming the file and line."""
    from harness.errors import HarnessError

    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: file not found")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{path}:{lineno}: malformed JSON line ({exc.msg})") from None
    return rows


def read_json(path: str | os.PathLike) -> Any:
    from harness.errors import HarnessError

    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
