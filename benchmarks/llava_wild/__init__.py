"""LLaVA-Bench (In-the-Wild), GPT-4-judged: the plugin and its judge prompts."""

from benchmarks.llava_wild.benchmark import (
    LlavaWild,
    harness_benchmarks,
    parse_review,
)

__all__ = ["harness_benchmarks", "LlavaWild", "parse_review"]
