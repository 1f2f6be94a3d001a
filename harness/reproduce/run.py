"""Running a table: its rows as evolve runs (θ0 evaluated once, θ1's pairs shared where they cannot
differ), then the cells collected from the stored results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from harness.reproduce.grid import (
    PlannedRun,
    Reproduction,
    find_reproduction,
    plan_runs,
    reported_notes,
    reported_values,
    share_synthesis,
)
from harness.reproduce.options import (
    Cell,
    ReproduceOptions,
    ReproductionResult,
    check_options,
    default_out,
    resolve_evals,
)
from harness.reproduce.render import render_rich, write_table


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
        gen_helpers=opts.gen_helpers,
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
    return ReproductionResult(rep, out, columns, rows, list(evals), reported_notes(rep, reg))
