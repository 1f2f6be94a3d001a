"""SENA (Tan et al., AAAI 2025): self-questioning, self-enhanced answers vs noised answers; the `sena` plugin."""

from methods.sena.messages import embeddable, first_image_message, sq_message
from methods.sena.method import (
    IMAGE_SAMPLING,
    NUM_NOISE_STEPS,
    TRAIN_RECIPE,
    SenaConfig,
    SenaMethod,
    clean_output,
    derive_seed,
    harness_methods,
    harness_warmup_tasks,
    parse_enhanced,
)

__all__ = [
    "IMAGE_SAMPLING",
    "NUM_NOISE_STEPS",
    "TRAIN_RECIPE",
    "SenaConfig",
    "SenaMethod",
    "clean_output",
    "derive_seed",
    "parse_enhanced",
    "harness_methods",
    "harness_warmup_tasks",
    "embeddable",
    "first_image_message",
    "sq_message",
]
