"""Worker entry point for multi-process training: ``accelerate launch -m harness.train.launch JOB.json``.

``harness evolve --train launcher=accelerate --train accelerate_config=zero3_offload`` (a shipped config's
name or any accelerate config file)
writes the iteration's job file and runs this module under ``accelerate launch``; generation and the
reference pass stay in the orchestrating process. No distributed code of our own: accelerate and
DeepSpeed/FSDP do the work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError
from harness.method import TrainingObjective
from harness.train.config import TrainConfig, resolve_accelerate_config


def write_job(
    path: Path,
    *,
    policy_path: Path,
    out_dir: Path,
    rows: list[dict[str, Any]],
    objective: TrainingObjective,
    cfg: TrainConfig,
    source: dict[str, Any],
    track: dict[str, Any] | None = None,
) -> Path:
    rows_file = path.with_suffix(".rows.jsonl")
    atomic.write_jsonl(rows_file, rows)
    atomic.write_json(
        path,
        {
            "policy_path": str(policy_path),
            "out_dir": str(out_dir),
            "rows": str(rows_file),
            "objective": asdict(objective),
            "train": asdict(cfg),
            "source": source,
            "track": track,  # where training curves go (harness/track/training.py); None: nowhere
        },
    )
    return path


def run_job(job_path: Path) -> dict[str, Any]:
    from harness.images.sources import ImageRef, source_from_description
    from harness.train.dpo import train_iteration

    job = json.loads(Path(job_path).read_text())
    source = source_from_description(job["source"])
    cfg = TrainConfig(**job["train"])
    info = train_iteration(
        Path(job["policy_path"]),
        Path(job["out_dir"]),
        atomic.read_jsonl(job["rows"]),
        objective=TrainingObjective(**job["objective"]),
        cfg=cfg,
        open_image=lambda e: source.open(ImageRef(e["image_ref"], e.get("image_path"))),
        track=job.get("track"),
    )
    return info


def launch(job_path: Path, accelerate_config: str, *, num_processes: int | None = None) -> None:
    """Run the job under ``accelerate launch``; raise HarnessError if the workers fail.

    ``num_processes``: one worker per local GPU (overrides the config's count; evolve passes the number of
    GPUs it sees, so a shipped 8-GPU config also runs on a 4-GPU node). Multi-node runs use an accelerate
    config with ``num_machines``/``machine_rank``/``main_process_ip`` on every node (docs/training.md)."""
    config = resolve_accelerate_config(accelerate_config)
    from harness.cluster.allocation import multi_node_launch

    # in a SLURM allocation of several nodes: accelerate on every node, N × num_processes workers (docs/cluster.md)
    # accelerate's launcher as a module of this interpreter: no reliance on `accelerate` being on PATH
    cmd = multi_node_launch(config, job_path, num_processes) or [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        *(["--num_processes", str(num_processes)] if num_processes and _single_machine(config) else []),
        "-m",
        "harness.train.launch",
        str(job_path),
    ]
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise HarnessError(f"training workers failed (exit {proc.returncode}): {' '.join(cmd)}")


def _single_machine(config: Path) -> bool:
    """True unless the accelerate config spans several machines (then its own process count stands)."""
    import yaml

    try:
        data = yaml.safe_load(config.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return True
    return (
        int(data.get("num_machines", 1) or 1) == 1
        and not data.get("use_cpu", False)
        and data.get("distributed_type") != "MULTI_CPU"
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: accelerate launch -m harness.train.launch JOB.json")
    from accelerate import PartialState

    from harness.progress import quiet_libraries

    quiet_libraries()
    info = run_job(Path(argv[0]))
    state = PartialState()
    if state.is_main_process:
        atomic.write_json(Path(argv[0]).with_suffix(".result.json"), info)
    # an orderly teardown: every rank waits, then the process group is destroyed before exit (left to
    # interpreter shutdown, a gloo rank was seen to abort with SIGABRT after a finished job)
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main()
