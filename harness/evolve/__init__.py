"""The self-evolution loop as a package of stages: ``evolve`` (loop.py) runs, per iteration, the stages
open_run (images) → synthesize → reference → train → evaluate, one module each; options.py holds the
command's options and the defaults `harness plan` and `harness reproduce` share; gpu.py the device,
precision and memory hand-over between stages; scaling.py the launcher at scale; summary.py the end
table."""

from harness.evolve.gpu import generation_precision, reference_dtype
from harness.evolve.loop import evolve
from harness.evolve.options import (
    PAPER_IMAGES_PER_ITER,
    TINY_IMAGES_PER_ITER,
    EvolveOptions,
    check_options,
    default_evals,
    variant_label,
)
from harness.evolve.scaling import scale_training
from harness.evolve.summary import IterationSummary

__all__ = [
    "PAPER_IMAGES_PER_ITER",
    "TINY_IMAGES_PER_ITER",
    "EvolveOptions",
    "IterationSummary",
    "check_options",
    "default_evals",
    "evolve",
    "generation_precision",
    "reference_dtype",
    "scale_training",
    "variant_label",
]
