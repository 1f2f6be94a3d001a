"""CSR (NeurIPS 2024): sentence-level search ranked by LM score and CLIP, best vs worst path; the `csr` plugin."""

from methods.csr.method import OBJECTIVES, QUESTIONS, REWARDS, Csr, CsrConfig, bad_sentence, harness_methods

__all__ = ["OBJECTIVES", "QUESTIONS", "REWARDS", "Csr", "CsrConfig", "bad_sentence", "harness_methods"]
