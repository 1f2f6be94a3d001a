"""Seeded sampling of N iterations × M images, without replacement and disjoint across iterations (or, where
an ``ImagePlan`` says ``same_every_iteration``, one fixed set given to every iteration).

Two ways, both deterministic in the seed, both disjoint across iterations, and in both iteration i's
images do not depend on how many iterations are drawn (so a 1-iteration ablation run and a
3-iteration run see the same θ1 images):

- uniform (no plan, or a pool without per-source structure): the whole pool is permuted once with
  ``random.Random(seed)``; iteration i takes the next M images that open.
- per source (an ``ImagePlan`` on a pool whose images carry their source dataset, i.e. a LLaVA-665k
  file): each named source is permuted on its own (seeded by the seed and the source name) and
  iteration i takes the next ``quotas[source]`` readable images of each (e.g. 1,200 from each of
  COCO, GQA, OCR-VQA, TextVQA and VG; or 4k OCR-VQA + 8k TextVQA). The images of an iteration are
  then shuffled together (seeded).

A plan with ``same_every_iteration`` draws one iteration's images (either way above) and gives that same
set to every iteration, as a method whose paper re-samples one fixed prompt set with each round's model
does. Unreadable images are skipped, counted and reported, never fatal. The same seed and pool always
give the same split, so a resumed run sees the same images.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.errors import HarnessError
from harness.images.sources import ImageRef, ImageSource

# The five source datasets of LLaVA-1.5's instruction mix (llava_v1_5_mix665k.json), by image folder.
LLAVA_665K_SOURCES = ("coco", "gqa", "ocr_vqa", "textvqa", "vg")


@dataclass(frozen=True)
class ImagePlan:
    """Images per iteration from each source of the pool.

    ``quotas``: source name → images per iteration (names are the image path's first folder).
    ``purpose``: who asks for it and why, quoted in errors (e.g. "<method> draws its questions from…").
    ``uniform_fallback``: on a pool without sources (a folder, COCO, synthetic scenes), draw
    ``sum(quotas)`` images uniformly instead of failing.
    ``same_every_iteration``: draw one set of ``per_iter`` images and give it to every iteration (the
    images are not disjoint across iterations: each round re-samples the same images with its own model).
    """

    quotas: Mapping[str, int]
    purpose: str = ""
    uniform_fallback: bool = True
    same_every_iteration: bool = False

    @property
    def per_iter(self) -> int:
        return sum(self.quotas.values())

    @classmethod
    def equal(cls, sources: Sequence[str], per_iter: int, purpose: str = "") -> ImagePlan:
        """``per_iter`` images split equally over ``sources`` (any remainder to the first ones)."""
        if not sources:
            raise HarnessError("an image plan needs at least one source")
        base, extra = divmod(per_iter, len(sources))
        return cls({s: base + (1 if k < extra else 0) for k, s in enumerate(sources)}, purpose)

    @classmethod
    def proportional(cls, weights: Mapping[str, int], per_iter: int, purpose: str = "") -> ImagePlan:
        """``per_iter`` images split in proportion to ``weights`` (largest remainders round up)."""
        total = sum(weights.values())
        raw = {s: per_iter * w / total for s, w in weights.items()}
        quotas = {s: int(v) for s, v in raw.items()}
        by_remainder = sorted(raw, key=lambda s: (-(raw[s] - quotas[s]), list(raw).index(s)))
        for s in by_remainder[: per_iter - sum(quotas.values())]:
            quotas[s] += 1
        return cls(quotas, purpose)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"quotas": dict(self.quotas), "purpose": self.purpose}
        if self.same_every_iteration:  # only when set: the configs of runs drawn before the field stay equal
            out["same_every_iteration"] = True
        return out


@dataclass
class ImageSplit:
    iterations: list[list[ImageRef]]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image id, reason)
    mode: str = "uniform"  # "uniform", "per_source", or "uniform (…)" when a plan fell back
    quotas: dict[str, int] = field(default_factory=dict)  # per_source: images per iteration of each source
    same_every_iteration: bool = False  # one set drawn, the same list in every iteration


def source_groups(source: ImageSource) -> dict[str, list[ImageRef]] | None:
    """The pool's images by source dataset, in pool order; None when the pool has no such structure."""
    refs = source.refs()
    if not refs or source.group_of(refs[0]) is None:
        return None
    groups: dict[str, list[ImageRef]] = {}
    for ref in refs:
        groups.setdefault(source.group_of(ref) or "", []).append(ref)
    return groups


def _where(source: ImageSource) -> str:
    desc = source.describe()
    return str(desc.get("json") or desc.get("root") or desc.get("annotations") or desc.get("kind"))


def check_plan(source: ImageSource, plan: ImagePlan | None, iterations: int = 1) -> None:
    """Fail early (before a run is created) when the pool cannot serve ``plan``: a source it needs is absent."""
    if plan is None:
        return
    groups = source_groups(source)
    if groups is None:
        if not plan.uniform_fallback:
            raise HarnessError(
                f"{_where(source)}: {plan.purpose or 'the method'} needs a LLaVA-665k-format image "
                f"source (images under {', '.join(f'{s}/' for s in plan.quotas)})"
            )
        return
    missing = [s for s, q in plan.quotas.items() if q > 0 and s not in groups]
    if missing:
        found = ", ".join(f"{g or '(top level)'} ({len(r)})" for g, r in sorted(groups.items())) or "none"
        raise HarnessError(
            f"{_where(source)}: {plan.purpose or 'the method'} needs images of the source(s) "
            f"{', '.join(missing)} (image paths starting with {', '.join(f'{s}/' for s in missing)}); "
            f"this file has: {found}"
        )
    short = [
        f"{s}: {len(groups[s])} images, {iterations} × {q} needed"
        for s, q in plan.quotas.items()
        if len(groups[s]) < iterations * q
    ]
    if short:
        raise HarnessError(f"{_where(source)}: too few images for {plan.purpose or 'the plan'}: " + "; ".join(short))


def sample_iterations(
    source: ImageSource, iterations: int, per_iter: int, seed: int, plan: ImagePlan | None = None
) -> ImageSplit:
    """``iterations`` disjoint lists of images: ``per_iter`` uniformly, or per source as ``plan`` says; one
    list repeated ``iterations`` times when the plan says ``same_every_iteration``."""
    if iterations < 1 or per_iter < 1:
        raise HarnessError(f"need at least one iteration and one image per iteration (got {iterations}×{per_iter})")
    if plan is not None and plan.same_every_iteration:
        split = sample_iterations(source, 1, per_iter, seed, replace(plan, same_every_iteration=False))
        split.iterations = [list(split.iterations[0]) for _ in range(iterations)]
        split.same_every_iteration = True
        return split
    if plan is not None:
        check_plan(source, plan, iterations)
        groups = source_groups(source)
        if groups is not None:
            return _per_source(source, groups, iterations, plan, seed)
        split = _uniform(source, iterations, plan.per_iter, seed)
        split.mode = "uniform (the image source has no per-source structure)"
        return split
    return _uniform(source, iterations, per_iter, seed)


def _readable(source: ImageSource, ref: ImageRef, skipped: list[tuple[str, str]]) -> bool:
    try:
        source.open(ref)
    except Exception as exc:  # any unreadable file: skip and count
        skipped.append((ref.id, f"{type(exc).__name__}: {exc}"))
        return False
    return True


def _uniform(source: ImageSource, iterations: int, per_iter: int, seed: int) -> ImageSplit:
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
        if _readable(source, ref, skipped):
            chosen.append(ref)
    if len(chosen) < need:
        raise HarnessError(
            f"only {len(chosen)} readable images in the source ({len(skipped)} unreadable); {need} needed"
        )
    return ImageSplit([chosen[i * per_iter : (i + 1) * per_iter] for i in range(iterations)], skipped)


def _per_source(
    source: ImageSource, groups: dict[str, list[ImageRef]], iterations: int, plan: ImagePlan, seed: int
) -> ImageSplit:
    skipped: list[tuple[str, str]] = []
    split: list[list[ImageRef]] = [[] for _ in range(iterations)]
    for name, quota in plan.quotas.items():
        if quota <= 0:
            continue
        pool = groups[name]
        order = random.Random(f"{seed}:{name}").sample(range(len(pool)), len(pool))
        taken: list[ImageRef] = []
        for idx in order:
            if len(taken) == iterations * quota:
                break
            if _readable(source, pool[idx], skipped):
                taken.append(pool[idx])
        if len(taken) < iterations * quota:
            raise HarnessError(
                f"{_where(source)}: only {len(taken)} readable images of source {name!r} "
                f"({len(pool)} listed); {iterations} × {quota} needed"
            )
        for i in range(iterations):
            split[i].extend(taken[i * quota : (i + 1) * quota])
    for i, refs in enumerate(split, 1):
        random.Random(f"{seed}:iteration{i}").shuffle(refs)
    return ImageSplit(split, skipped, mode="per_source", quotas=dict(plan.quotas))
