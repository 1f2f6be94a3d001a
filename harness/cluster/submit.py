"""Submitting a grid's jobs through submitit: SLURM with ``--dependency=afterok`` edges, or the local executor.

Both skip every job the run folders mark done, so resubmitting the same command submits only what is missing
and every stage it reruns resumes from its journal (nothing finished is rerun or lost). On SLURM a job of an
earlier submission that is still pending or running is not submitted again: the new jobs depend on it.
``--kill-on-invalid-dep=yes`` makes SLURM cancel the jobs behind a failed one instead of leaving them pending.

The local executor has no dependencies: this process starts each job once the jobs it needs have finished,
one at a time (a job of a run uses every GPU of the machine), and stops starting new ones after a failure,
naming the job, its log file and the command that resumes the grid.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from harness import atomic
from harness.cluster.jobs import JobSpec, is_done, without_done
from harness.cluster.records import logs_dir, read_jobs, read_state, record_jobs
from harness.cluster.resources import ClusterOptions, Resources, check_slurm
from harness.errors import HarnessError

ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "REQUEUE_HOLD"}


class JobFailed(HarnessError):
    """A job of the grid failed; what finished is kept and the same command resumes the rest."""

    exit_code = 1


@dataclass
class Submission:
    executor: str
    done: list[str] = field(default_factory=list)  # finished before this submission: not submitted
    submitted: dict[str, str] = field(default_factory=dict)  # job key → scheduler id
    still_queued: dict[str, str] = field(default_factory=dict)  # from an earlier submission, not resubmitted
    order: list[str] = field(default_factory=list)  # local: the order the jobs started in


def resume_hint(opts: ClusterOptions) -> str:
    return opts.resume_command or "the same command"


def slurm_parameters(res: Resources, name: str, dependency: str | None) -> dict[str, Any]:
    """submitit's SlurmExecutor parameters of one job (each becomes an ``#SBATCH`` line)."""
    params: dict[str, Any] = {
        "job_name": name,
        "time": res.time_min,
        "nodes": res.nodes,
        "ntasks_per_node": 1,  # one process per node: evolve on the first, accelerate starts the GPUs' workers
        "use_srun": res.nodes == 1,  # a multi-node job's python runs on its first node only
        "dependency": dependency,
        "partition": res.partition,
        "account": res.account,
        "qos": res.qos,
        "gpus_per_node": res.gpus or None,
        "cpus_per_task": res.cpus_per_task,
        "mem": f"{res.mem_gb:g}GB" if res.mem_gb else None,
        "constraint": res.constraint,
        "setup": list(res.setup) or None,
        "additional_parameters": {
            "kill-on-invalid-dep": "yes",
            # a multi-node job's python is the batch shell: SLURM signals it only with B: (submitit's requeue)
            **({"signal": "B:USR2@90"} if res.nodes > 1 else {}),
            **dict(res.sbatch),
        },
    }
    return params


def _slurm_queue(ids: list[str]) -> dict[str, str]:
    """job id → state of this user's jobs squeue still lists (pending, running, …)."""
    if not ids or shutil.which("squeue") is None:
        return {}
    try:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i|%T", "-u", getpass.getuser()], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    states = dict(line.split("|", 1) for line in out.stdout.splitlines() if "|" in line)
    return {i: states[i] for i in ids if i in states}


def submit(
    jobs: list[JobSpec],
    out: Path,
    opts: ClusterOptions,
    resources: dict[str, Resources],
    console: Console | None = None,
    *,
    poll_s: float = 1.0,
) -> Submission:
    """Submit the jobs of ``jobs`` that are not done (SLURM: returns once queued; local: runs them)."""
    console = console or Console()
    if opts.executor not in ("slurm", "local"):
        raise HarnessError(f"--executor {opts.executor}: accepted: slurm, local")
    if opts.executor == "slurm":
        check_slurm(resources)
    if opts.settings is not None:
        atomic.write_text(*opts.settings)
    done = {j.key for j in jobs if is_done(j)}
    todo = without_done(jobs, done)
    sub = Submission(opts.executor, done=[j.key for j in jobs if j.key in done])
    console.print(
        f"[bold]{len(jobs)} job(s)[/]: {len(done)} done (kept, not submitted), {len(todo)} to run; "
        f"records in {out / 'cluster'}",
        highlight=False,
    )
    if opts.executor == "slurm":
        _submit_slurm(todo, out, opts, resources, console, sub)
    else:
        _run_local(todo, out, opts, resources, console, sub, poll_s)
    return sub


def _entry(spec: JobSpec, job, executor: str) -> dict[str, Any]:
    return {
        "kind": spec.kind,
        "what": spec.describe(),
        "deps": list(spec.deps),
        "job_id": str(job.job_id),
        "stdout": str(job.paths.stdout),
        "stderr": str(job.paths.stderr),
        "executor": executor,
    }


