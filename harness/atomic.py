"""Atomic writes: nothing in a run directory is ever left half-written.

Every writer goes to a temporary file in the same directory, flushes and fsyncs it, then
renames it over the target (``os.replace`` is atomic on POSIX and Windows).

Files and folders honour the process umask as ``open``/``mkdir`` would (0644 files and 0755
folders under umask 022), although ``tempfile`` creates its temporaries 0600/0700: a run or a
cache shared with a group stays readable by it. Readers turn a file that is not UTF-8 or not
JSON into a HarnessError naming the file and the line.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process umask, read without changing it where the system says it (Linux), else by setting
    it and restoring it at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: 0666 less the umask."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` would give a new folder: 0777 less the umask."""
    return 0o777 & ~current_umask()


def make_temp_dir(prefix: str, dir: str | os.PathLike) -> Path:
    """A new temporary folder inside ``dir`` (to be renamed into place) with the umask's mode, not 0700."""
    Path(dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    os.chmod(tmp, dir_mode())
    return tmp


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())
        else:  # pragma: no cover - Windows has no fchmod (and no group modes)
            os.chmod(tmp, file_mode())
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
    for lineno, line in enumerate(read_text_utf8(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}:{lineno}: malformed JSON line ({exc.msg})") from None
    return rows


def utf8_error(path: str | os.PathLike, data: bytes, exc: UnicodeDecodeError) -> str:
    """A message naming the file, line and byte where ``data`` stops being UTF-8."""
    line = data.count(b"\n", 0, exc.start) + 1
    return f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"


def read_text_utf8(path: str | os.PathLike) -> str:
    """The text of a UTF-8 file (a BOM is dropped); a file that is not UTF-8 raises HarnessError naming the
    file, line and byte."""
    from harness.errors import HarnessError

    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HarnessError(utf8_error(path, data, exc)) from None


def read_json(path: str | os.PathLike) -> Any:
    from harness.errors import HarnessError

    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: file not found")
    try:
        return json.loads(read_text_utf8(path))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
