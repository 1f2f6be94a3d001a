"""The built world, shipped: the tiny LLaVA and the tiny CLIP built once by their recipes and installed
with the package, so that every user and every CI run starts from the same θ0 and builds nothing.

A build is deterministic on one machine, but not across machines: another CPU (or another thread
count) sums floating-point numbers in another order, and a few hundred warm-up steps turn that into
another model (docs/proving-ground.md measures how far). The shipped folders end that: each holds the
model files, its ``shipped.json`` (the recipe's fingerprint, what it was built with and on, the
SHA-256 of every file) and is used whenever the fingerprint of the recipe and warm-up corpus asked for
equals the shipped one. A different fingerprint (another seed, a plugin that adds warm-up tasks, a
changed recipe) builds into the cache as before; ``harness tiny rebuild`` rebuilds the shipped recipe
locally and reports how far it lands from the shipped model.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
MANIFEST = "shipped.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped_folder(name: str) -> Path:
    return SHIPPED_DIR / name


def read_manifest(name: str) -> dict[str, Any] | None:
    """The shipped model's manifest, or None when none is shipped under ``name``."""
    path = shipped_folder(name) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def shipped_model(name: str, fingerprint: str) -> Path | None:
    """The shipped folder of ``name`` when it was built from this fingerprint, its files checked against
    their recorded SHA-256 (a truncated or edited file is an error naming it, never a silent rebuild)."""
    manifest = read_manifest(name)
    if manifest is None or manifest.get("fingerprint") != fingerprint:
        return None
    folder = shipped_folder(name)
    for file, digest in manifest["files"].items():
        path = folder / file
        if not path.is_file():
            raise HarnessError(f"{path}: a file of the shipped {name} model is missing; reinstall the package")
        if _sha256(path) != digest:
            raise HarnessError(
                f"{path}: its SHA-256 differs from the one recorded in {folder / MANIFEST}; reinstall the package"
            )
    return folder


def build_environment() -> dict[str, Any]:
    """What a build ran on: versions, processor and thread count (they decide the floating-point sums)."""
    import tokenizers
    import torch
    import transformers

    from harness.runs import machine_info

    machine = machine_info()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "machine": machine["arch"],
        "cpu": machine["cpu"],
        "torch_threads": torch.get_num_threads(),
    }


def ship(built: Path, name: str, fingerprint: str, notes: dict[str, Any] | None = None) -> Path:
    """Copy a built model folder into the package's shipped folder with its manifest (for maintainers:
    ``harness tiny rebuild --ship``)."""
    folder = shipped_folder(name)
    tmp = atomic.make_temp_dir(f".{name}-ship-", SHIPPED_DIR)
    try:
        files = {}
        for src in sorted(p for p in built.iterdir() if p.is_file() and not p.name.startswith(".")):
            shutil.copy2(src, tmp / src.name)
            files[src.name] = _sha256(tmp / src.name)
        manifest = {"name": name, "fingerprint": fingerprint, "built_on": build_environment(), "files": files}
        manifest.update(notes or {})
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
