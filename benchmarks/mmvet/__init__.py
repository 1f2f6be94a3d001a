"""MM-Vet, GPT-4-graded: the plugin and its judge prompt."""

from benchmarks.mmvet.benchmark import (
    MMVet,
    grading_query,
    harness_benchmarks,
    parse_correctness,
)

__all__ = ["harness_benchmarks", "MMVet", "grading_query", "parse_correctness"]
