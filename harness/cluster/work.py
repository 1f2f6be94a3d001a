"""What a job of a grid runs, in the job's own process (a SLURM node, or a local process).

Every job is the same engine code as ``harness evolve`` runs, on the run folder the whole grid shares:

- ``open``: ``evolve`` with ``stop_after=0``: the run opened (its images drawn), θ0 evaluated if asked;
- ``train``: ``evolve`` with ``stop_after=i`` and no benchmark: iterations 1…i, of which all but the last
  are already done (skipped); a killed or requeued job resumes at the first unfinished chunk;
- ``synth``: one shard of θi's synthesis (``synthesize_stage(shard=(k, S))``), journaled on its own;
- ``eval``: ``evaluate_stage`` of θi on one benchmark (the function evolve calls): it writes only
  ``iter<i>/eval/<bench>/`` (under that result's own lock) and its stage marker, so it runs beside the next
  iteration's job, which holds the run folder's lock;
- ``table``: the reproduced table from the stored results (``harness.reproduce.collect``).

``GridJob`` is submitit's ``Checkpointable``: on a time limit or preemption submitit requeues the same call,
which resumes from the run folder. The job writes ``OUT/cluster/state/<job>.json`` when it starts, finishes
or fails (harness/cluster/records.py).
"""

from __future__ import annotations

import dataclasses
import socket
import traceback
from pathlib import Path
from typing import Any

from submitit.helpers import Checkpointable

from harness.cluster.jobs import JobSpec, shard_marker
from harness.cluster.records import now, read_state, write_state


def _job_id() -> str | None:
    try:
        import submitit

        return str(submitit.JobEnvironment().job_id)
    except RuntimeError:  # not inside a submitit job (a direct call)
        return None


class GridJob(Checkpointable):
    """One job of a grid: ``spec`` run against the run folder; ``out``: the grid's folder (its cluster/)."""

    def __init__(self, spec: JobSpec, out: Path):
        self.spec = spec
        self.out = Path(out)

    def __call__(self) -> dict[str, Any]:
        slug = self.spec.slug
        attempts = int(read_state(self.out, slug).get("attempts", 0)) + 1
        write_state(
            self.out,
            slug,
            key=self.spec.key,
            state="running",
            started=now(),
            ended=None,
            error=None,
            host=socket.gethostname(),
            job_id=_job_id(),
            attempts=attempts,
        )
        try:
            result = run_spec(self.spec)
        except BaseException as exc:
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            write_state(self.out, slug, state="failed", ended=now(), error=text[-2000:])
            raise
        write_state(self.out, slug, state="finished", ended=now())
        return result


def run_spec(spec: JobSpec) -> dict[str, Any]:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[bold]job[/] {spec.key}: {spec.describe()}")
    if spec.kind == "table":
        return _table(spec, console)
    from harness.evolve import evolve

    opts = spec.opts
    if spec.kind == "open":
        evolve(dataclasses.replace(opts, stop_after=0), console)
        return {"job": spec.key}
    if spec.kind == "train":
        evolve(dataclasses.replace(opts, stop_after=spec.iteration, eval_theta0=False, evals=[]), console)
        return {"job": spec.key}
    if spec.kind == "synth":
        return _synth_shard(spec, console)
    if spec.kind == "eval":
        return _evaluate(spec, console)
    raise ValueError(f"unknown job kind {spec.kind!r}")


def _opened_run(run_dir: Path):
    """The run as evolve left it, read only: these jobs write their own files and markers, never the
    manifest, so they need not hold the run folder's lock (the next iteration's job holds it)."""
    from harness.errors import HarnessError
    from harness.runs import Run, read_manifest

    manifest = read_manifest(run_dir)
    if manifest is None:
        raise HarnessError(f"{run_dir}: no run there yet (manifest.json missing): the job it needs has not run")
    return Run(Path(run_dir), manifest)


def _evaluate(spec: JobSpec, console) -> dict[str, Any]:
    from harness.evolve.evaluate import evaluate_stage
    from harness.evolve.options import variant_label
    from harness.policy.loading import resolve_model_path
    from harness.policy.threads import threads_for, torch_threads

    opts = dataclasses.replace(spec.opts, evals=[spec.bench])
    run = _opened_run(spec.run_dir)
    base_path = resolve_model_path(opts.model)
    label = variant_label(opts.method, opts.variant, opts.overrides)
    with torch_threads(threads_for(base_path)):
        metrics = evaluate_stage(run, spec.iteration, base_path, opts, console, label)
    return {"job": spec.key, "metrics": metrics.get(spec.bench, {})}


def _synth_shard(spec: JobSpec, console) -> dict[str, Any]:
    from harness import atomic
    from harness.evolve.evaluate import checkpoint_path
    from harness.evolve.synthesize import synthesize_stage
    from harness.images import ImageRef, open_source
    from harness.method import build_config
    from harness.plugins import registry
    from harness.policy.loading import resolve_model_path
    from harness.policy.threads import threads_for, torch_threads

    opts, i = spec.opts, spec.iteration
    run = _opened_run(spec.run_dir)
    if run.done(f"synthesize-{i}"):
        return {"job": spec.key, "skipped": "the stage is finished"}
    cls = registry().method(opts.method)
    method = cls(build_config(cls, opts.overrides, opts.variant))
    source = open_source(opts.images, image_root=opts.image_root)
    base_path = resolve_model_path(opts.model)
    refs = [
        ImageRef(r["id"], r["path"], tuple(r.get("questions", ())))
        for r in atomic.read_json(run.iter_dir(i) / "images.json")
    ]
    with torch_threads(threads_for(base_path)):
        synthesize_stage(
            run, i, checkpoint_path(run, i - 1, base_path), method, source, refs, opts, console, shard=spec.shard
        )
    run.mark_done(shard_marker(i, spec.shard))
    return {"job": spec.key}


def _table(spec: JobSpec, console) -> dict[str, Any]:
    from harness.reproduce import collect, render_rich, write_table

    payload = spec.opts
    result = collect(payload.reproduction, payload.out, payload.runs, payload.evals)
    write_table(result)
    console.print(render_rich(result))
    console.print(f"wrote {payload.out / 'table.md'} and {payload.out / 'table.json'}")
    return {"job": spec.key, "table": str(payload.out / "table.json")}
