"""Run directories: a manifest, stage markers, and the files every stage writes.

Layout::

    runs/<run_id>/
      manifest.json                  command, config, seeds, package versions, source revision
      stages/<stage>.done            one marker per finished stage (JSON: when, what it wrote)
      iter<i>/                       i = 0 is the base model θ0; i ≥ 1 the iteration producing θi
        images.json                  the images this iteration uses
        pairs.jsonl, stats.json      the method's preference pairs and counts
        ref_logps.jsonl              reference log-probs of θ(i-1)
        checkpoint/                  θi as a full HF checkpoint (with its processor)
        eval/<bench>/results.json    scores of θi

A stage is skipped when its marker exists; its outputs are written atomically before the marker,
so a killed stage simply runs again. The config recorded in the manifest must match on resume,
except for the keys the caller declares continuable (``evolve``: the number of iterations and the
benchmarks), whose change is recorded in the manifest's ``history``. Any other difference raises
``RunConfigMismatch`` listing each differing key with its old and new value.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError

PACKAGES = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "diffusers",
    "vllm",
    "openai",
    "self-evolution-harness",
)


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine_info() -> dict[str, Any]:
    """The processor a run computed on (its floating-point sums depend on it) and how many cores it saw."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "arch": platform.machine(), "cores": os.cpu_count()}


def source_revision() -> str | None:
    """The git revision of the harness source, when it runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
    ).stdout.strip()
    return rev.stdout.strip() + ("+dirty" if dirty else "")


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The manifest of the run in ``run_dir``, or None when there is none; a corrupt one names its file."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        return None
    manifest = atomic.read_json(path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config", {}), dict):
        raise HarnessError(f"{path}: a run manifest must be a JSON object with a 'config' object")
    return manifest


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, old value, new value)`` for every key where two configs differ; nested objects are compared
    one level down (``train.learning_rate``), so a message can name the option."""
    out: list[tuple[str, Any, Any]] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend((f"{key}.{k}", a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
        else:
            out.append((key, a, b))
    return out


class RunConfigMismatch(HarnessError):
    """A run directory holds a run whose config differs in a key that cannot be continued."""

    def __init__(self, run_dir: Path, differences: list[tuple[str, Any, Any]]) -> None:
        self.run_dir = Path(run_dir)
        self.differences = differences
        names = ", ".join(d[0] for d in differences)
        super().__init__(
            f"{run_dir} holds a run with a different config (differs in: {names}); "
            "use another --run-dir, or --restart to delete it and start over"
        )


def as_stored(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as the manifest stores it (JSON: tuples become lists), so that comparisons are fair."""
    return json.loads(json.dumps(config, sort_keys=True, default=str))


def check_continuable(run_dir: Path, config: dict[str, Any], continuable: Sequence[str] = ()) -> dict[str, Any] | None:
    """The manifest of the run in ``run_dir`` (None: no run there) after checking that ``config`` can continue
    it: every differing key must be one of ``continuable`` (top-level keys), else RunConfigMismatch."""
    config = as_stored(config)
    manifest = read_manifest(run_dir)
    if manifest is None:
        return None
    blocking = [
        d for d in config_differences(manifest.get("config", {}), config) if d[0].split(".")[0] not in continuable
    ]
    if blocking:
        raise RunConfigMismatch(run_dir, blocking)
    return manifest


@dataclass
class Run:
    dir: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return self.manifest["run_id"]

    @classmethod
    def open(
        cls,
        run_dir: Path,
        config: dict[str, Any],
        *,
        restart: bool = False,
        command: list[str] | None = None,
        continuable: Sequence[str] = (),
    ) -> Run:
        """Create ``run_dir`` or resume it. A different config is refused (RunConfigMismatch) unless
        ``restart`` (delete and start over) or every difference is in a ``continuable`` key: then the
        manifest takes the new config and records the change in ``history``."""
        run_dir = Path(run_dir)
        config = as_stored(config)
        mpath = run_dir / "manifest.json"
        if mpath.is_file() and not restart:
            old = check_continuable(run_dir, config, continuable)
            assert old is not None
            if old.get("config") == config:
                return cls(run_dir, old)
            changed = [{"key": k, "old": a, "new": b} for k, a, b in config_differences(old.get("config", {}), config)]
            manifest = dict(old, config=config, config_hash=config_hash(config))
            manifest["history"] = list(old.get("history", [])) + [
                {"when": _now(), "command": command if command is not None else sys.argv, "changed": changed}
            ]
            cls._flatten(manifest, config)
            atomic.write_json(mpath, manifest)
            return cls(run_dir, manifest)
        if mpath.is_file():
            shutil.rmtree(run_dir)
        elif run_dir.exists() and any(run_dir.iterdir()) and not restart:
            raise HarnessError(f"{run_dir} exists and is not a run directory (no manifest.json); use another --run-dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "run_id": run_dir.name,
            "created": _now(),
            "command": command if command is not None else sys.argv,
            "config": config,
            "config_hash": config_hash(config),
            "packages": package_versions(),
            "machine": machine_info(),
            "git_rev": source_revision(),
        }
        cls._flatten(manifest, config)
        atomic.write_json(mpath, manifest)
        return cls(run_dir, manifest)

    @staticmethod
    def _flatten(manifest: dict[str, Any], config: dict[str, Any]) -> None:
        """Flattened keys the leaderboard reads."""
        for key in ("method", "variant", "base_model", "seed", "iterations", "images"):
            if key in config:
                manifest[key] = config[key]

    def iter_dir(self, i: int) -> Path:
        return self.dir / f"iter{i}"

    def _marker(self, stage: str) -> Path:
        return self.dir / "stages" / f"{stage}.done"

    def done(self, stage: str) -> bool:
        return self._marker(stage).is_file()

    def mark_done(self, stage: str, **info: Any) -> None:
        info["finished"] = _now()
        atomic.write_json(self._marker(stage), info)

    def stage_info(self, stage: str) -> dict[str, Any]:
        return atomic.read_json(self._marker(stage)) if self.done(stage) else {}


class RunLock:
    """An exclusive lock on a run folder (or any output), held by one process at a time.

    The lock is an ``fcntl`` lock on ``.<name>.lock`` beside the folder, so taking it creates nothing inside
    the folder; the lock dies with its process however it ends (a killed run leaves nothing stuck). The
    file holds the holder's pid, command and start time, which a refused process names.
    """

    def __init__(self, target: Path, what: str = "run folder") -> None:
        self.target = Path(target)
        self.path = self.target.parent / f".{self.target.name}.lock"
        self.what = what
        self._fh = None

    def __enter__(self) -> RunLock:
        import fcntl
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # held open while the lock is
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise HarnessError(
                f"{self.target}: this {self.what} is in use by {holder}; wait for it to finish (a killed "
                "process frees it at once), or write elsewhere (e.g. --run-id NAME for another run folder)"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} ({' '.join(sys.argv[1:4])}, since {_now()})\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()  # a released lock names nobody (and its file is the same after every run)
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
