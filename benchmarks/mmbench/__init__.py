"""MMBench (dev, EN) with CircularEval: the plugin, the circular scoring and the answer extraction."""

from benchmarks.mmbench.benchmark import (
    MMBenchBenchmark,
    harness_benchmarks,
    llava_prompt,
)

__all__ = ["harness_benchmarks", "MMBenchBenchmark", "llava_prompt"]
