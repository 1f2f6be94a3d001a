"""POVID (arXiv 2402.11411): stage 1 DPO on (ground truth, injected hallucination), stage 2 adding the
teacher-forced argmax under a noised image as a second negative; the `povid` plugin."""

from methods.povid.injection import inject
from methods.povid.method import (
    CHOSEN,
    DESCRIBE,
    NEGATIVES,
    NOISE_SPACES,
    OBJECTIVES,
    STAGES,
    Povid,
    PovidConfig,
    harness_methods,
    harness_warmup_tasks,
    povid_describe_task,
)
from methods.povid.stage1_file import load_stage1_pairs

__all__ = [
    "CHOSEN",
    "DESCRIBE",
    "NEGATIVES",
    "NOISE_SPACES",
    "OBJECTIVES",
    "STAGES",
    "Povid",
    "PovidConfig",
    "harness_methods",
    "harness_warmup_tasks",
    "inject",
    "load_stage1_pairs",
    "povid_describe_task",
]
