"""AMBER (Wang et al., 2023), an LLM-free hallucination benchmark: the plugin and its scorer."""

from benchmarks.amber.benchmark import (
    AmberBenchmark,
    harness_benchmarks,
)

__all__ = ["harness_benchmarks", "AmberBenchmark"]
