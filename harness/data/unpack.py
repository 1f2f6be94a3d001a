"""Safe extraction of downloaded zip and tar(.gz/.bz2/.xz) archives.

Every member is checked before anything is written: absolute names, ``..`` components, links
and special files are refused with a HarnessError naming the archive and the member. Tar archives
are then extracted with the standard library's ``data`` filter as a second line of defence.
A marker file next to the archive records what was extracted, so it is not extracted again.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from harness.atomic import read_json, write_json
from harness.errors import HarnessError

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def archive_kind(path: Path) -> str | None:
    """``"zip"``, ``"tar"`` or None, from the name first, then from the content."""
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith(_TAR_SUFFIXES):
        return "tar"
    if zipfile.is_zipfile(path):
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    return None


def marker_path(archive: Path) -> Path:
    """Where the 'already extracted' marker of ``archive`` lives (a hidden file beside it)."""
    return archive.with_name(f".{archive.name}.unpacked.json")


def is_unpacked(archive: Path, sha256: str) -> bool:
    """True when ``archive`` with this checksum was fully extracted before."""
    marker = marker_path(archive)
    if not marker.is_file():
        return False
    try:
        return read_json(marker).get("archive_sha256") == sha256
    except (HarnessError, AttributeError):
        return False


def _check_name(archive: Path, name: str, dest: Path) -> None:
    clean = name.replace("\\", "/")
    pure = PurePosixPath(clean)
    bad = clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in pure.parts
    if not bad:
        target = (dest / clean).resolve()
        bad = target != dest and dest not in target.parents
    if bad:
        raise HarnessError(
            f"{archive}: unsafe archive member {name!r} (it would be written outside {dest}); nothing was extracted"
        )


def _zip_members(archive: Path, zf: zipfile.ZipFile, dest: Path) -> list[str]:
    names = []
    for info in zf.infolist():
        _check_name(archive, info.filename, dest)
        file_type = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip records no Unix type
        if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
            raise HarnessError(
                f"{archive}: archive member {info.filename!r} is a link or special file; refused, nothing was extracted"
            )
        names.append(info.filename)
    return names


def _tar_members(archive: Path, tf: tarfile.TarFile, dest: Path) -> list[str]:
    names = []
    for member in tf.getmembers():
        _check_name(archive, member.name, dest)
        if not (member.isfile() or member.isdir()):
            raise HarnessError(
                f"{archive}: archive member {member.name!r} is a link or special file; refused, nothing was extracted"
            )
        names.append(member.name)
    return names


def unpack(archive: Path, sha256: str) -> int:
    """Extract ``archive`` into its own folder; returns the number of members extracted.

    All members are checked first; an unsafe one raises HarnessError and nothing is written.
    On success a marker records the archive's checksum (see ``is_unpacked``).
    """
    dest = archive.parent.resolve()
    kind = archive_kind(archive)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                names = _zip_members(archive, zf, dest)
                zf.extractall(dest)
        elif kind == "tar":
            with tarfile.open(archive) as tf:
                names = _tar_members(archive, tf, dest)
                tf.extractall(dest, filter="data")
        else:
            raise HarnessError(f"{archive}: marked to unpack but it is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise HarnessError(f"{archive}: cannot unpack ({type(exc).__name__}: {exc})") from None
    write_json(marker_path(archive), {"archive": archive.name, "archive_sha256": sha256, "members": len(names)})
    return len(names)
