"""``harness reproduce <table>``: re-run a paper's table and print it beside the published numbers.

A method plugin declares the tables its paper publishes (``Method.reproductions``, a tuple of
``Reproduction``): the rows (each a method, a variant or options, and the iteration θi the row
shows), the benchmarks and metric columns, and which ``ReportedNumbers`` (``Method.reported``) hold
the paper's numbers. The engine knows no table by name.

Running a table:

- the rows become evolve runs (``harness.evolve.evolve``): rows with the same method, variant and
  options share one run, which goes as far as the row with the highest θi (Table 1's θ1, θ2, θ3 are
  one 3-iteration run); every run lives in ``<out>/<row key>/`` and resumes like ``harness evolve``;
- shared: the base model θ0 is evaluated once (by the first run; the others skip θ0's evaluation);
  every run uses the same seed and image source, so every row's θ1 is trained on the same images
  (the sampler's iteration i does not depend on the number of iterations drawn); and rows whose θ1
  pairs cannot differ (the same method and synthesis options, ``Method.synthesis_config()``; e.g.
  rows that differ only in the loss) copy θ1's pairs and reference log-probs from the first such run
  instead of generating them again (recorded as ``shared_from`` in the stage marker and stats.json);
- then ``table.md`` and ``table.json`` in ``<out>``: per row and column the paper's number, ours and
  the difference; "not measured here" where a benchmark was not run (e.g. on the built-in tiny model,
  which runs a synthetic benchmark: its columns are added with no paper number).

``--dry-run`` creates nothing: it lists the runs, the generations they make (synthesis estimates by
each method, plus one answer per benchmark item and evaluated model) and the judge calls and their
estimated cost (each judged benchmark's own dry run, times the models it scores).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness import atomic
from harness.errors import HarnessError

NOT_MEASURED = "not measured here"


@dataclass(frozen=True)
class GridRow:
    """One row of a published table and how to produce it.

    ``label``: as printed (e.g. "θ1^SQ"); ``method``/``variant``/``options``: the evolve run that
    produces it (``options``: ``--set`` values); ``iteration``: the θi of that run the row shows
    (0 = the base model); ``reported_model``: the ``ReportedNumbers.model`` holding the paper's
    numbers in the table's ``reported_table`` (None: the paper prints no such row).
    """

    label: str
    method: str
    variant: str | None = None
    options: tuple[str, ...] = ()
    iteration: int = 1
    reported_model: str | None = None

    @property
    def run_key(self) -> str:
        text = self.method + (f"-{self.variant}" if self.variant else "")
        if self.options:
            text += "-" + "-".join(sorted(self.options))
        return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")


@dataclass(frozen=True)
class Reproduction:
    """A published table ``harness reproduce <name>`` re-runs.

    ``columns``: (``"<benchmark>/<metric>"``, header) in the paper's order; ``lower_is_better``
    marks the ↓ columns; ``decimals``: columns printed with other than one decimal (e.g. 2 for a
    1.90 score); ``reported_table``: the ``ReportedNumbers.table`` with the paper's numbers;
    ``source``: the public source of the table (paper and table number, or repository and commit).
    """

    name: str
    title: str
    source: str
    rows: tuple[GridRow, ...]
    columns: tuple[tuple[str, str], ...]
    reported_table: str
    lower_is_better: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    decimals: tuple[tuple[str, int], ...] = ()

    @property
    def benchmarks(self) -> list[str]:
        return list(dict.fromkeys(key.split("/", 1)[0] for key, _ in self.columns))


@dataclass
class PlannedRun:
    """One evolve run of a reproduction: the rows it serves and how far it goes."""

    key: str
    method: str
    variant: str | None
    options: tuple[str, ...]
    iters: int
    rows: list[GridRow] = field(default_factory=list)
    eval_theta0: bool = False
    share_from: str | None = None  # an earlier run of the table with the same θ1 synthesis (key)


def known_reproductions(reg=None) -> dict[str, tuple[Reproduction, type]]:
    """Every table declared by the installed method plugins: name → (Reproduction, method class)."""
    from harness.plugins import registry

    reg = reg or registry()
    out: dict[str, tuple[Reproduction, type]] = {}
    for cls in reg.methods.values():
        for rep in getattr(cls, "reproductions", ()) or ():
            if rep.name in out and out[rep.name][1] is not cls:
                raise HarnessError(
                    f"two method plugins declare the table {rep.name!r}: "
                    f"{out[rep.name][1].__module__} and {cls.__module__}"
                )
            out[rep.name] = (rep, cls)
    return out


def find_reproduction(name: str, reg=None) -> tuple[Reproduction, type]:
    known = known_reproductions(reg)
    if name not in known:
        raise HarnessError(f"unknown table {name!r}; known tables: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def plan_runs(rep: Reproduction) -> list[PlannedRun]:
    """The evolve runs of a table, in row order; the first one evaluates θ0 (once for all)."""
    runs: dict[str, PlannedRun] = {}
    for row in rep.rows:
        key = row.run_key
        run = runs.get(key)
        if run is None:
            run = runs[key] = PlannedRun(key, row.method, row.variant, row.options, max(1, row.iteration))
        run.iters = max(run.iters, row.iteration, 1)
        run.rows.append(row)
    planned = list(runs.values())
    if planned and any(r.iteration == 0 for r in rep.rows):
        owner = next(r for r in planned if any(row.iteration == 0 for row in r.rows))
        owner.eval_theta0 = True
    return planned


def synthesis_key(cls: type, run: PlannedRun, overrides: Sequence[str] = ()) -> str:
    """What θ1's pairs depend on: the method and its synthesis options (``Method.synthesis_config()`` where
    a method declares which options only shape training, else its whole config)."""
    from harness.method import build_config

    method = cls(build_config(cls, [*run.options, *overrides], run.variant))
    config = getattr(method, "synthesis_config", method.config_dict)()
    return json.dumps([run.method, config], sort_keys=True, default=str)


def share_synthesis(runs: Sequence[PlannedRun], reg=None, overrides: Sequence[str] = ()) -> None:
    """Point each run at the first earlier run with the same θ1 synthesis (e.g. θ1^Base and θ1^CA differ only
    in the loss): its pairs and reference log-probs are copied instead of generated again."""
    from harness.plugins import registry

    reg = reg or registry()
    first: dict[str, str] = {}
    for run in runs:
        key = synthesis_key(reg.method(run.method), run, overrides)
        if key in first:
            run.share_from = first[key]
        else:
            first[key] = run.key


def reported_values(rep: Reproduction, reg=None) -> dict[str, dict[str, float]]:
    """The paper's numbers of each row (by reported model name) from the plugins' ``reported``."""
    from harness.plugins import registry

    reg = reg or registry()
    out: dict[str, dict[str, float]] = {}
    for cls in reg.methods.values():
        for rn in getattr(cls, "reported", ()) or ():
            if rn.table == rep.reported_table:
                out[rn.model] = dict(rn.values)
    return out


# ------------------------------------------------------------------------------------ running a table


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


def _evolve_options(opts: ReproduceOptions, run: PlannedRun, out: Path, evals: list[str]):
    from harness.evolve import EvolveOptions

    return EvolveOptions(
        method=run.method,
        iters=run.iters,
        model=opts.model,
        images=opts.images,
        image_root=opts.image_root,
        images_per_iter=opts.images_per_iter,
        backend=opts.backend,
        gen_batch_size=opts.gen_batch_size,
        evals=list(evals),
        run_dir=out / run.key,
        seed=opts.seed,
        variant=run.variant,
        overrides=[*run.options, *opts.overrides],
        train_overrides=dict(opts.train_overrides),
        progress=opts.progress,
        eval_options=dict(opts.eval_options),
        gen_dtype=opts.gen_dtype,
        eval_theta0=run.eval_theta0,
        share_from=out / run.share_from if run.share_from else None,
    )


def check_options(opts: ReproduceOptions, rep: Reproduction, reg=None) -> None:
    """Every row's method, variant and options are valid (before anything runs or is written)."""
    from harness.method import build_config
    from harness.plugins import registry

    reg = reg or registry()
    for row in rep.rows:
        cls = reg.method(row.method)
        build_config(cls, [*row.options, *opts.overrides], row.variant)
    for bench in resolve_evals(opts, rep):
        reg.benchmark(bench)


