"""Before a benchmark's data is scored: it is the release the protocol card names, or the user says it is theirs.

A result records the benchmark's data version (``ProtocolCard.data_version``, part of its identity), so a
fixture, a truncated download or an edited label file must never be scored under the release's name.
``check_release_data`` compares every file the benchmark declares (``Benchmark.data_sources()``) that is on
disk with its published checksum, or with the one ``harness data pull`` recorded in ``checksums.json``
(``harness.data.pull.release_mismatches``), and refuses a mismatch (exit 2) with the file, both checksums and
the two ways on: ``harness data pull`` to get the release, or ``--own-data``.

``--own-data`` says the files are the user's own (their split, their fixture, a translated set): nothing is
compared, and the result's protocol names the data as the user's, with a digest of the files read, so it
never stands for the release in a leaderboard (``own_data_card``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from harness.benchmark import Benchmark, ProtocolCard
from harness.errors import HarnessError


def check_release_data(bench: Benchmark, data_dir: Path | None) -> None:
    """Refuse data files that differ from the release the benchmark declares (the module doc)."""
    sources = bench.data_sources()
    if data_dir is None or not sources:
        return
    from harness.data.pull import release_mismatches

    bad = release_mismatches(sources, Path(data_dir))
    if not bad:
        return

    def short(digest: str | None) -> str:
        return (digest or "?")[:19] + "…"  # "sha256:" and 12 hex digits; `harness data check` prints them whole

    shown = "; ".join(f"{e.path} ({e.detail}: {short(e.actual)} instead of {short(e.expected)})" for e in bad[:3])
    more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
    raise HarnessError(
        f"{data_dir}: not {bench.name}'s release data, so not scored under its name: {shown}{more}. "
        f"`harness data pull {bench.name} --data-dir {data_dir}` fetches the release (`harness data check` lists "
        f"every file); if these files are your own data, pass --own-data (the result then names them as yours)"
    )


def own_data_card(bench: Benchmark, card: ProtocolCard, data_dir: Path | None) -> ProtocolCard:
    """The card of a result on the user's own data: the data version names them (a digest of the declared files
    present, so the same files in another folder are the same data), never the release; a deviation says so."""
    root = Path(data_dir) if data_dir is not None else None
    digest = hashlib.sha256()
    files = 0
    for source in bench.data_sources() if root is not None else ():
        path = root / source.path
        if source.manual or not path.is_file():  # images placed by hand are not hashed (gigabytes)
            continue
        from harness.data.http import hash_file

        digest.update(f"{source.path}\0{hash_file(path).digests()['sha256']}\n".encode())
        files += 1
    version = f"own data (--own-data), not {bench.name}'s release: {files} declared file(s), sha256 "
    version += digest.hexdigest()[:16]
    return dataclasses.replace(
        card,
        data_version=version,
        reference_numbers={},  # published numbers are the release's
        deviations=[
            *card.deviations,
            f"Scored on the user's own data (--own-data), not the release named by the protocol ({card.data_version}).",
        ],
    )
