"""``harness data pull`` and ``harness data check``: fetch and verify a benchmark's release files.

``pull`` downloads every non-manual ``DataSource`` into the benchmark's data directory through a
``.part`` file (resumed with an HTTP Range request after an interruption), verifies the published
SHA-256/MD5, renames the ``.part`` onto the target, records the checksum actually seen in
``checksums.json`` and extracts archives marked ``unpack``. ``check`` reports, without touching
the network, which files are present, missing, corrupted or still to be fetched by hand.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from harness.atomic import read_json, write_json
from harness.benchmark import DataSource
from harness.data.http import fetch, hash_file
from harness.data.unpack import is_unpacked, unpack
from harness.errors import HarnessError

CHECKSUMS_FILE = "checksums.json"
PART_SUFFIX = ".part"


# ---------------------------------------------------------------------------- reports


@dataclass
class PullEntry:
    """What ``pull`` did for one source.

    ``status``: ``downloaded`` (fetched now), ``present`` (already there and verified, skipped),
    ``manual-present`` / ``manual-missing`` (a file the user fetches by hand).
    """

    path: str
    status: str
    size: int | None = None
    sha256: str | None = None
    resumed_from: int = 0  # bytes of an earlier interrupted download that were kept
    range_ignored: bool = False  # the server ignored the Range request and sent the whole file
    attempts: int = 0
    unpacked: int | None = None  # members extracted now (None: not an archive / not extracted now)
    replaced: str = ""  # why an existing file was fetched again
    note: str = ""


@dataclass
class PullReport:
    """The result of ``pull``: one entry per source, in order."""

    data_dir: Path
    entries: list[PullEntry] = field(default_factory=list)

    @property
    def manual_missing(self) -> list[PullEntry]:
        """Manual sources still to be fetched by hand (their ``note`` says how)."""
        return [e for e in self.entries if e.status == "manual-missing"]

    @property
    def complete(self) -> bool:
        """True when every source, manual ones included, is on disk."""
        return not self.manual_missing


@dataclass
class CheckEntry:
    """The state of one source on disk.

    ``status``: ``present``, ``missing``, ``checksum-mismatch`` or ``manual-missing``.
    ``expected``/``actual``: the checksums compared (``algo:hex``) when they differ.
    ``unpacked``: for archives, whether they were extracted (None for other files).
    """

    path: str
    status: str
    manual: bool = False
    size: int | None = None
    sha256: str | None = None
    expected: str | None = None
    actual: str | None = None
    unpacked: bool | None = None
    partial: int | None = None  # bytes in a leftover .part (a pull resumes from there)
    detail: str = ""
    note: str = ""


@dataclass
class CheckReport:
    """The result of ``check``: one entry per source, in order."""

    data_dir: Path
    entries: list[CheckEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every source is present, verified, and extracted where it is an archive."""
        return all(e.status == "present" and e.unpacked is not False for e in self.entries)


# ---------------------------------------------------------------------------- helpers


def _target(data_dir: Path, source: DataSource) -> Path:
    pure = PurePosixPath(source.path)
    if not source.path or pure.is_absolute() or ".." in pure.parts or "\\" in source.path:
        raise HarnessError(
            f"data source {source.path!r}: the path must be relative to the data directory, without '..'"
        )
    if pure.name == CHECKSUMS_FILE and len(pure.parts) == 1:
        raise HarnessError(f"data source {source.path!r}: this name is reserved for the checksum record")
    return data_dir / Path(*pure.parts)


def _expected(source: DataSource) -> tuple[str, str] | None:
    """The published checksum to verify against, SHA-256 preferred."""
    if source.sha256:
        return "sha256", source.sha256.strip().lower()
    if source.md5:
        return "md5", source.md5.strip().lower()
    return None


def _mismatch(source: DataSource, digests: dict[str, str]) -> tuple[str, str] | None:
    """(expected, actual) as ``algo:hex`` when a published checksum is not met, else None."""
    for algo, want in (("sha256", source.sha256), ("md5", source.md5)):
        if want and digests.get(algo) != want.strip().lower():
            return f"{algo}:{want.strip().lower()}", f"{algo}:{digests.get(algo)}"
    return None


def _load_record(data_dir: Path) -> dict[str, dict]:
    path = data_dir / CHECKSUMS_FILE
    if not path.is_file():
        return {}
    data = read_json(path)
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise HarnessError(
            f"{path}: expected an object with a 'files' mapping; delete the file to rebuild it on the next pull"
        )
    return files


def _save_record(data_dir: Path, source: DataSource, size: int, digests: dict[str, str]) -> None:
    files = _load_record(data_dir)
    files[source.path] = {"size": size, "url": source.url, **digests}
    write_json(data_dir / CHECKSUMS_FILE, {"version": 1, "files": files})


