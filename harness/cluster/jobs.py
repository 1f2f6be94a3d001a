"""A grid of evolve runs as a graph of jobs, and which of them are done.

Per run (``GridRun``: its ``EvolveOptions`` and the run whose θ1 pairs it copies, if any):

- ``<run>/theta0``: open the run (draw its images) and evaluate θ0 on every benchmark; first of all, so a
  benchmark, data or judge problem shows before days of training are queued behind it. In a table θ0 is
  evaluated once (by the run that owns the θ0 row); every run's first job waits for it. A run that needs
  its folder before its first iteration (synthesis shards) and evaluates no θ0 gets ``<run>/open``.
- ``<run>/synth-<i>-<k>of<S>``: shard k of S of θi's synthesis (``--synthesis-shards S``), after θi−1.
- ``<run>/train-<i>``: iteration i (synthesis or the shards' join, reference pass, training → θi), after
  θi−1 (or θ0's evaluation), its shards, and for θ1 of a run that copies its pairs, the donor's θ1.
- ``<run>/eval-<i>-<bench>``: θi on one benchmark, after ``train-<i>``; the next iteration does not wait.
- ``table``: the reproduced table from every result (``harness reproduce``), after every evaluation.

A job is done when the run folder says so (its stage markers: ``stages/<stage>.done``), so resubmitting
the same grid submits only what is missing, and each stage it reruns resumes from its journal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class GridRun:
    key: str
    opts: Any  # EvolveOptions of the whole run: run_dir, iters, evals, eval_theta0, share_from
    donor: str | None = None  # the run whose θ1 pairs this run copies (key)


@dataclass
class JobSpec:
    key: str
    kind: str  # open | synth | train | eval | table
    deps: tuple[str, ...] = ()
    run_dir: Path | None = None
    iteration: int = 0
    bench: str | None = None
    shard: tuple[int, int] | None = None
    opts: Any = None  # EvolveOptions of the run (for the table job: a TablePayload)
    resources: str = "train"  # which kind of job's resources it asks for (harness/cluster/resources.py)

    @property
    def slug(self) -> str:
        return self.key.replace("/", "__")

    def describe(self) -> str:
        if self.kind == "open":
            return "θ0 evaluation" if self.opts.eval_theta0 else "open the run"
        if self.kind == "synth":
            return f"θ{self.iteration} synthesis, shard {self.shard[0] + 1} of {self.shard[1]}"
        if self.kind == "train":
            return f"θ{self.iteration}: synthesis, reference pass, training"
        if self.kind == "eval":
            return f"θ{self.iteration} on {self.bench}"
        return "the table"


@dataclass
class TablePayload:
    """What the table job needs: the declared table, its out folder, its runs and benchmarks."""

    reproduction: Any
    out: Path
    runs: list = field(default_factory=list)  # PlannedRun
    evals: list[str] = field(default_factory=list)


def shard_marker(i: int, shard: tuple[int, int]) -> str:
    return f"synthesize-{i}-shard{shard[0]}-of-{shard[1]}"


def build_graph(
    runs: list[GridRun], *, shards: int = 1, theta0_gates_all: bool = True, table: TablePayload | None = None
) -> list[JobSpec]:
    """The jobs of ``runs`` in an order where every job comes after the jobs it needs."""
    jobs: list[JobSpec] = []
    theta0 = [f"{r.key}/theta0" for r in runs if r.opts.eval_theta0 and r.opts.evals]
    for run in runs:
        o = run.opts
        evals = list(o.evals or [])
        gate: list[str] = []
        own_theta0 = o.eval_theta0 and bool(evals)
        first_shards = shards > 1 and run.donor is None
        if own_theta0 or first_shards:
            key = f"{run.key}/theta0" if own_theta0 else f"{run.key}/open"
            deps = tuple(t for t in theta0 if t != key) if theta0_gates_all and not own_theta0 else ()
            jobs.append(JobSpec(key, "open", deps, o.run_dir, 0, opts=o, resources="eval"))
            gate = [key]
        elif theta0_gates_all:
            gate = list(theta0)
        prev = gate
        for i in range(1, o.iters + 1):
            deps = list(prev)
            if i == 1 and run.donor is not None:
                deps.append(f"{run.donor}/train-1")
            if shards > 1 and not (i == 1 and run.donor is not None):
                deps = [d for d in deps if d not in prev]  # the shards wait for θi−1 themselves
                parts = []
                for k in range(shards):
                    key = f"{run.key}/synth-{i}-{k + 1}of{shards}"
                    jobs.append(
                        JobSpec(key, "synth", tuple(prev), o.run_dir, i, shard=(k, shards), opts=o, resources="synth")
                    )
                    parts.append(key)
                deps += parts
            train = f"{run.key}/train-{i}"
            jobs.append(JobSpec(train, "train", tuple(dict.fromkeys(deps)), o.run_dir, i, opts=o, resources="train"))
            for bench in evals:
                jobs.append(
                    JobSpec(
                        f"{run.key}/eval-{i}-{bench}", "eval", (train,), o.run_dir, i, bench, opts=o, resources="eval"
                    )
                )
            prev = [train]
    if table is not None:
        needed = {d for j in jobs for d in j.deps}  # the table waits for the jobs no other job waits for
        leaves = tuple(j.key for j in jobs if j.key not in needed)
        jobs.append(JobSpec("table", "table", leaves, opts=table, resources="table"))
    return jobs


def _marker(run_dir: Path, stage: str) -> bool:
    return (Path(run_dir) / "stages" / f"{stage}.done").is_file()


def is_done(job: JobSpec) -> bool:
    """What the run folder says: every stage the job makes is marked done (the table job is never done:
    it is cheap and reads whatever results exist)."""
    if job.kind == "table":
        return False
    d = job.run_dir
    if job.kind == "open":
        if not (Path(d) / "manifest.json").is_file():
            return False
        return all(_marker(d, f"eval-0-{b}") for b in (job.opts.evals or [])) if job.opts.eval_theta0 else True
    if job.kind == "synth":
        return _marker(d, f"synthesize-{job.iteration}") or _marker(d, shard_marker(job.iteration, job.shard))
    if job.kind == "train":
        return _marker(d, f"train-{job.iteration}")
    return _marker(d, f"eval-{job.iteration}-{job.bench}")


def without_done(jobs: list[JobSpec], done: set[str]) -> list[JobSpec]:
    """The jobs still to run, their finished dependencies dropped."""
    return [dataclasses.replace(j, deps=tuple(d for d in j.deps if d not in done)) for j in jobs if j.key not in done]
