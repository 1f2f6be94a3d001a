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


# ------------------------------------------------------------------------------------ a stage split into shards
# A long stage can be split across several processes or cluster jobs (``harness reproduce --synthesis-shards``):
# shard k of S works through its contiguous block of the stage's chunks and journals them in a file of its own
# beside the stage's journal (two writers never share a file); the process that finishes the stage adopts
# every shard's chunks into the stage's journal, so its final file is the one a single process writes.


def shard_path(path: Path, shard: int, shards: int) -> Path:
    """The journal of shard ``shard`` (0-based) of ``shards``, beside the stage's journal ``path``."""
    return Path(path).with_name(f"{Path(path).stem}.shard{shard}-of-{shards}{Path(path).suffix}")


def shard_chunks(n_chunks: int, shard: int, shards: int) -> range:
    """The chunks shard ``shard`` of ``shards`` works on: a contiguous block, sizes differing by at most one."""
    if shards < 1 or not 0 <= shard < shards:
        raise HarnessError(f"shard {shard} of {shards}: need 0 ≤ shard < shards")
    base, extra = divmod(n_chunks, shards)
    start = shard * base + min(shard, extra)
    return range(start, start + base + (1 if shard < extra else 0))


def shard_journal(path: Path, header: dict[str, Any], shard: int, shards: int) -> Journal:
    """Shard ``shard``'s journal; its header is the stage's plus the shard's place, so a shard journal of
    another chunking (or another stage) is never adopted."""
    return Journal(shard_path(path, shard, shards), {**header, "shard": shard, "shards": shards})


def _shard_files(path: Path) -> list[tuple[Path, int, int]]:
    import re

    path = Path(path)
    pattern = re.compile(re.escape(path.stem) + r"\.shard(\d+)-of-(\d+)" + re.escape(path.suffix))
    found = []
    for p in sorted(path.parent.glob(f"{path.stem}.shard*-of-*{path.suffix}")):
        m = pattern.fullmatch(p.name)
        if m and int(m.group(1)) < int(m.group(2)):
            found.append((p, int(m.group(1)), int(m.group(2))))
    return found


def adopt_shards(journal: Journal) -> int:
    """Copy the chunks the shards journaled (``shard_journal``) into ``journal``, in chunk order; returns how
    many chunks were adopted. A shard journal of another chunking is dropped, as a stage journal would be."""
    adopted = 0
    for p, k, n in _shard_files(journal.path):
        part = Journal(p, {**journal.header, "shard": k, "shards": n})
        for chunk in sorted(part.chunks):
            if not journal.done(chunk):
                journal.append(chunk, {key: v for key, v in part.chunks[chunk].items() if key != "chunk"})
                adopted += 1
    return adopted


def remove_shards(path: Path) -> None:
    """Delete the shard journals beside ``path`` (after the stage's final file is written)."""
    for p, _, _ in _shard_files(path):
        p.unlink(missing_ok=True)