def _recorded_change(record: dict[str, dict], source: DataSource, digests: dict[str, str]) -> str | None:
    """The sha256 recorded at pull time when the file no longer matches it, else None."""
    seen = record.get(source.path, {}).get("sha256")
    if seen and seen != digests["sha256"]:
        return seen
    return None


def _progress(enabled: bool, console: Console | None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )


# ---------------------------------------------------------------------------- pull


def pull(
    sources: Sequence[DataSource],
    data_dir: Path,
    *,
    progress: bool = True,
    force: bool = False,
    retries: int = 4,
    retry_wait: float = 1.0,
    timeout: float = 60.0,
    console: Console | None = None,
) -> PullReport:
    """Download, verify and unpack every non-manual source into ``data_dir``.

    Files already present that match their published checksum (or, without one, the checksum
    recorded at the last pull) are skipped unless ``force``. A checksum mismatch deletes the
    download and raises HarnessError naming the file and both checksums. Connection errors and
    5xx answers are retried ``retries`` times with exponential backoff starting at ``retry_wait``
    seconds; an interrupted download keeps its ``.part`` file and the next pull resumes it.
    Manual sources are only reported, with their note.
    """
    data_dir = Path(data_dir)
    report = PullReport(data_dir=data_dir)
    targets = [_target(data_dir, s) for s in sources]  # refuse bad paths before any download
    with _progress(progress, console) as bar:
        for source, target in zip(sources, targets):
            report.entries.append(
                _pull_one(
                    source, target, data_dir, bar, force=force, retries=retries, retry_wait=retry_wait, timeout=timeout
                )
            )
    return report


def _pull_one(
    source: DataSource,
    target: Path,
    data_dir: Path,
    bar: Progress,
    *,
    force: bool,
    retries: int,
    retry_wait: float,
    timeout: float,
) -> PullEntry:
    want_md5 = bool(source.md5)
    if source.manual:
        if not target.is_file():
            return PullEntry(path=source.path, status="manual-missing", note=source.note)
        digests = hash_file(target, md5=want_md5).digests()
        bad = _mismatch(source, digests)
        if bad:
            raise HarnessError(
                f"{target}: checksum mismatch for a manually placed file: expected "
                f"{bad[0]}, got {bad[1]}. Fetch it again: {source.note}"
            )
        _save_record(data_dir, source, target.stat().st_size, digests)
        return PullEntry(
            path=source.path,
            status="manual-present",
            size=target.stat().st_size,
            sha256=digests["sha256"],
            note=source.note,
            unpacked=_maybe_unpack(source, target, digests["sha256"], force),
        )
    if not source.url:
        raise HarnessError(f"data source {source.path!r}: no URL and not marked manual")

    replaced = ""
    if target.is_file() and not force:
        digests = hash_file(target, md5=want_md5).digests()
        bad = _mismatch(source, digests)
        changed = None if _expected(source) else _recorded_change(_load_record(data_dir), source, digests)
        if not bad and not changed:
            _save_record(data_dir, source, target.stat().st_size, digests)
            return PullEntry(
                path=source.path,
                status="present",
                size=target.stat().st_size,
                sha256=digests["sha256"],
                unpacked=_maybe_unpack(source, target, digests["sha256"], force),
            )
        replaced = (
            f"the file on disk had {bad[1]}, expected {bad[0]}"
            if bad
            else f"the file on disk changed since the last pull (sha256 was {changed})"
        )
    elif force and target.is_file():
        replaced = "--force"

    part = target.with_name(target.name + PART_SUFFIX)
    if force:
        part.unlink(missing_ok=True)
    task = bar.add_task(source.path, total=None)

    def start(total: int | None, completed: int) -> None:
        bar.reset(task, total=total, completed=completed)

    def advance(n: int) -> None:
        bar.advance(task, n)

    result = fetch(
        source.url,
        part,
        name=str(target),
        md5=want_md5,
        retries=retries,
        retry_wait=retry_wait,
        timeout=timeout,
        start=start,
        advance=advance,
    )
    bad = _mismatch(source, result.digests)
    if bad:
        part.unlink(missing_ok=True)
        raise HarnessError(
            f"{target}: checksum mismatch: expected {bad[0]}, got {bad[1]} "
            f"(downloaded from {source.url}); the download was deleted"
        )
    os.replace(part, target)
    _save_record(data_dir, source, result.size, result.digests)
    return PullEntry(
        path=source.path,
        status="downloaded",
        size=result.size,
        sha256=result.digests["sha256"],
        resumed_from=result.resumed_from,
        range_ignored=result.range_ignored,
        attempts=result.attempts,
        replaced=replaced,
        unpacked=_maybe_unpack(source, target, result.digests["sha256"], force=True),
        note=source.note,
    )


def _maybe_unpack(source: DataSource, target: Path, sha256: str, force: bool) -> int | None:
    if not source.unpack or (not force and is_unpacked(target, sha256)):
        return None
    return unpack(target, sha256)


