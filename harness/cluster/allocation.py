"""Training across the nodes of a SLURM allocation: accelerate (+ DeepSpeed) started on every node.

A training job of a grid holds N nodes (``--nodes``); evolve runs on the first, and its training stage, when it
trains in accelerate workers (``--train launcher=accelerate``, the default at scale), starts them with one
``srun`` step of one task per node (``--overlap``: the job's own step already holds the first node). Each
task (``python -m harness.cluster.node_launch``) reads where it runs from SLURM's environment and runs
``accelerate launch --num_machines N --machine_rank R --main_process_ip <first node> --num_processes N×G``,
so torchrun starts G workers per node and DeepSpeed shards over all N×G (with
``--deepspeed_multinode_launcher standard``: torchrun on each node, no pdsh/ssh; accelerate's docs,
"Multi-node training"). Everything is read at call time; nothing here runs outside an allocation of
several nodes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

DEFAULT_PORT = 29500


@dataclass(frozen=True)
class Allocation:
    nodes: int
    node_rank: int
    hostnames: tuple[str, ...]
    job_id: str | None = None

    @property
    def master(self) -> str:
        return self.hostnames[0]

    def port(self) -> int:
        """A rendezvous port per job, so two jobs sharing a node do not collide (29500 outside a job)."""
        return 20000 + int(self.job_id) % 10000 if self.job_id and self.job_id.isdigit() else DEFAULT_PORT


def expand_nodelist(nodelist: str) -> list[str]:
    """``gpu-[017-018],cpu1`` → host names: ``scontrol show hostnames`` where SLURM is installed, else
    submitit's parser of the same syntax."""
    if shutil.which("scontrol"):
        try:
            out = subprocess.run(
                ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, timeout=30
            )
            if out.returncode == 0 and out.stdout.split():
                return out.stdout.split()
        except (OSError, subprocess.SubprocessError):
            pass
    from submitit.slurm.slurm import _parse_node_list

    return list(_parse_node_list(nodelist))


def read_allocation(env: Mapping[str, str] | None = None) -> Allocation | None:
    """The allocation this process runs in, when it spans several nodes (None otherwise)."""
    env = os.environ if env is None else env
    nodes = int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or 1)
    if nodes <= 1:
        return None
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        raise HarnessError(f"SLURM says {nodes} nodes but gives no SLURM_JOB_NODELIST: cannot find the first node")
    hosts = expand_nodelist(nodelist)
    if len(hosts) < nodes:
        raise HarnessError(f"SLURM_JOB_NODELIST {nodelist} names {len(hosts)} host(s) for {nodes} nodes")
    rank = int(env.get("SLURM_NODEID", 0))
    return Allocation(nodes, rank, tuple(hosts[:nodes]), env.get("SLURM_JOB_ID"))


def _uses_deepspeed(config: Path) -> bool:
    import yaml

    try:
        data = yaml.safe_load(Path(config).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    return data.get("distributed_type") == "DEEPSPEED"


def accelerate_command(
    config: Path, job: Path, alloc: Allocation, gpus_per_node: int, *, port: int | None = None
) -> list[str]:
    """This node's ``accelerate launch`` of the training job: N machines × G processes."""
    if gpus_per_node < 1:
        raise HarnessError(f"{alloc.nodes} nodes with {gpus_per_node} GPU(s) each: at least one process per node")
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "--num_machines",
        str(alloc.nodes),
        "--machine_rank",
        str(alloc.node_rank),
        "--main_process_ip",
        alloc.master,
        "--main_process_port",
        str(port or alloc.port()),
        "--num_processes",
        str(alloc.nodes * gpus_per_node),
        *(["--deepspeed_multinode_launcher", "standard"] if _uses_deepspeed(config) else []),
        "-m",
        "harness.train.launch",
        str(job),
    ]


def srun_command(config: Path, job: Path, alloc: Allocation, gpus_per_node: int) -> list[str]:
    """The step that starts ``node_launch`` once on every node of the allocation."""
    return [
        "srun",
        f"--nodes={alloc.nodes}",
        f"--ntasks={alloc.nodes}",
        "--ntasks-per-node=1",
        "--overlap",
        "--kill-on-bad-exit=1",
        sys.executable,
        "-m",
        "harness.cluster.node_launch",
        "--config",
        str(config),
        "--gpus-per-node",
        str(gpus_per_node),
        "--port",
        str(alloc.port()),
        str(job),
    ]


def multi_node_launch(config: Path, job: Path, gpus_per_node: int | None) -> list[str] | None:
    """The command that trains ``job`` on every node of this allocation, or None on a single node (the
    caller's own ``accelerate launch`` then)."""
    alloc = read_allocation()
    if alloc is None:
        return None
    return srun_command(config, job, alloc, gpus_per_node or 1)


def nodes_note(nodes: int, gpus_per_node: int, plan) -> str:
    """What N nodes buy, for ``harness plan --nodes N --gpus G`` (``plan``: the plan for N×G GPUs)."""
    total = nodes * gpus_per_node
    zero3 = plan.memory.get("ZeRO-3")
    return (
        f"{nodes} nodes × {gpus_per_node} GPUs = {total}: training runs on all {total} (accelerate + DeepSpeed on "
        f"every node of a SLURM job with --nodes {nodes}), ZeRO-3 model states "
        + (f"{zero3:.1f} GiB per GPU, " if zero3 is not None else "")
        + f"global batch {plan.global_batch}, {plan.train_steps} steps per iteration; the synthesis and reference "
        f"estimates assume all {total} GPUs generate, i.e. each synthesis split into {nodes} shard jobs "
        f"(harness reproduce --synthesis-shards {nodes}); without them synthesis runs on one node, {nodes}× longer"
    )
