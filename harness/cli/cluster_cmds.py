"""`harness sweep` (methods × seeds as cluster jobs), `harness status` (a submitted grid's jobs), and the
scheduler options `harness reproduce --executor` shares with sweep (harness/cluster/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from harness.cli.app import app, console_for_output, user_errors
from harness.cli.config_file import config_option, resolved_toml
from harness.cli.parsing import parse_evals, parse_train_sets

SUBMIT_TOML_HEADER = """The options that submitted this grid, resolved (file, command line, defaults).
Resubmitting with `--config` this file submits only the jobs that are not finished; each resumes its stages."""


def executor_option() -> Any:
    return typer.Option(
        None,
        "--executor",
        help="Run the grid as scheduler jobs: slurm (sbatch through submitit, with dependencies; returns once "
        "queued) or local (the same jobs as local processes, one at a time). Default: one process, no jobs.",
    )


def profile_option() -> Any:
    return typer.Option(None, "--profile", help="A TOML file of job resources per kind of job (docs/cluster.md).")


def partition_option() -> Any:
    return typer.Option(None, "--partition", help="SLURM partition of every job (wins over --profile).")


def account_option() -> Any:
    return typer.Option(None, "--account", help="SLURM account the jobs are charged to.")


def qos_option() -> Any:
    return typer.Option(None, "--qos", help="SLURM quality of service of the jobs.")


def gpus_option() -> Any:
    return typer.Option(None, "--gpus-per-node", help="GPUs per node of every job but the table's.")


def nodes_option() -> Any:
    return typer.Option(None, "--nodes", help="Nodes of each training job (accelerate + DeepSpeed over all).")


def time_option() -> Any:
    return typer.Option(None, "--time", help="Time limit of every job: minutes, HH:MM:SS or D-HH:MM:SS.")


def shards_option() -> Any:
    return typer.Option(
        1, "--synthesis-shards", help="Split each synthesis stage into this many jobs (one node each), joined."
    )


def cluster_options(ctx: typer.Context, out: Path, words: list[str], **values) -> Any:
    """ClusterOptions from the command line; the resolved options go to OUT/cluster/submit.toml, and the
    command that resubmits the grid reads them back."""
    from harness.cluster.resources import ClusterOptions

    settings = Path(out) / "cluster" / "submit.toml"
    opts = ClusterOptions(
        executor=values["executor"],
        profile=values.get("profile"),
        partition=values.get("partition"),
        account=values.get("account"),
        qos=values.get("qos"),
        gpus=values.get("gpus"),
        nodes=values.get("nodes"),
        time=values.get("time"),
        synthesis_shards=values.get("synthesis_shards", 1),
        resume_command=" ".join(["harness", *words, "--config", str(settings)]),
        settings=(settings, resolved_toml(ctx, SUBMIT_TOML_HEADER)),  # written once the checks pass
    )
    return opts


@app.command("sweep")
@user_errors
def sweep_cmd(
    ctx: typer.Context,
    config: Optional[Path] = config_option(),
    methods: list[str] = typer.Option(..., "--method", "-m", help="Registered method(s); repeat the option."),
    seeds: list[int] = typer.Option([0], "--seed", help="Seed(s); repeat the option. One run per method × seed."),
    iters: int = typer.Option(3, "--iters", "-n", help="Number of iterations θ0 → θN."),
    model: str = typer.Option("tiny", help="θ0: a llava-hf checkpoint folder, or `tiny`."),
    images: Optional[str] = typer.Option(None, help="Unlabeled images, as for `harness evolve`."),
    image_root: Optional[str] = typer.Option(None, help="Folder the image paths of a .json source are relative to."),
    images_per_iter: Optional[int] = typer.Option(None, help="Images per iteration (as `harness evolve`)."),
    backend: str = typer.Option("hf", help="Generation backend (see `harness evolve --help`)."),
    gen_batch_size: int = typer.Option(16, help="Batch size of the hf backend."),
    gen_dtype: str = typer.Option("auto", help="Generation precision: auto, fp16, bf16 or fp32."),
    eval_benches: Optional[list[str]] = typer.Option(None, "--eval", help="Benchmark(s) each θi is scored on."),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding the run directories (as `harness evolve`)."),
    out: Optional[Path] = typer.Option(None, help="Folder of the sweep's job records (default: under --runs-dir)."),
    variant: Optional[str] = typer.Option(None, help="A named variant of every method."),
    sets: list[str] = typer.Option([], "--set", help="Method option key=value (repeatable)."),
    train_sets: list[str] = typer.Option([], "--train", help="Training option key=value (repeatable)."),
    executor: str = typer.Option("slurm", "--executor", help="slurm (sbatch through submitit) or local."),
    profile: Optional[Path] = profile_option(),
    partition: Optional[str] = partition_option(),
    account: Optional[str] = account_option(),
    qos: Optional[str] = qos_option(),
    gpus: Optional[int] = gpus_option(),
    nodes: Optional[int] = nodes_option(),
    time: Optional[str] = time_option(),
    synthesis_shards: int = shards_option(),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the jobs and what they wait for; submit nothing."),
) -> None:
    """Submit methods × seeds as evolve runs, each a chain of jobs (θ0's evaluation, one job per iteration,
    one per benchmark of each θi); the runs land where `harness evolve` puts them, for `harness leaderboard`.
    Resubmitting the same command submits only what is not finished."""
    from harness.cluster.grids import SweepOptions, run_grid, sweep_jobs

    sweep = SweepOptions(
        methods=list(methods),
        seeds=list(seeds),
        iters=iters,
        model=model,
        images=images,
        image_root=image_root,
        images_per_iter=images_per_iter,
        backend=backend,
        gen_batch_size=gen_batch_size,
        gen_dtype=gen_dtype,
        evals=parse_evals(eval_benches),
        runs_dir=runs_dir,
        variant=variant,
        overrides=list(sets),
        train_overrides=parse_train_sets(train_sets),
        out=out,
    )
    jobs, where = sweep_jobs(sweep, synthesis_shards)
    cluster = cluster_options(
        ctx,
        where,
        ["sweep"],
        executor=executor,
        profile=profile,
        partition=partition,
        account=account,
        qos=qos,
        gpus=gpus,
        nodes=nodes,
        time=time,
        synthesis_shards=synthesis_shards,
        dry_run=dry_run,
    )
    run_grid(jobs, where, cluster, console_for_output(), dry_run=dry_run)


@app.command("status")
@user_errors
def status_cmd(
    folder: Path = typer.Argument(..., help="The folder of a submitted grid (reproduce's --out, sweep's --out)."),
) -> None:
    """Each job of a submitted grid: its state (from the job and the scheduler) and its log file; for a failed
    job its error, and the command that resubmits what is not finished."""
    from harness.cluster.status import print_status

    print_status(folder, console_for_output())
