"""CHAIR (Rohrbach et al., EMNLP 2018) on COCO val2014 captions: the plugin and its own data files."""

from benchmarks.chair.audit import CocoChairPairAuditor, harness_pair_auditors
from benchmarks.chair.benchmark import (
    ChairBenchmark,
    harness_benchmarks,
    opera_printout,
)

__all__ = ["harness_benchmarks", "harness_pair_auditors", "ChairBenchmark", "CocoChairPairAuditor", "opera_printout"]
