"""MMHal-Bench, GPT-4-rated: the plugin and its judge template."""

from benchmarks.mmhal.benchmark import (
    MMHal,
    find_ratings,
    harness_benchmarks,
    parse_rating,
    type_names,
)

__all__ = ["harness_benchmarks", "MMHal", "find_ratings", "parse_rating", "type_names"]
