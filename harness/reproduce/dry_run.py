"""``harness reproduce --dry-run``: the runs, generations and judge calls a table would make; nothing created."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.reproduce.grid import Reproduction, find_reproduction, plan_runs, share_synthesis
from harness.reproduce.options import ReproduceOptions, check_options, default_out, resolve_evals


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
