"""A digest of the benchmark items a result was scored on: what a judge is shown besides the predictions.

A judge's verdict depends on the item as much as on the answer: the question, the reference answer, the
caption, the labels (``BenchItem.prompt`` and ``meta``). ``items_digest`` hashes them, in order, so that
``harness rejudge`` can refuse to judge stored predictions again when the benchmark's data changed since they
were scored (a new release, an edited label file): the two judgements would not be of the same thing.

Image files are named, not read (the judges judge text; hashing gigabytes of images on every evaluation is
not worth it, and ``harness data check`` compares them with the release). A path in ``meta`` counts by its
file name only, so the same data in another folder has the same digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from harness.benchmark import BenchItem


def _plain(value: Any) -> Any:
    if isinstance(value, PurePath):
        return value.name
    return str(value)


def items_digest(items: Sequence[BenchItem]) -> str:
    """SHA-256 (hex) of the items' ids, prompts, metadata and image file names, in order."""
    h = hashlib.sha256()
    for item in items:
        line = [item.id, item.prompt, item.meta, PurePath(item.image).name if item.image is not None else None]
        blob = json.dumps(line, sort_keys=True, ensure_ascii=False, default=_plain)
        h.update(blob.encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()