def reproduce(opts: ReproduceOptions, console: Console | None = None) -> ReproductionResult:
    """Run every row of the table (resumable), then write and print the side-by-side table."""
    from harness.evolve import evolve

    console = console or Console()
    rep, _ = find_reproduction(opts.table)
    check_options(opts, rep)
    evals = resolve_evals(opts, rep)
    out = default_out(opts)
    runs = plan_runs(rep)
    share_synthesis(runs, overrides=opts.overrides)
    console.print(
        f"[bold]reproduce[/] {rep.name}: {rep.title}\n{len(runs)} run(s) under {out}; "
        f"benchmarks: {', '.join(evals) or 'none'}",
        highlight=False,
    )
    for k, run in enumerate(runs, 1):
        rows = ", ".join(r.label for r in run.rows)
        console.rule(f"run {k}/{len(runs)}: {run.key} (θ1…θ{run.iters}; rows {rows})")
        evolve(_evolve_options(opts, run, out, evals), console)
    result = collect(rep, out, runs, evals)
    write_table(result)
    console.print(render_rich(result))
    console.print(f"wrote {out / 'table.md'} and {out / 'table.json'}", highlight=False)
    return result


def collect(
    rep: Reproduction, out: Path, runs: Sequence[PlannedRun], evals: Sequence[str], reg=None
) -> ReproductionResult:
    """The table's cells from the runs' stored results and the plugins' published numbers."""
    from harness.plugins import registry
    from harness.report.results import load_results

    reg = reg or registry()
    paper = reported_values(rep, reg)
    owner = {row: run for run in runs for row in run.rows}
    theta0_run = next((r for r in runs if r.eval_theta0), None)
    extra: list[tuple[str, str]] = []
    table_keys = {k for k, _ in rep.columns}
    for bench in evals:
        if bench in {k.split("/", 1)[0] for k in table_keys}:
            continue
        declared = [c for c in getattr(reg.benchmark(bench), "columns", ()) if c.headline] or list(
            getattr(reg.benchmark(bench), "columns", ())
        )
        extra += [(f"{bench}/{c.metric}", c.label) for c in declared]
    columns = list(rep.columns) + extra
    rows = []
    for row in rep.rows:
        run = theta0_run if row.iteration == 0 and theta0_run is not None else owner[row]
        values = paper.get(row.reported_model, {}) if row.reported_model else {}
        cells = {}
        for key, _ in columns:
            bench, _, metric = key.partition("/")
            ours = None
            path = out / run.key / f"iter{row.iteration}" / "eval" / bench / "results.json"
            measured = bench in evals and path.is_file()
            if measured:
                value = load_results(path).metrics.get(metric)
                ours = float(value) if isinstance(value, (int, float)) else None
            cells[key] = Cell(values.get(key), ours, measured)
        rows.append((row, run.key, cells))
    return ReproductionResult(rep, out, columns, rows, list(evals))


