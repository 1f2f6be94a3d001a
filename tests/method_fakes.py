"""Test doubles for method tests: a backend that records requests and returns scripted texts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.backends.base import Backend, GenerationRequest
from harness.images.sources import SyntheticSource
from harness.method import SynthesisContext


class ScriptedBackend(Backend):
    """Records every ``generate`` call (one list of requests per call) and answers with ``script``."""

    name = "scripted"
    description = "test double"

    def __init__(self, script: Callable[[GenerationRequest, int], str]):
        self.script = script
        self.calls: list[list[GenerationRequest]] = []

    def generate(self, requests: Sequence[GenerationRequest], *, desc: str = "generating") -> list[str]:
        self.calls.append(list(requests))
        return [self.script(r, i) for i, r in enumerate(requests)]


def synthetic_context(seed: int = 0, iteration: int = 0) -> SynthesisContext:
    source = SyntheticSource(namespace="method-test")
    return SynthesisContext(
        seed=seed,
        iteration=iteration,
        checkpoint="tiny",
        open_image=source.open,
        progress=False,
        annotations=source.annotations,
    )


def synthetic_refs(n: int) -> list:
    return list(SyntheticSource(namespace="method-test").refs()[:n])


def evolve_small(run_dir, method: str, iters: int, overrides: list[str], **options):
    """`harness evolve` in-process on the tiny model over 4 images, no evaluation, no progress bars."""
    from harness.evolve import EvolveOptions, evolve

    evolve(
        EvolveOptions(
            method=method,
            iters=iters,
            run_dir=run_dir,
            overrides=overrides,
            images_per_iter=4,
            heldout_images=options.pop("heldout_images", 0),  # tests/test_heldout.py tests them
            evals=[],
            progress=False,
            **options,
        )
    )
