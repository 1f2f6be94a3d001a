"""CSR (NeurIPS 2024): sentence-level search ranked by LM score and CLIP, best vs worst path; the `csr` plugin."""

from methods.csr.method import (
    OBJECTIVES,
    QUESTIONS,
    REWARDS,
    Csr,
    CsrConfig,
    bad_sentence,
    csr_describe_task,
    harness_methods,
    harness_warmup_tasks,
)

__all__ = [
    "OBJECTIVES",
    "QUESTIONS",
    "REWARDS",
    "Csr",
    "CsrConfig",
    "bad_sentence",
    "csr_describe_task",
    "harness_methods",
    "harness_warmup_tasks",
]
