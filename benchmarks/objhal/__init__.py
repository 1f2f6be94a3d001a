"""Object HalBench (RLHF-V / RLAIF-V): the plugin, its question file and the LLM object extraction."""

from benchmarks.objhal.benchmark import (
    ObjHalBenchmark,
    harness_benchmarks,
)

__all__ = ["harness_benchmarks", "ObjHalBenchmark"]
