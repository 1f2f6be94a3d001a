"""STIC (NeurIPS 2024): step-by-step descriptions vs hallucination prompts or corrupted images; the `stic` plugin."""

from methods.stic.method import (
    CORRUPT,
    OBJECTIVES,
    REJECTED_LOGP,
    Stic,
    SticConfig,
    harness_methods,
    harness_warmup_tasks,
)

__all__ = ["CORRUPT", "OBJECTIVES", "REJECTED_LOGP", "Stic", "SticConfig", "harness_methods", "harness_warmup_tasks"]
