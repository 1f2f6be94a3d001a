"""POVID (arXiv 2402.11411): teacher-forced argmax tokens under a noised image as negatives; the `povid` plugin."""

from methods.povid.method import (
    DESCRIBE,
    NEGATIVES,
    OBJECTIVES,
    STAGES,
    Povid,
    PovidConfig,
    harness_methods,
    harness_warmup_tasks,
    load_stage1_pairs,
    povid_describe_task,
)

__all__ = [
    "DESCRIBE",
    "NEGATIVES",
    "OBJECTIVES",
    "STAGES",
    "Povid",
    "PovidConfig",
    "load_stage1_pairs",
    "harness_methods",
    "harness_warmup_tasks",
    "povid_describe_task",
]
