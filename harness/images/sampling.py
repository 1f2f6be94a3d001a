"""Seeded sampling of N iterations × M images, without replacement and disjoint across iterations.

The whole pool is permuted once with ``random.Random(seed)``; iteration i takes the next M images
that open. Unreadable images are skipped, counted and reported, never fatal. The same seed and
pool always give the same split, so a resumed run sees the same images.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.images.sources import ImageRef, ImageSource


@dataclass
class ImageSplit:
    iterations: list[list[ImageRef]]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image id, reason)


def sample_iterations(source: ImageSource, iterations: int, per_iter: int, seed: int) -> ImageSplit:
    if iterations < 1 or per_iter < 1:
        raise HarnessError(f"need at least one iteration and one image per iteration (got {iterations}×{per_iter})")
    refs = source.refs()
    need = iterations * per_iter
    if len(refs) < need:
        raise HarnessError(f"image source has {len(refs)} images; {iterations} iterations × {per_iter} need {need}")
    order = random.Random(seed).sample(range(len(refs)), len(refs)) if len(refs) <= 1_000_000 else None
    if order is None:  # very large pools: sample indices without a full permutation
        order = random.Random(seed).sample(range(len(refs)), min(len(refs), need * 2))
    chosen: list[ImageRef] = []
    skipped: list[tuple[str, str]] = []
    for idx in order:
        if len(chosen) == need:
            break
        ref = refs[idx]
        try:
            source.open(ref)
        except Exception as exc:  # any unreadable file: skip and count
            skipped.append((ref.id, f"{type(exc).__name__}: {exc}"))
            continue
        chosen.append(ref)
    if len(chosen) < need:
        raise HarnessError(
            f"only {len(chosen)} readable images in the source ({len(skipped)} unreadable); {need} needed"
        )
    return ImageSplit([chosen[i * per_iter:(i + 1) * per_iter] for i in range(iterations)], skipped)
