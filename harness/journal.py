"""Append-only stage journals: a long stage resumes from its last finished chunk.

A streamed stage (synthesis, the reference pass) works through its inputs in fixed chunks. When a
chunk is finished, one JSON line with its results is appended to the stage's journal and fsynced.
A stage killed mid-chunk loses only that chunk: the rerun reads the journal, skips the chunks it
holds and starts at the first missing one. The stage's final file is then written from the journal
in chunk order, atomically, so it is byte-identical to an uninterrupted run's.

The first line of a journal is its header (the chunk size and what the stage is over); a rerun with
a different header starts the journal over rather than mixing two chunkings. A last line cut short
by a kill is ignored (and overwritten by the next append).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import HarnessError

T = TypeVar("T")


def chunked(items: Sequence[T], size: int) -> Iterator[tuple[int, Sequence[T]]]:
    """(chunk index, items) for consecutive chunks of ``size`` items (the last may be shorter)."""
    if size < 1:
        raise HarnessError(f"chunk size must be ≥ 1, got {size}")
    for k, start in enumerate(range(0, len(items), size)):
        yield k, items[start : start + size]


def recorded(path: Path, key: str, default: int) -> int:
    """``header[key]`` of the journal at ``path`` (the chunk size an interrupted stage used), else ``default``:
    a resumed stage keeps the chunking it started with."""
    try:
        with open(path, "rb") as fh:
            head = json.loads(fh.readline().decode("utf-8"))
        value = head["header"][key]
        return int(value) if isinstance(value, int) and value >= 1 else default
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return default


class Journal:
    """One stage's journal: ``header`` (a JSON object) then one line per finished chunk."""

    def __init__(self, path: Path, header: dict[str, Any]):
        self.path = Path(path)
        self.header = dict(header)
        self.chunks: dict[int, dict[str, Any]] = {}
        self._good_bytes = 0
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        good = 0
        records: list[dict[str, Any]] = []
        for n, raw in enumerate(lines[:-1], 1):  # the part after the last newline is cut short (or empty)
            try:
                rec = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise HarnessError(
                    f"{self.path}: line {n} is not a JSON object; delete the file to redo the stage from its start"
                ) from None
            records.append(rec)
            good += len(raw) + 1
        if not records or records[0].get("header") != self.header:
            self.path.unlink()  # another chunking (or an empty file): start over
            return
        for rec in records[1:]:
            self.chunks[int(rec["chunk"])] = rec
        self._good_bytes = good

    def done(self, chunk: int) -> bool:
        return chunk in self.chunks

    def append(self, chunk: int, record: dict[str, Any]) -> None:
        """Record a finished chunk (fsynced before returning)."""
        rec = {"chunk": chunk, **record}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "r+b" if self.path.exists() else "wb") as fh:
            if self._good_bytes == 0:
                fh.truncate(0)
                head = json.dumps({"header": self.header}, ensure_ascii=False) + "\n"
                fh.write(head.encode("utf-8"))
                self._good_bytes = len(head.encode("utf-8"))
            fh.seek(self._good_bytes)
            fh.truncate(self._good_bytes)  # drop a line a kill cut short
            line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
            self._good_bytes += len(line)
        self.chunks[chunk] = rec

    def records(self, n_chunks: int) -> list[dict[str, Any]]:
        """The records of chunks 0…n_chunks−1, in order (all must be present)."""
        missing = [k for k in range(n_chunks) if k not in self.chunks]
        if missing:
            raise HarnessError(f"{self.path}: chunks {missing[:5]} are missing")
        return [self.chunks[k] for k in range(n_chunks)]

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def merge_counts(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-chunk counts (numbers remaining after each step) summed key by key, in first-seen key order;
    nested dicts are summed the same way; a value that is not a number is kept from the first chunk."""
    out: dict[str, Any] = {}
    for p in parts:
        for k, v in p.items():
            if k not in out:
                out[k] = merge_counts([v]) if isinstance(v, dict) else v
            elif isinstance(v, dict) and isinstance(out[k], dict):
                out[k] = merge_counts([out[k], v])
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(out[k], (int, float)):
                out[k] = out[k] + v
    return out
