"""`harness evolve`, `harness plan` and `harness reproduce`: self-evolution runs and what they will cost."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from harness.cli.app import app, console_for_output, help_epilog_command, user_errors
from harness.cli.cluster_cmds import (
    account_option,
    executor_option,
    gpus_option,
    nodes_option,
    partition_option,
    profile_option,
    qos_option,
    shards_option,
    time_option,
)
from harness.cli.config_file import config_option, resolved_toml
from harness.cli.parsing import gen_helpers_option, parse_evals, parse_train_sets
from harness.errors import HarnessError

RUN_TOML_HEADER = """The options of `harness evolve` that made this run, resolved (file, command line, defaults).
`harness evolve --config run.toml` runs (or resumes) the same run; options on the command line win."""


@app.command("evolve")
@user_errors
def evolve_cmd(
    ctx: typer.Context,
    config: Optional[Path] = config_option(),
    method: str = typer.Option(..., "--method", "-m", help="Registered method (see `harness methods`)."),
    iters: int = typer.Option(3, "--iters", "-n", help="Number of iterations θ0 → θN."),
    model: str = typer.Option("tiny", help="θ0: a llava-hf checkpoint folder, or `tiny` (built-in, offline)."),
    images: Optional[str] = typer.Option(
        None,
        help="Unlabeled images: a folder, a LLaVA-665k or COCO .json (with --image-root), or `synthetic` (default).",
    ),
    image_root: Optional[str] = typer.Option(None, help="Folder the image paths of a .json source are relative to."),
    images_per_iter: Optional[int] = typer.Option(
        None,
        help="Images per iteration (default: the method's paper scale, shown by `harness methods NAME`, 6000 where "
        "a method declares none; 128 with the tiny model).",
    ),
    heldout_images: Optional[int] = typer.Option(
        None,
        help="Images per iteration beyond the trained ones whose pairs are held out, to measure the training's "
        "reward margin on pairs it never saw (default: a quarter of --images-per-iter, at most 32 with the tiny "
        "model and 256 otherwise; 0: none).",
    ),
    audit_truth: list[Path] = typer.Option(
        [],
        "--audit-truth",
        help="Truth for the pair audit beyond the image source (repeatable), e.g. for a LLaVA-665k source's coco/ "
        "images (COCO train2017) instances_train2017.json; as `harness audit --audit-truth` (docs/options.md).",
    ),
    backend: str = typer.Option(
        "hf",
        help="Generation backend: hf (transformers), vllm or vllm_embeds (GPU extra; vllm_embeds feeds noised images as embeddings of the exact noised tensor).",
    ),
    gen_batch_size: int = typer.Option(16, help="Generation batch size of the hf backend."),
    gen_helpers: str = gen_helpers_option(),
    gen_dtype: str = typer.Option(
        "auto",
        help="Generation precision: auto (fp16 on GPU as the official scripts, "
        "fp32 on CPU and for the tiny model), fp16, bf16 or fp32; recorded in the run.",
    ),
    backend_opts: list[str] = typer.Option(
        [],
        "--backend-opt",
        help="Engine option key=value of the backend "
        "(repeatable), e.g. gpu_memory_utilization=0.7, data_parallel_size=8.",
    ),
    chunk_images: int = typer.Option(
        256,
        help="Images per journaled chunk of the synthesis stage (and pairs per "
        "chunk of the reference pass): a killed stage resumes at its first "
        "unfinished chunk; host memory is bounded by one chunk.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the run's plan (`harness plan`) and do nothing."),
    eval_benches: Optional[list[str]] = typer.Option(
        None,
        "--eval",
        help="Benchmark(s) to score each θi on; "
        "repeat the option or separate with commas; `none` to skip "
        "(default: the benchmarks marked '--eval default' by `harness benchmarks`).",
    ),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding run directories."),
    run_dir: Optional[Path] = typer.Option(None, help="This run's directory (default: derived from the options)."),
    run_id: Optional[str] = typer.Option(
        None, help="Name of this run's directory under --runs-dir (a new run beside one with another config)."
    ),
    seed: int = typer.Option(0, help="Seed of image sampling, prompt choice and noise."),
    variant: Optional[str] = typer.Option(None, help="A named variant of the method (e.g. a paper's ablation rows)."),
    sets: list[str] = typer.Option([], "--set", help="Method option key=value (repeatable), e.g. se=false."),
    train_sets: list[str] = typer.Option(
        [], "--train", help="Training option key=value (repeatable), e.g. lora=true, learning_rate=1e-6."
    ),
    restart: bool = typer.Option(False, help="Delete an existing run directory with another config and start over."),
    track: Optional[str] = typer.Option(
        None,
        help="Experiment tracking: none, tensorboard (event files in RUN/track/tensorboard) or wandb (offline "
        "without WANDB_API_KEY); per-iteration metrics, the pair audit, a sample of pairs with images, training "
        "curves. Recorded in the run: a resume keeps it (default: the run's choice, else none).",
    ),
) -> None:
    """Self-evolve a policy: θ0 → θ1 → … on unlabeled images (synthesize pairs, reference pass, DPO).

    Rerunning the same command resumes from the last finished stage; a larger --iters continues a finished
    run (the earlier iterations stay as they are).
    """
    from harness.evolve import EvolveOptions, evolve

    evals = parse_evals(eval_benches)
    opts = EvolveOptions(
        method=method,
        iters=iters,
        model=model,
        images=images,
        image_root=image_root,
        images_per_iter=images_per_iter,
        heldout_images=heldout_images,
        audit_truth=list(audit_truth),
        backend=backend,
        gen_batch_size=gen_batch_size,
        gen_helpers=gen_helpers,
        evals=evals,
        runs_dir=runs_dir,
        run_dir=run_dir,
        seed=seed,
        variant=variant,
        overrides=list(sets),
        train_overrides=parse_train_sets(train_sets),
        restart=restart,
        run_id=run_id,
        gen_dtype=gen_dtype,
        backend_opts=list(backend_opts),
        chunk_images=chunk_images,
        track=track,
    )
    if dry_run:
        from harness.plan import plan_evolve, print_plan

        print_plan(plan_evolve(opts), console_for_output())
        return
    opts.run_toml = resolved_toml(ctx, RUN_TOML_HEADER)  # stored as RUN/run.toml
    evolve(opts, console_for_output())


@app.command("plan")
@user_errors
def plan_cmd(
    config: Optional[Path] = config_option(),
    method: str = typer.Option(..., "--method", "-m", help="Registered method (see `harness methods`)."),
    iters: int = typer.Option(3, "--iters", "-n", help="Number of iterations θ0 → θN."),
    model: str = typer.Option("tiny", help="θ0: a llava-hf checkpoint folder, or `tiny`."),
    images_per_iter: Optional[int] = typer.Option(None, help="Images per iteration (as `harness evolve`)."),
    variant: Optional[str] = typer.Option(None, help="A named variant of the method."),
    sets: list[str] = typer.Option([], "--set", help="Method option key=value (repeatable)."),
    train_sets: list[str] = typer.Option([], "--train", help="Training option key=value (repeatable)."),
    eval_benches: Optional[list[str]] = typer.Option(
        None, "--eval", help="Benchmark(s) each θi is scored on; `none` to skip."
    ),
    gpus: Optional[int] = typer.Option(None, help="GPUs to plan for (default: the ones this machine has)."),
    gpu_memory: Optional[float] = typer.Option(None, help="GiB per GPU to plan for (default: this machine's)."),
    nodes: int = typer.Option(
        1, help="Nodes to plan for; --gpus is then per node (training on all of them, synthesis in one job per node)."
    ),
) -> None:
    """The plan of an evolve run: generations and tokens per stage, training steps and memory per GPU under
    each ZeRO stage, judge calls and cost; wall-time estimates from throughputs recorded in perf/README.md."""
    from harness.evolve import EvolveOptions
    from harness.options import at_least
    from harness.plan import plan_evolve, print_plan

    if gpus is not None:
        at_least("--gpus", gpus, 0)
    if gpu_memory is not None and not gpu_memory > 0:
        raise HarnessError(f"--gpu-memory: must be a number > 0, got {gpu_memory}")
    evals = None if eval_benches is None else [b.strip() for e in eval_benches for b in e.split(",") if b.strip()]
    evals = [] if evals == ["none"] else evals
    opts = EvolveOptions(
        method=method,
        iters=iters,
        model=model,
        images_per_iter=images_per_iter,
        variant=variant,
        overrides=list(sets),
        train_overrides=parse_train_sets(train_sets),
        evals=evals,
    )
    at_least("--nodes", nodes, 1)
    if nodes > 1 and gpus is None:
        raise HarnessError(f"--nodes {nodes}: give --gpus, the GPUs of each node")
    plan = plan_evolve(opts, gpus=gpus * nodes if nodes > 1 else gpus, gpu_memory_gib=gpu_memory)
    if nodes > 1:  # what N nodes buy (harness/cluster/allocation.py)
        from harness.cluster.allocation import nodes_note

        plan.notes.insert(0, nodes_note(nodes, gpus, plan))
    print_plan(plan, console_for_output())


def _declared_tables() -> str | None:
    """The tables the registered methods declare, read when help is shown."""
    try:
        from harness.reproduce import known_reproductions

        tables = known_reproductions()
    except Exception:  # help must show even when a plugin is broken
        return None
    lines = [f"{name}: {rep.title}" if getattr(rep, "title", "") else name for name, (rep, _) in sorted(tables.items())]
    return "Tables: " + " · ".join(lines) if lines else None


@app.command("reproduce", cls=help_epilog_command(_declared_tables))
@user_errors
def reproduce_cmd(
    ctx: typer.Context,
    config: Optional[Path] = config_option(),
    table: str = typer.Argument(..., help="A published table a method plugin declares (an unknown name lists them)."),
    model: str = typer.Option("tiny", help="θ0: a llava-hf checkpoint folder, or `tiny` (built-in, offline)."),
    images: Optional[str] = typer.Option(None, help="Unlabeled images, as for `harness evolve`."),
    image_root: Optional[str] = typer.Option(None, help="Folder the image paths of a .json source are relative to."),
    images_per_iter: Optional[int] = typer.Option(
        None, help="Images per iteration (default: the paper's; 128 with the tiny model)."
    ),
    backend: str = typer.Option("hf", help="Generation backend (see `harness evolve --help`)."),
    gen_batch_size: int = typer.Option(16, help="Batch size of the hf backend."),
    gen_helpers: str = gen_helpers_option(),
    gen_dtype: str = typer.Option("auto", help="Generation precision: auto, fp16, bf16 or fp32."),
    eval_benches: Optional[list[str]] = typer.Option(
        None,
        "--eval",
        help="Benchmark(s) to score (repeatable; default: the table's; with the tiny model evolve's default).",
    ),
    out: Optional[Path] = typer.Option(
        None,
        help="Folder of the table's runs, table.md and table.json (default: runs/reproduce-<table>-<model>-s<seed>).",
    ),
    runs_dir: Path = typer.Option(Path("runs"), help="Folder holding run directories."),
    seed: int = typer.Option(0, help="Seed of image sampling, prompt choice and noise (the same for every row)."),
    sets: list[str] = typer.Option([], "--set", help="Method option key=value added to every row (repeatable)."),
    train_sets: list[str] = typer.Option([], "--train", help="Training option key=value (repeatable)."),
    judge_model: Optional[str] = typer.Option(None, help="Judge model (default: the benchmarks' protocol judge)."),
    judge_base_url: Optional[str] = typer.Option(
        None, help="OpenAI-compatible judge server; the key is read from OPENAI_API_KEY."
    ),
    judge_runs: int = typer.Option(3, help="Judge runs per item."),
    judge_concurrency: int = typer.Option(16, help="Concurrent judge requests."),
    judge_cache: bool = typer.Option(
        True, "--judge-cache/--no-judge-cache", help="Use the judge cache (--no-judge-cache bypasses it)."
    ),
    max_cost: Optional[float] = typer.Option(None, help="Stop before a benchmark's judge spend passes this many USD."),
    dry_run: bool = typer.Option(
        False, help="List the runs, generations, judge calls and estimated judge cost; run nothing."
    ),
    executor: Optional[str] = executor_option(),
    profile: Optional[Path] = profile_option(),
    partition: Optional[str] = partition_option(),
    account: Optional[str] = account_option(),
    qos: Optional[str] = qos_option(),
    gpus: Optional[int] = gpus_option(),
    nodes: Optional[int] = nodes_option(),
    time: Optional[str] = time_option(),
    synthesis_shards: int = shards_option(),
) -> None:
    """Re-run a paper's table (e.g. an ablation grid) and print ours beside the published numbers.

    Every row is an evolve run (resumable: rerun the same command to continue); θ0 is evaluated once.
    """
    from harness.reproduce import ReproduceOptions, reproduce
    from harness.reproduce import dry_run as plan_only

    eval_options = {
        "judge_model": judge_model,
        "judge_base_url": judge_base_url,
        "judge_runs": judge_runs,
        "judge_concurrency": judge_concurrency,
        "use_cache": judge_cache,
        "max_cost": max_cost,
    }
    evals = parse_evals(eval_benches)
    opts = ReproduceOptions(
        table=table,
        model=model,
        images=images,
        image_root=image_root,
        images_per_iter=images_per_iter,
        backend=backend,
        gen_batch_size=gen_batch_size,
        gen_helpers=gen_helpers,
        gen_dtype=gen_dtype,
        evals=evals,
        out=out,
        runs_dir=runs_dir,
        seed=seed,
        overrides=list(sets),
        train_overrides=parse_train_sets(train_sets),
        eval_options=eval_options,
    )
    if executor is not None:  # the table's runs as scheduler jobs (harness/cluster/)
        from harness.cli.cluster_cmds import cluster_options
        from harness.cluster.grids import reproduce_on
        from harness.reproduce import default_out

        where = default_out(opts)
        cluster = cluster_options(
            ctx,
            where,
            ["reproduce", table],
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
        reproduce_on(opts, cluster, console_for_output(), dry_run=dry_run)
    elif dry_run:
        plan_only(opts, console_for_output())
    else:
        reproduce(opts, console_for_output())
