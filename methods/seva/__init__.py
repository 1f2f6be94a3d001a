"""SeVa (ACM MM 2024): clean-image answers vs diffusion-noised-image answers; the `seva` plugin."""

from methods.seva.method import (
    OCR_SUFFIX,
    P_BASE,
    QUESTION_SOURCES,
    REPORTED,
    SOURCE_QUOTAS,
    TRAIN_RECIPE,
    Seva,
    SevaConfig,
    clean_answer,
    clean_question,
    harness_methods,
    harness_warmup_tasks,
    seva_question_task,
)

__all__ = [
    "OCR_SUFFIX",
    "P_BASE",
    "QUESTION_SOURCES",
    "REPORTED",
    "SOURCE_QUOTAS",
    "TRAIN_RECIPE",
    "Seva",
    "SevaConfig",
    "clean_answer",
    "clean_question",
    "seva_question_task",
    "harness_methods",
    "harness_warmup_tasks",
]