def _submit_slurm(todo, out, opts, resources, console, sub: Submission) -> None:
    import submitit

    from harness.cluster.work import GridJob

    earlier = read_jobs(out)["jobs"]
    queued = _slurm_queue([str(earlier[j.key]["job_id"]) for j in todo if j.key in earlier])
    ids: dict[str, str] = {}
    entries: dict[str, dict[str, Any]] = {}
    try:
        executor = submitit.SlurmExecutor(folder=logs_dir(out))
    except RuntimeError as exc:  # no srun
        raise HarnessError(f"--executor slurm: {exc}; nothing was submitted") from None
    for spec in todo:
        old = earlier.get(spec.key, {})
        if str(old.get("job_id")) in queued:
            ids[spec.key] = sub.still_queued[spec.key] = str(old["job_id"])
            continue
        deps = [ids[d] for d in spec.deps if d in ids]
        res = resources[spec.resources]
        executor.update_parameters(**slurm_parameters(res, spec.key, "afterok:" + ":".join(deps) if deps else None))
        try:
            job = executor.submit(GridJob(spec, out))
        except Exception as exc:  # noqa: BLE001 - sbatch's refusal, named with the job
            record_jobs(out, "slurm", resume_hint(opts), entries)
            message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise HarnessError(
                f"sbatch refused job {spec.key} ({spec.describe()}): {message}; its script is in {logs_dir(out)}; "
                f"{len(entries)} job(s) were submitted before it (kept; {out / 'cluster' / 'jobs.json'}). "
                f"Fix the cause, then resume with: {resume_hint(opts)}"
            ) from None
        ids[spec.key] = sub.submitted[spec.key] = str(job.job_id)
        entries[spec.key] = _entry(spec, job, "slurm")
    record_jobs(out, "slurm", resume_hint(opts), entries)
    console.print(
        f"submitted {len(sub.submitted)} job(s) to SLURM"
        + (f", {len(sub.still_queued)} still queued from before" if sub.still_queued else "")
        + f"; watch them with: harness status {out}",
        highlight=False,
    )


def _local_gpus(res: Resources) -> dict[str, Any]:
    """The local executor sets each job's CUDA_VISIBLE_DEVICES itself: every GPU this process sees (or the first
    ``--gpus-per-node`` of them), named as this process names them."""
    import os

    from harness.evolve.gpu import local_gpus

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [int(x) for x in visible.split(",") if x.strip().isdigit()] if visible else None
    count = len(ids) if ids is not None else local_gpus()
    params: dict[str, Any] = {"gpus_per_node": min(res.gpus, count) if res.gpus else count}
    if ids:
        params["visible_gpus"] = ids
    return params


def _local_executor(out: Path, res: Resources):
    import submitit

    executor = submitit.LocalExecutor(folder=logs_dir(out))
    executor.update_parameters(timeout_min=res.time_min, **_local_gpus(res))
    return executor


def _failure(spec: JobSpec, job, out: Path, opts: ClusterOptions) -> str:
    state = read_state(out, spec.slug)
    try:
        job.result()
        why = "unknown"
    except Exception as exc:  # noqa: BLE001 - the job's error, or that it died without a result
        why = state.get("error") or str(exc).strip().splitlines()[-1]
    if state.get("state") == "running":  # it never wrote its end: killed
        why = f"killed before it finished ({why})"
    return (
        f"job {spec.key} ({spec.describe()}) failed: {why}; its log: {job.paths.stderr} (and {job.paths.stdout}). "
        f"Every finished stage and journaled chunk is kept; resume the grid with: {resume_hint(opts)}"
    )


def _run_local(todo, out, opts, resources, console, sub: Submission, poll_s: float) -> None:
    from harness.cluster.work import GridJob

    finished: set[str] = set()
    entries: dict[str, dict[str, Any]] = {}
    for spec in todo:  # in graph order: every job's dependencies have finished before it starts
        job = _local_executor(out, resources[spec.resources]).submit(GridJob(spec, out))
        sub.order.append(spec.key)
        sub.submitted[spec.key] = str(job.job_id)
        entries[spec.key] = _entry(spec, job, "local")
        record_jobs(out, "local", resume_hint(opts), {spec.key: entries[spec.key]})
        console.print(f"[bold]started[/] {spec.key}: {spec.describe()} (log {job.paths.stdout})", highlight=False)
        try:
            while not job.done():
                time.sleep(poll_s)
        except KeyboardInterrupt:
            job.cancel(check=False)
            raise
        if job.state != "FINISHED" or _failed(job):
            message = _failure(spec, job, out, opts)
            rest = [j.key for j in todo if j.key not in finished and j.key != spec.key]
            raise JobFailed(message + (f". Not started: {', '.join(rest)}" if rest else ""))
        finished.add(spec.key)


def _failed(job) -> bool:
    try:
        job.result()
    except Exception:  # noqa: BLE001
        return True
    return False