def _num(value: float | None, decimals: int) -> str:
    return "–" if value is None else f"{value:.{decimals}f}"


def column_decimals(result: ReproductionResult, key: str) -> int:
    """As the paper prints the column (the table's ``decimals``; one by default)."""
    return dict(result.reproduction.decimals).get(key, 1)


def cell_text(cell: Cell, decimals: int = 1) -> str:
    """ "ours vs paper (Δ ours − paper)"; "not measured here" where the benchmark was not run."""
    if not cell.measured:
        return NOT_MEASURED + (f" (paper {_num(cell.paper, decimals)})" if cell.paper is not None else "")
    if cell.paper is None:
        return f"{_num(cell.ours, decimals)} (paper –)"
    if cell.ours is None:
        return f"– vs {_num(cell.paper, decimals)}"
    diff = cell.ours - cell.paper
    return (
        f"{_num(cell.ours, decimals)} vs {_num(cell.paper, decimals)} (Δ {'+' if diff >= 0 else '−'}"
        f"{_num(abs(diff), decimals)})"
    )


def render_markdown(result: ReproductionResult) -> str:
    rep = result.reproduction
    lines = [
        f"# {rep.title}",
        "",
        f"Paper: {rep.source}. Ours: `harness reproduce {rep.name}`, runs under "
        f"`{result.out}`; benchmarks run: {', '.join(result.evals) or 'none'}.",
        "",
        'Each cell: ours vs the paper\'s number (Δ = ours − paper); "not measured here" where the benchmark '
        "was not run. ↓: lower is better.",
        "",
    ]
    lower = set(rep.lower_is_better)
    header = ["row", "run", *[label + (" ↓" if k in lower and "↓" not in label else "") for k, label in result.columns]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, run, cells in result.rows:
        lines.append(
            "| "
            + " | ".join(
                [
                    row.label,
                    f"{run} θ{row.iteration}",
                    *[cell_text(cells[k], column_decimals(result, k)) for k, _ in result.columns],
                ]
            )
            + " |"
        )
    lines += [""] + [f"- {n}" for n in rep.notes]
    return "\n".join(lines).rstrip() + "\n"


def render_rich(result: ReproductionResult) -> Table:
    rep = result.reproduction
    table = Table(title=f"{rep.name}: ours vs paper (Δ)", caption=rep.source)
    table.add_column("row")
    for _, label in result.columns:
        table.add_column(label, justify="right")
    for row, _, cells in result.rows:
        table.add_row(row.label, *[cell_text(cells[k], column_decimals(result, k)) for k, _ in result.columns])
    return table


def write_table(result: ReproductionResult) -> None:
    atomic.write_text(result.out / "table.md", render_markdown(result))
    atomic.write_json(result.out / "table.json", result.to_dict())


# ------------------------------------------------------------------------------------ dry run


@dataclass
class DryRun:
    reproduction: Reproduction
    out: Path
    evals: list[str]
    runs: list[dict[str, Any]]  # key, rows, iterations, images per iteration, generations
    benchmarks: list[dict[str, Any]]  # per benchmark: items, models, generations, judge calls, cost

    @property
    def generations(self) -> int | None:
        parts = [r["generations"] for r in self.runs] + [b["generations"] for b in self.benchmarks]
        return None if any(p is None for p in parts) else sum(parts)

    @property
    def judge_calls(self) -> int | None:
        parts = [b["judge_calls"] for b in self.benchmarks]
        return None if any(p is None for p in parts) else sum(parts)

    @property
    def cost_usd(self) -> float | None:
        if self.judge_calls is None:
            return None
        parts = [b["cost_usd_max"] for b in self.benchmarks if b["judge_calls"]]
        return None if any(p is None for p in parts) else sum(parts)

    def describe(self) -> str:
        rep = self.reproduction
        lines = [f"{rep.name}: {rep.title}", f"runs under {self.out} (nothing is created by --dry-run):"]
        for r in self.runs:
            gens = "unknown" if r["generations"] is None else f"~{r['generations']:,}"
            thetas = "θ1" if r["iterations"] == 1 else f"θ1…θ{r['iterations']}"
            lines.append(
                f"  {r['key']}: {thetas} × {r['images_per_iter']} images"
                f"{' + θ0 evaluation' if r['eval_theta0'] else ''}; rows {', '.join(r['rows'])}; "
                f"{gens} generations to build pairs"
                + (f" (θ1's pairs shared with {r['share_from']})" if r["share_from"] else "")
            )
        for b in self.benchmarks:
            if b.get("error"):
                lines.append(f"  {b['benchmark']}: {b['models']} model(s); {b['error']}")
                continue
            judge = (
                "no judge"
                if not b["judge_calls"]
                else (
                    f"{b['judge_calls']:,} judge calls ({b['judge_model']}), estimated cost "
                    + ("unknown (no price)" if b["cost_usd_max"] is None else f"≤ ${b['cost_usd_max']:.2f}")
                )
            )
            lines.append(
                f"  {b['benchmark']}: {b['items']} items × {b['models']} model(s) = "
                f"{b['generations']:,} answers; {judge}"
            )
        total_g = "unknown" if self.generations is None else f"~{self.generations:,}"
        total_j = "unknown" if self.judge_calls is None else f"{self.judge_calls:,}"
        cost = "unknown" if self.cost_usd is None else f"≤ ${self.cost_usd:.2f}"
        lines.append(f"total: {total_g} generations, {total_j} judge calls, estimated judge cost {cost}")
        return "\n".join(lines)


def dry_run(opts: ReproduceOptions, console: Console | None = None) -> DryRun:
    """What ``reproduce`` would run and spend, without running, writing or calling anything."""
    from harness.evolve import PAPER_IMAGES_PER_ITER, TINY_IMAGES_PER_ITER
    from harness.method import build_config
    from harness.plan import count_evaluations
    from harness.plugins import registry

    console = console or Console()
    reg = registry()
    rep, _ = find_reproduction(opts.table, reg)
    check_options(opts, rep, reg)
    evals = resolve_evals(opts, rep)
    runs = plan_runs(rep)
    share_synthesis(runs, reg, opts.overrides)
    run_rows = []
    for run in runs:
        cls = reg.method(run.method)
        method = cls(build_config(cls, [*run.options, *opts.overrides], run.variant))
        per_iter = opts.images_per_iter or (
            TINY_IMAGES_PER_ITER
            if opts.model == "tiny"
            else getattr(cls, "images_per_iter", None) or PAPER_IMAGES_PER_ITER
        )
        est = method.estimate_generations(per_iter)
        synthesized = run.iters - (1 if run.share_from else 0)  # a shared θ1 is copied, not generated
        run_rows.append(
            {
                "key": run.key,
                "rows": [r.label for r in run.rows],
                "iterations": run.iters,
                "images_per_iter": per_iter,
                "eval_theta0": run.eval_theta0,
                "share_from": run.share_from,
                "generations": None if est is None else est * synthesized,
            }
        )
    models = sum(r.iters for r in runs) + (1 if any(r.eval_theta0 for r in runs) else 0)
    benches = count_evaluations(evals, opts.model, models, opts.eval_options)
    result = DryRun(rep, default_out(opts), evals, run_rows, benches)
    console.print(result.describe(), highlight=False)
    return result
