"""A small LLaVA-665k-format image source for tests: tests/fixtures/llava665k/ plus rendered images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.images.synthetic import make_scene

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "llava665k" / "llava_v1_5_mix665k_mini.json"


def make_llava665k(root: Path, *, drop_sources: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """(json file, image root) under ``root``: the fixture's entries (without those of ``drop_sources``),
    each image a synthetic scene saved at the entry's relative path."""
    entries = json.loads(FIXTURE.read_text())
    entries = [e for e in entries if not e.get("image") or e["image"].split("/")[0] not in drop_sources]
    images = root / "images"
    for k, entry in enumerate(entries):
        if entry.get("image"):
            path = images / entry["image"]
            path.parent.mkdir(parents=True, exist_ok=True)
            make_scene("llava665k-fixture", k).render().save(path, format="JPEG")
    json_path = root / FIXTURE.name
    shutil.copyfile(FIXTURE, json_path) if not drop_sources else json_path.write_text(json.dumps(entries))
    return json_path, images