# ---------------------------------------------------------------------------- check


def check(sources: Sequence[DataSource], data_dir: Path) -> CheckReport:
    """Report, per source, whether it is present, missing, corrupted, or a manual file still missing.

    Files are hashed in full and compared with the published checksum, or, where none is
    published, with the checksum recorded in ``checksums.json`` at the last pull. No network.
    """
    data_dir = Path(data_dir)
    record = _load_record(data_dir)
    report = CheckReport(data_dir=data_dir)
    for source in sources:
        target = _target(data_dir, source)
        entry = CheckEntry(path=source.path, status="present", manual=source.manual, note=source.note)
        if not target.is_file():
            entry.status = "manual-missing" if source.manual else "missing"
            part = target.with_name(target.name + PART_SUFFIX)
            if part.is_file():
                entry.partial = part.stat().st_size
                entry.detail = f"partial download of {entry.partial} bytes; a pull resumes it"
            report.entries.append(entry)
            continue
        digests = hash_file(target, md5=bool(source.md5)).digests()
        entry.size = target.stat().st_size
        entry.sha256 = digests["sha256"]
        bad = _mismatch(source, digests)
        changed = None if _expected(source) else _recorded_change(record, source, digests)
        if bad:
            entry.status, (entry.expected, entry.actual) = "checksum-mismatch", bad
            entry.detail = "differs from the published checksum"
        elif changed:
            entry.status = "checksum-mismatch"
            entry.expected, entry.actual = f"sha256:{changed}", f"sha256:{digests['sha256']}"
            entry.detail = "changed since the last pull (checksums.json)"
        elif not _expected(source) and source.path not in record:
            entry.detail = "no published checksum; not pulled by the harness"
        if source.unpack:
            entry.unpacked = is_unpacked(target, digests["sha256"])
            if not entry.unpacked and entry.status == "present":
                entry.detail = "archive not extracted; a pull extracts it"
        report.entries.append(entry)
    return report


def release_mismatches(sources: Sequence[DataSource], data_dir: Path) -> list[CheckEntry]:
    """The files on disk that are not the release's, before anything is scored on them: present sources whose
    bytes differ from the published checksum, or, without one, from the checksum recorded when ``pull`` fetched
    them. Absent files (the benchmark's ``load`` names a missing file it needs) and files placed by hand without
    a published checksum are not looked at. No network."""
    data_dir = Path(data_dir)
    record = _load_record(data_dir)
    known = [
        s for s in sources if (_expected(s) or (not s.manual and s.path in record)) and _target(data_dir, s).is_file()
    ]
    return [e for e in check(known, data_dir).entries if e.status == "checksum-mismatch"]


# ---------------------------------------------------------------------------- rendering

_STYLE = {
    "present": "green",
    "downloaded": "green",
    "manual-present": "green",
    "missing": "yellow",
    "manual-missing": "yellow",
    "checksum-mismatch": "bold red",
}


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def render_check(report: CheckReport) -> Table:
    """A rich Table of a CheckReport (one row per source)."""
    table = Table(title=f"Data in {report.data_dir}", show_lines=False)
    for col in ("File", "Status", "Size", "SHA-256", "Detail"):
        table.add_column(col, overflow="fold")
    for e in report.entries:
        detail = e.detail
        if e.expected:
            detail = f"{detail}: expected {e.expected}, got {e.actual}"
        if e.status == "manual-missing":
            detail = f"fetch by hand, put it at {report.data_dir / e.path}. {e.note}".strip()
        if e.unpacked is True:
            detail = (detail + "; extracted").lstrip("; ")
        table.add_row(e.path, f"[{_STYLE.get(e.status, '')}]{e.status}", _size(e.size), (e.sha256 or "")[:16], detail)
    return table


def render_pull(report: PullReport) -> Table:
    """A rich Table of a PullReport (one row per source)."""
    table = Table(title=f"Pulled into {report.data_dir}")
    for col in ("File", "Result", "Size", "Detail"):
        table.add_column(col, overflow="fold")
    for e in report.entries:
        bits = []
        if e.replaced:
            bits.append(f"replaced: {e.replaced}")
        if e.resumed_from:
            bits.append(f"resumed from byte {e.resumed_from}")
        if e.range_ignored:
            bits.append("server ignored the Range request; downloaded again from the start")
        if e.attempts > 1:
            bits.append(f"{e.attempts} attempts")
        if e.unpacked is not None:
            bits.append(f"extracted {e.unpacked} members")
        if e.status == "manual-missing":
            bits.append(f"fetch by hand, put it at {report.data_dir / e.path}. {e.note}".strip())
        table.add_row(e.path, f"[{_STYLE.get(e.status, '')}]{e.status}", _size(e.size), "; ".join(bits))
    return table


__all__ = ["CheckEntry", "CheckReport", "PullEntry", "PullReport", "check", "pull", "render_check", "render_pull"]
