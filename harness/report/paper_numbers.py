"""Numbers reported by papers and READMEs, shown apart from measured rows in leaderboard.md.

Only numbers that the project's spec files quote are listed here; nothing is filled in from
memory. The spec (../shared/spec/methods.md, benchmarks.md) does **not** quote SENA's Table 4
(LLaVA-1.5-7B and SENA on LLaVA^W, MM-Vet, MMHal, AMBER, MMBench), so that table is empty here
and the leaderboard says so. Benchmark adapters may also carry reference numbers in their
protocol cards (``ProtocolCard.reference_numbers``); the leaderboard lists those separately,
straight from the stored results.

Keys of ``values`` are (benchmark, metric) pairs, the same as the leaderboard's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReportedRow:
    """One model's numbers as a paper or README reports them."""

    source: str  # where the numbers come from (paper table, README section, snapshot)
    model: str
    values: dict[tuple[str, str], float] = field(default_factory=dict)
    note: str = ""


# What the spec says about SENA's own table; rendered verbatim under the reported-numbers table.
SENA_TABLE4_NOTE = (
    "SENA (AAAI 2025, arXiv 2412.15650) Table 4 numbers for LLaVA-1.5-7B and SENA are not quoted "
    "in the project's spec files, so they are not reproduced here."
)

# Kevinz-code/SeVa README "results (LLaVA-1.5-7B + SeVa)", as quoted in spec/methods.md §2.5.
# Only the columns that map onto ours: LLaVA-Bench → LLaVA^W, MM-Vet, MMB → MMBench.
_SEVA_SOURCE = "Kevinz-code/SeVa README (spec/methods.md §2.5)"
_SEVA_NOTE = "MMB in the SeVa README is not stated to be the dev split; our MMBench column is dev."

REPORTED: tuple[ReportedRow, ...] = (
    ReportedRow(_SEVA_SOURCE, "LLaVA-1.5-7B + SeVa (Diffusion500)",
                {("llava_wild", "relative_score"): 70.7, ("mmvet", "total"): 35.5,
                 ("mmbench", "overall"): 64.7}, _SEVA_NOTE),
    ReportedRow(_SEVA_SOURCE, "LLaVA-1.5-7B + SeVa (Diffusion800)",
                {("llava_wild", "relative_score"): 72.2, ("mmvet", "total"): 37.2,
                 ("mmbench", "overall"): 65.6}, _SEVA_NOTE),
    ReportedRow(_SEVA_SOURCE, "LLaVA-1.5-7B + SeVa (MOCO)",
                {("llava_wild", "relative_score"): 72.5, ("mmvet", "total"): 37.0,
                 ("mmbench", "overall"): 65.2}, _SEVA_NOTE),
)
