"""POPE (Li et al., EMNLP 2023), COCO split: the plugin, its question/label files and the answer parsers."""

from benchmarks.pope.benchmark import (
    SUFFIXES,
    PopeBenchmark,
    harness_benchmarks,
)

__all__ = ["harness_benchmarks", "PopeBenchmark", "SUFFIXES"]
