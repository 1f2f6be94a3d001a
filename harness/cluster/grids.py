"""Grids users submit: a paper's table (``harness reproduce TABLE --executor slurm|local``) and methods × seeds
(``harness sweep``), each as the job graph of harness/cluster/jobs.py, checked before anything is submitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.cluster.jobs import GridRun, JobSpec, TablePayload, build_graph
from harness.cluster.resources import ClusterOptions, resources_for
from harness.cluster.submit import Submission, submit
from harness.errors import HarnessError
from harness.options import at_least


def reproduce_jobs(opts, shards: int = 1, rep=None) -> tuple[list[JobSpec], Path, TablePayload]:
    """The jobs of ``harness reproduce`` (a ReproduceOptions): the same runs, folders and options as the
    sequential command, so either can finish what the other started."""
    from harness.reproduce.grid import find_reproduction, plan_runs, share_synthesis
    from harness.reproduce.options import check_options, default_out, resolve_evals
    from harness.reproduce.run import _evolve_options

    rep = rep or find_reproduction(opts.table)[0]
    check_options(opts, rep)
    evals = resolve_evals(opts, rep)
    out = default_out(opts)
    runs = plan_runs(rep)
    share_synthesis(runs, overrides=opts.overrides)
    grid = [GridRun(r.key, _evolve_options(opts, r, out, evals), donor=r.share_from) for r in runs]
    payload = TablePayload(rep, out, runs, evals)
    return build_graph(grid, shards=shards, theta0_gates_all=True, table=payload), out, payload


@dataclass
class SweepOptions:
    """``harness sweep``: every method × seed as one evolve run (the folder ``harness evolve`` would use)."""

    methods: list[str]
    seeds: list[int]
    iters: int = 3
    model: str = "tiny"
    images: str | None = None
    image_root: str | None = None
    images_per_iter: int | None = None
    backend: str = "hf"
    gen_batch_size: int = 16
    gen_dtype: str = "auto"
    evals: list[str] | None = None
    runs_dir: Path = Path("runs")
    variant: str | None = None
    overrides: list[str] = field(default_factory=list)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    eval_options: dict[str, Any] = field(default_factory=dict)
    out: Path | None = None


def sweep_out(s: SweepOptions) -> Path:
    from harness.evolve.options import slug

    seeds = "-".join(str(x) for x in s.seeds)
    return s.out or s.runs_dir / slug(f"sweep-{'-'.join(s.methods)}-{Path(str(s.model)).name}-s{seeds}")


def sweep_jobs(s: SweepOptions, shards: int = 1) -> tuple[list[JobSpec], Path]:
    """Each run's θ0 evaluated in its own folder (as ``harness evolve`` does), each run's jobs after it."""
    from harness.evolve.options import EvolveOptions, check_options, default_evals, slug, variant_label
    from harness.method import build_config
    from harness.options import check_method_sets
    from harness.plugins import registry

    if not s.methods:
        raise HarnessError("--method: name at least one method (repeat the option for several)")
    if not s.seeds:
        raise HarnessError("--seed: name at least one seed (repeat the option for several)")
    reg = registry()
    evals = list(s.evals) if s.evals is not None else default_evals(reg)
    for bench in evals:
        reg.benchmark(bench)
    runs = []
    for method in dict.fromkeys(s.methods):
        cls = reg.method(method)
        check_method_sets(cls.Config, s.overrides)
        build_config(cls, s.overrides, s.variant)
        for seed in dict.fromkeys(s.seeds):
            label = variant_label(method, s.variant, s.overrides)
            run_dir = s.runs_dir / slug(f"{label}-{Path(str(s.model)).name}-s{seed}")
            opts = EvolveOptions(
                method=method,
                iters=s.iters,
                model=s.model,
                images=s.images,
                image_root=s.image_root,
                images_per_iter=s.images_per_iter,
                backend=s.backend,
                gen_batch_size=s.gen_batch_size,
                gen_dtype=s.gen_dtype,
                evals=evals,
                run_dir=run_dir,
                seed=seed,
                variant=s.variant,
                overrides=list(s.overrides),
                train_overrides=dict(s.train_overrides),
                eval_options=dict(s.eval_options),
                progress=False,
            )
            check_options(opts)
            runs.append(GridRun(run_dir.name, opts))
    if s.model != "tiny" and not Path(s.model).exists():
        raise HarnessError(f"--model {s.model}: model path not found (a llava-hf checkpoint folder, or 'tiny')")
    return build_graph(runs, shards=shards, theta0_gates_all=False), sweep_out(s)


def describe_jobs(jobs: list[JobSpec], resources: dict) -> str:
    """One line per job: key, what it does, what it waits for, what it asks for (``--dry-run``)."""
    lines = []
    for j in jobs:
        res = resources[j.resources]
        ask = f"{res.nodes}×{res.gpus} GPU, {res.time_min} min" + (f", {res.partition}" if res.partition else "")
        after = f" after {', '.join(j.deps)}" if j.deps else ""
        lines.append(f"  {j.key}: {j.describe()} [{ask}]{after}")
    return "\n".join(lines)


def run_grid(
    jobs: list[JobSpec], out: Path, cluster: ClusterOptions, console: Console, *, dry_run: bool = False
) -> Submission | None:
    at_least("--synthesis-shards", cluster.synthesis_shards, 1)
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise HarnessError(
            f"--executor {cluster.executor}: needs submitit (pip install 'self-evolution-harness[cluster]')"
        ) from None
    resources = resources_for(cluster)
    if dry_run:
        console.print(f"{len(jobs)} job(s) for --executor {cluster.executor} (nothing is submitted):", highlight=False)
        console.print(describe_jobs(jobs, resources), highlight=False)
        return None
    return submit(jobs, out, cluster, resources, console)


def reproduce_on(opts, cluster: ClusterOptions, console: Console | None = None, *, rep=None, dry_run=False):
    """``harness reproduce TABLE --executor …``: the table's jobs submitted; with the local executor they run
    here and the table is printed at the end."""
    console = console or Console()
    jobs, out, payload = reproduce_jobs(opts, cluster.synthesis_shards, rep)
    sub = run_grid(jobs, out, cluster, console, dry_run=dry_run)
    if sub is not None and cluster.executor == "local":
        from harness.reproduce import collect, render_rich

        console.print(render_rich(collect(payload.reproduction, out, payload.runs, payload.evals)))
        console.print(f"wrote {out / 'table.md'} and {out / 'table.json'}", highlight=False)
    elif sub is not None:
        console.print(f"the last job, `table`, writes {out / 'table.md'} when every result is in", highlight=False)
    return sub
