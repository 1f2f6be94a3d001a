"""``harness inspect``: write the viewer pages of a run's finished iterations.

Output: ``<out>/iter<i>.html`` and its pictures in ``<out>/iter<i>.files/`` (PNG), where ``<out>`` is
``RUN/inspect`` unless ``--out`` names another folder. Nothing else is written: the run's own files are
only read. Every input is checked before the first file is written (run_files.py), a page and its
pictures folder replace only what an earlier ``harness inspect`` wrote (a folder is marked, a page names
its generator), and ``--out`` inside the run folder is accepted only under ``RUN/inspect``, so a page
never lands among the run's results. The pictures folder is built under a temporary name and renamed
into place; one process at a time writes an output folder (``RunLock``: its empty lock file
``.<folder>.lock`` sits beside it, ``RUN/.inspect.lock`` by default).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness import atomic
from harness.errors import HarnessError
from harness.pairview.page import is_ours, render_page
from harness.pairview.pictures import Pictures
from harness.pairview.records import header, noise_summary, pair_records
from harness.pairview.run_files import IterationFiles, check_iteration, finished_iterations, open_run, read_iteration
from harness.runs import RunLock

DEFAULT_FOLDER = "inspect"
FILES_MARK = ".harness-inspect"


@dataclass(frozen=True)
class Written:
    iteration: int
    pairs: int
    page: Path
    pictures: int


def default_out(run_dir: Path) -> Path:
    return Path(run_dir) / DEFAULT_FOLDER


def check_out(run_dir: Path, out: Path, iterations: list[int], label: str | None = None) -> None:
    """Refuse an output folder where a page could replace what ``harness inspect`` did not write
    (``label``: the folder as the user named it, ``--out DIR``)."""
    label = label or str(out)
    run, where, own = Path(run_dir).resolve(), Path(out).resolve(), default_out(run_dir).resolve()
    if (where == run or run in where.parents) and not (where == own or own in where.parents):
        raise HarnessError(
            f"{label}: inside the run folder {run_dir}, among its results; give a folder outside it, "
            f"or leave --out out ({default_out(run_dir)})"
        )
    if out.exists() and not out.is_dir():
        raise HarnessError(f"{label}: not a folder")
    for i in iterations:
        page, files = out / f"iter{i}.html", out / f"iter{i}.files"
        if page.exists() and not (page.is_file() and is_ours(page.read_text(encoding="utf-8", errors="replace"))):
            raise HarnessError(f"{label}: {page} exists and was not written by harness inspect; give another --out")
        if files.exists() and not (files / FILES_MARK).is_file():
            raise HarnessError(f"{label}: {files} exists and was not written by harness inspect; give another --out")


def _fallback_checkpoints(it: IterationFiles) -> list[Path]:
    """Where the generating checkpoint's image processor is, if the path a pair records is gone."""
    found = []
    if it.iteration > 1:
        found.append(it.run_dir / f"iter{it.iteration - 1}" / "checkpoint")
    base = it.manifest.get("base_model") or it.config.get("base_model")
    if base and Path(str(base)).is_dir():
        found.append(Path(str(base)))
    return found


def _swap_in(tmp: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_iteration(it: IterationFiles, out: Path) -> Written:
    i, name = it.iteration, f"iter{it.iteration}"
    tmp = atomic.make_temp_dir(f".{name}.files.", out)
    try:
        (tmp / FILES_MARK).write_text("written by `harness inspect`; the next `harness inspect` replaces it\n")
        pictures = Pictures(it.source, tmp, _fallback_checkpoints(it))
        records, facets = pair_records(it, pictures, f"{name}.files/")
        run_id = it.manifest.get("run_id") or it.run_dir.name
        data = {
            "title": f"{run_id} · θ{i}: {len(records)} preference pairs",
            "header": header(it, noise_summary(records)),
            "facets": facets,
            "pairs": records,
        }
        page = render_page(data)
        n_pictures = sum(1 for p in tmp.iterdir() if p.suffix == ".png")
        _swap_in(tmp, out / f"{name}.files")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic.write_text(out / f"{name}.html", page)
    return Written(i, len(records), out / f"{name}.html", n_pictures)


def inspect_run(run_dir: Path, iteration: int | None = None, out: Path | None = None) -> list[Written]:
    """Write the viewer page of iteration ``iteration`` of the run (None: of every finished iteration)."""
    run_dir = Path(run_dir)
    manifest = open_run(run_dir)
    finished = finished_iterations(run_dir)
    if iteration is None:
        if not finished:
            raise HarnessError(
                f"{run_dir}: no iteration has finished its synthesis yet (no stages/synthesize-<i>.done): no pairs to show"
            )
        iterations = finished
    else:
        check_iteration(run_dir, iteration, finished)
        iterations = [iteration]
    its = [read_iteration(run_dir, manifest, i) for i in iterations]  # every input checked before any write
    label = f"--out {out}" if out is not None else None
    out = Path(out) if out is not None else default_out(run_dir)
    check_out(run_dir, out, iterations, label)
    try:
        with RunLock(out, "inspect folder"):
            return [write_iteration(it, out) for it in its]
    except PermissionError as exc:
        raise HarnessError(
            f"{label or out}: cannot write there ({exc.strerror}); give a writable folder with --out"
        ) from None
