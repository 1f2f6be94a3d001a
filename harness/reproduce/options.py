"""What ``harness reproduce`` is asked (``ReproduceOptions``, checked before any work) and what it gives:
per row and column the paper's number, ours and the difference (``Cell``, ``ReproductionResult``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.reproduce.grid import GridRow, Reproduction


@dataclass
class ReproduceOptions:
    """``harness reproduce``'s options; the ones shared with ``harness evolve`` pass through to every run.

    ``evals``: None = the table's benchmarks (with the built-in tiny model: evolve's default benchmark,
    since the papers' benchmarks need downloads and a judge). ``overrides``: ``--set`` values added to
    every row (e.g. a smaller ``max_new_tokens`` for a smoke run). ``eval_options``: judge options for
    ``harness.evaluate.evaluate`` (judge_model, judge_base_url, judge_runs, judge_concurrency, use_cache,
    max_cost).
    """

    table: str
    model: str = "tiny"
    images: str | None = None
    image_root: str | None = None
    images_per_iter: int | None = None
    backend: str = "hf"
    gen_batch_size: int = 16
    gen_helpers: str | int = "auto"  # spare-core generation helpers of every row (harness/backends/helpers.py)
    gen_dtype: str = "auto"
    evals: list[str] | None = None
    out: Path | None = None
    runs_dir: Path = Path("runs")
    seed: int = 0
    overrides: list[str] = field(default_factory=list)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    eval_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass
class Cell:
    paper: float | None
    ours: float | None
    measured: bool  # the benchmark was run for this row

    @property
    def diff(self) -> float | None:
        return None if self.paper is None or self.ours is None else self.ours - self.paper


@dataclass
class ReproductionResult:
    reproduction: Reproduction
    out: Path
    columns: list[tuple[str, str]]  # the table's columns, then measured columns the paper does not have
    rows: list[tuple[GridRow, str, dict[str, Cell]]]  # (row, run folder, cells by column key)
    evals: list[str]
    paper_notes: dict[str, str] = field(default_factory=dict)  # reported model → the caveat on its published numbers

    def to_dict(self) -> dict[str, Any]:
        rep = self.reproduction
        return {
            "table": rep.name,
            "title": rep.title,
            "source": rep.source,
            "evals": self.evals,
            "columns": [{"key": k, "label": label, "in_paper": k in dict(rep.columns)} for k, label in self.columns],
            "rows": [
                {
                    "label": row.label,
                    "run": run,
                    "iteration": row.iteration,
                    "reported_model": row.reported_model,
                    "paper_note": self.paper_notes.get(row.reported_model or ""),
                    "cells": {
                        k: {"paper": c.paper, "ours": c.ours, "diff": c.diff, "measured": c.measured}
                        for k, c in cells.items()
                    },
                }
                for row, run, cells in self.rows
            ],
        }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")[:80]


def default_out(opts: ReproduceOptions) -> Path:
    return opts.out or opts.runs_dir / _slug(f"reproduce-{opts.table}-{Path(str(opts.model)).name}-s{opts.seed}")


def resolve_evals(opts: ReproduceOptions, rep: Reproduction) -> list[str]:
    if opts.evals is not None:
        return list(opts.evals)
    if opts.model == "tiny":
        from harness.evolve import default_evals

        return default_evals()
    return rep.benchmarks


def check_options(opts: ReproduceOptions, rep: Reproduction, reg=None) -> None:
    """Every row's method, variant and options are valid (before anything runs or is written)."""
    from harness.method import build_config
    from harness.plugins import registry

    reg = reg or registry()
    if str(opts.model) != "tiny" and not Path(opts.model).exists():  # as `harness plan` does: exit 2, named
        raise HarnessError(f"--model {opts.model}: model path not found (a llava-hf checkpoint folder, or 'tiny')")
    for row in rep.rows:
        cls = reg.method(row.method)
        build_config(cls, [*row.options, *opts.overrides], row.variant)
    for bench in resolve_evals(opts, rep):
        reg.benchmark(bench)
