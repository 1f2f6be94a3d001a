"""The built-in, judge-free, offline ``shapes`` benchmark over synthetic shape scenes."""

from benchmarks.shapes.audit import SyntheticPairAuditor, harness_pair_auditors
from benchmarks.shapes.benchmark import (
    DEFAULT_SCENES,
    ShapesBenchmark,
    bench_scene,
    describe_mentions,
    harness_benchmarks,
    metrics_from_counters,
    record_counters,
    scene_units,
    sum_counters,
)

__all__ = [
    "harness_benchmarks",
    "harness_pair_auditors",
    "SyntheticPairAuditor",
    "ShapesBenchmark",
    "DEFAULT_SCENES",
    "bench_scene",
    "describe_mentions",
    "metrics_from_counters",
    "record_counters",
    "scene_units",
    "sum_counters",
]
