"""Which model a result belongs to and where it goes: `--model` as a path, `tiny`, `RUN:ITER` or a run's
checkpoint; the θi of stored runs still to score (`harness eval` without `--model`); results paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError
from harness.report.results import ModelRef

DEFAULT_RUNS_DIR = Path("runs")
DEFAULT_RESULTS_DIR = Path("results")
DEFAULT_DATA_ROOT = Path("data")
RESULTS_FILENAME = "results.json"
_RUN_ITER = re.compile(r"^(?P<run>[^:/\\]+):(?P<iter>\d+)$")


# ------------------------------------------------------------------------------------ where things go


def model_slug(model_id: str) -> str:
    """A folder name for a model id: runs of characters other than letters, digits, ``.-_`` become ``_``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("_.")
    return slug or "model"


def results_path(
    ref: ModelRef, bench: str, runs_dir: Path = DEFAULT_RUNS_DIR, results_dir: Path = DEFAULT_RESULTS_DIR
) -> Path:
    """``runs/<run_id>/iter<i>/eval/<bench>/results.json`` for a run's model, else
    ``results/<model-slug>/<bench>/results.json``."""
    if ref.run_id is not None and ref.iteration is not None:
        return Path(runs_dir) / ref.run_id / f"iter{ref.iteration}" / "eval" / bench / RESULTS_FILENAME
    return Path(results_dir) / model_slug(ref.id) / bench / RESULTS_FILENAME


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    manifest = atomic.read_json(path)
    if not isinstance(manifest, dict):
        raise HarnessError(f"{path}: a run manifest must be a JSON object")
    return manifest


def _run_fields(run_dir: Path, manifest: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    """(run_id, base model, method, variant) of a run, from its manifest."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    run_id = str(manifest.get("run_id") or run_dir.name)
    base = manifest.get("base_model") or config.get("base_model")
    method = manifest.get("method") or config.get("method")
    variant = manifest.get("variant") or config.get("variant") or method
    return run_id, (str(base) if base is not None else None), method, variant


def _iterations(run_dir: Path) -> list[int]:
    found = []
    for child in run_dir.iterdir():
        m = re.fullmatch(r"iter(\d+)", child.name)
        if m and child.is_dir():
            found.append(int(m.group(1)))
    return sorted(found)


def run_model_ref(runs_dir: Path, run_id: str, iteration: int) -> ModelRef:
    """The model θ``iteration`` of run ``run_id``: its checkpoint (i ≥ 1) or the run's base model (i = 0)."""
    run_dir = Path(runs_dir) / run_id
    if not (run_dir / "manifest.json").is_file():
        raise HarnessError(f"{run_dir}: no such run (no manifest.json under {runs_dir})")
    rid, base, method, variant = _run_fields(run_dir, _read_manifest(run_dir))
    if iteration == 0:
        if base is None:
            raise HarnessError(f"{run_dir / 'manifest.json'}: no base_model recorded, so θ0 is unknown")
        return ModelRef(id=f"{rid}/theta0", path=base, run_id=rid, iteration=0, base=base)
    checkpoint = run_dir / f"iter{iteration}" / "checkpoint"
    if not (checkpoint / "config.json").is_file():
        raise HarnessError(f"{checkpoint}: no checkpoint for θ{iteration} of run {rid} (not trained yet?)")
    return ModelRef(
        id=f"{rid}/theta{iteration}",
        path=str(checkpoint),
        run_id=rid,
        iteration=iteration,
        method=method,
        variant=variant,
        base=base,
    )


def pending_models(runs_dir: Path, bench: str) -> list[ModelRef]:
    """Models of the runs under ``runs_dir`` with no results for ``bench`` yet.

    Every θi (i ≥ 1) whose checkpoint exists, run by run (sorted by folder name), then θ0: each
    distinct base model once (attached to the first run that uses it), unless some run already holds
    a θ0 result for that base. A folder without manifest.json is not a run and is skipped.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    trained: list[ModelRef] = []
    bases: dict[str, ModelRef] = {}
    base_done: set[str] = set()
    for run_dir in sorted(p for p in runs_dir.iterdir() if (p / "manifest.json").is_file()):
        rid, base, method, variant = _run_fields(run_dir, _read_manifest(run_dir))
        for i in _iterations(run_dir):
            done = (run_dir / f"iter{i}" / "eval" / bench / RESULTS_FILENAME).is_file()
            if i == 0:
                if done and base is not None:
                    base_done.add(base)
                continue
            checkpoint = run_dir / f"iter{i}" / "checkpoint"
            if done or not (checkpoint / "config.json").is_file():
                continue
            trained.append(
                ModelRef(
                    id=f"{rid}/theta{i}",
                    path=str(checkpoint),
                    run_id=rid,
                    iteration=i,
                    method=method,
                    variant=variant,
                    base=base,
                )
            )
        if base is not None and base not in bases:
            bases[base] = ModelRef(id=f"{rid}/theta0", path=base, run_id=rid, iteration=0, base=base)
    return trained + [ref for base, ref in bases.items() if base not in base_done]


def resolve_model(model: str | Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> ModelRef:
    """A model given on the command line: ``<run_id>:<i>`` (θi of a stored run), ``tiny``, a run's checkpoint
    folder (``runs/<run>/iter<i>/checkpoint``: that run's θi), or any other folder."""
    text = str(model)
    m = _RUN_ITER.match(text)
    if m and (Path(runs_dir) / m.group("run") / "manifest.json").is_file():
        return run_model_ref(runs_dir, m.group("run"), int(m.group("iter")))
    if m and not Path(text).exists():
        raise HarnessError(
            f"{text}: no run {m.group('run')!r} under {runs_dir} (a model is '<run_id>:<i>', "
            "'tiny' or a checkpoint folder)"
        )
    if text == "tiny":
        return ModelRef(id="tiny", path="tiny", base="tiny")
    path = Path(text)
    # a run's checkpoint given by its path (runs/<run>/iter<i>/checkpoint) is that run's θi
    if path.name == "checkpoint" and re.fullmatch(r"iter\d+", path.parent.name):
        run_dir = path.parent.parent
        if (run_dir / "manifest.json").is_file() and (path / "config.json").is_file():
            return run_model_ref(run_dir.parent, run_dir.name, int(path.parent.name[4:]))
    return ModelRef(id=text, path=str(path.resolve()) if path.exists() else None)


# ------------------------------------------------------------------------------------ dry run
