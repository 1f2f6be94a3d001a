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
so a killed stage simply runs again. The config recorded in the manifest must match on resume.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError

PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "diffusers", "vllm", "openai", "self-evolution-harness")


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def source_revision() -> str | None:
    """The git revision of the harness source, when it runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True,
                           text=True, timeout=5).stdout.strip()
    return rev.stdout.strip() + ("+dirty" if dirty else "")


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Run:
    dir: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return self.manifest["run_id"]

    @classmethod
    def open(cls, run_dir: Path, config: dict[str, Any], *, restart: bool = False,
             command: list[str] | None = None) -> "Run":
        """Create ``run_dir`` or resume it. A different config is refused unless ``restart``."""
        run_dir = Path(run_dir)
        mpath = run_dir / "manifest.json"
        if mpath.is_file():
            old = atomic.read_json(mpath)
            if old.get("config") == config and not restart:
                return cls(run_dir, old)
            if not restart:
                diff = sorted(k for k in set(old.get("config", {})) | set(config)
                              if old.get("config", {}).get(k) != config.get(k))
                raise HarnessError(
                    f"{run_dir} holds a run with a different config (differs in: {', '.join(diff)}); "
                    "use another --run-dir, or --restart to delete it and start over")
            shutil.rmtree(run_dir)
        elif run_dir.exists() and any(run_dir.iterdir()) and not restart:
            raise HarnessError(f"{run_dir} exists and is not a run directory (no manifest.json); use another --run-dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "run_id": run_dir.name,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command if command is not None else sys.argv,
            "config": config,
            "config_hash": config_hash(config),
            "packages": package_versions(),
            "git_rev": source_revision(),
        }
        # flattened keys the leaderboard reads
        for key in ("method", "variant", "base_model", "seed", "iterations", "images"):
            if key in config:
                manifest[key] = config[key]
        atomic.write_json(mpath, manifest)
        return cls(run_dir, manifest)

    def iter_dir(self, i: int) -> Path:
        return self.dir / f"iter{i}"

    def _marker(self, stage: str) -> Path:
        return self.dir / "stages" / f"{stage}.done"

    def done(self, stage: str) -> bool:
        return self._marker(stage).is_file()

    def mark_done(self, stage: str, **info: Any) -> None:
        info["finished"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        atomic.write_json(self._marker(stage), info)

    def stage_info(self, stage: str) -> dict[str, Any]:
        return atomic.read_json(self._marker(stage)) if self.done(stage) else {}
