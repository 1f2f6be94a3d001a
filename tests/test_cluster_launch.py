"""Training across the nodes of a SLURM allocation (harness/cluster/allocation.py): the commands for 2 nodes × 8
GPUs as SLURM would see them, and 2 local processes standing in for 2 nodes (CPU, gloo) training to the weights
of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.cluster.allocation import accelerate_command, read_allocation, srun_command
from harness.errors import HarnessError
from harness.train.config import resolve_accelerate_config

SLURM_2x8 = {
    "SLURM_JOB_NUM_NODES": "2",
    "SLURM_NODEID": "1",
    "SLURM_JOB_NODELIST": "gpu-[017-018]",
    "SLURM_JOB_ID": "4242",
}


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_two_nodes_of_eight_gpus_make_one_zero3_launch_per_node():
    alloc = read_allocation(SLURM_2x8)
    assert alloc.nodes == 2 and alloc.node_rank == 1 and alloc.hostnames == ("gpu-017", "gpu-018")
    zero3 = resolve_accelerate_config("zero3")
    cmd = accelerate_command(zero3, "/runs/x/iter1/train_job.json", alloc, 8)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and cmd[-3:] == [
        "-m",
        "harness.train.launch",
        "/runs/x/iter1/train_job.json",
    ]
    assert _flag(cmd, "--config_file") == str(zero3)
    assert _flag(cmd, "--num_machines") == "2" and _flag(cmd, "--machine_rank") == "1"
    assert _flag(cmd, "--main_process_ip") == "gpu-017"  # the first node leads the rendezvous
    assert _flag(cmd, "--num_processes") == "16"  # 8 workers per node, ZeRO-3 over all 16
    assert _flag(cmd, "--deepspeed_multinode_launcher") == "standard"  # torchrun per node, no pdsh/ssh
    assert _flag(cmd, "--main_process_port") == str(20000 + 4242 % 10000)  # per job: two jobs on a node differ
    step = srun_command(zero3, "/runs/x/iter1/train_job.json", alloc, 8)
    assert step[:6] == ["srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--overlap", "--kill-on-bad-exit=1"]
    assert step[7:9] == ["-m", "harness.cluster.node_launch"] and _flag(step, "--gpus-per-node") == "8"
    # DDP (no DeepSpeed) gets no DeepSpeed launcher flag
    assert "--deepspeed_multinode_launcher" not in accelerate_command(
        resolve_accelerate_config("cpu_ddp"), "j.json", alloc, 8
    )


def test_one_node_is_no_multi_node_launch_and_a_short_nodelist_is_refused():
    assert read_allocation({"SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "gpu-017"}) is None
    assert read_allocation({}) is None
    with pytest.raises(HarnessError, match="names 1 host"):
        read_allocation({"SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "gpu-017"})


@pytest.mark.slow
def test_two_local_processes_as_two_nodes_train_to_the_weights_of_one(tiny_path, tmp_path):
    """`node_launch` twice, with SLURM's variables of node 0 and node 1 of a 2-node allocation of one 'GPU'
    each: torchrun per node, gloo on CPU; θ1 must equal one process's on the same 8 pairs. 71 s on 2 busy cores."""
    from safetensors.torch import load_file

    from harness import atomic
    from harness.images.sources import ImageRef, SyntheticSource
    from harness.method import TrainingObjective
    from harness.train.config import TrainConfig
    from harness.train.dpo import train_iteration
    from harness.train.launch import write_job
    from tests.test_train_distributed import _rows

    source = SyntheticSource(namespace="nodes", size=100)
    base = TrainConfig.for_model("tiny").with_overrides({"live_reference": True, "learning_rate": 5e-4})
    ddp = base.with_overrides({"per_device_batch_size": 4, "launcher": "accelerate", "accelerate_config": "cpu_ddp"})
    objective = TrainingObjective(align_weight=1.0)
    job = write_job(
        tmp_path / "job.json",
        policy_path=tiny_path,
        out_dir=tmp_path / "nodes",
        rows=_rows("nodes", 8),
        objective=objective,
        cfg=ddp,
        source=source.describe(),
    )
    config = resolve_accelerate_config("cpu_ddp")
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "SLURM_JOB_NUM_NODES": "2",
            "SLURM_NODEID": str(rank),
            "SLURM_JOB_NODELIST": "localhost,localhost",
            "HARNESS_TORCH_THREADS": "1",
        }
        env.pop("SLURM_JOB_ID", None)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "harness.cluster.node_launch", "--config", str(config), "--gpus-per-node", "1"]
                + ["--port", str(29600 + os.getpid() % 300), str(job)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=540)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "node 1 of 2 (localhost leads)" in outputs[1]
    info = json.loads(job.with_suffix(".result.json").read_text())
    assert info["processes"] == 2 and info["steps"] == 1 and info["examples"] == 8
    single = train_iteration(
        tiny_path,
        tmp_path / "single",
        atomic.read_jsonl(job.with_suffix(".rows.jsonl")),
        objective=objective,
        cfg=base,
        open_image=lambda e: source.open(ImageRef(e["image_ref"])),
    )
    assert info["train_loss"] == pytest.approx(single["train_loss"], rel=1e-5)
    a, b = load_file(tmp_path / "nodes" / "model.safetensors"), load_file(tmp_path / "single" / "model.safetensors")
    start = load_file(tiny_path / "model.safetensors")
    assert max((a[k] - start[k]).abs().max().item() for k in a) > 1e-4  # the step moved the weights
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5


def test_plan_says_what_two_nodes_buy(tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app
    from harness.evolve import EvolveOptions
    from harness.plan import plan_evolve
    from perf.gpu_smoke import llava_config

    llava_config(tiny=False).save_pretrained(tmp_path)  # LLaVA-1.5-7B's shapes, no weights
    args = ["plan", "--method", "sena", "--model", str(tmp_path), "--eval", "none", "--gpu-memory", "80"]
    result = CliRunner().invoke(app, [*args, "--nodes", "2", "--gpus", "8"], terminal_width=400)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "16 GPU(s) of 80 GiB" in text and "2 nodes × 8 GPUs = 16: training runs on all 16" in text
    assert "--synthesis-shards 2" in text
    one, two = (
        plan_evolve(EvolveOptions(method="sena", model=str(tmp_path), evals=[]), gpus=g, gpu_memory_gib=80)
        for g in (8, 16)
    )
    assert two.memory["ZeRO-3"] == pytest.approx(one.memory["ZeRO-3"] / 2)  # model states spread over twice the GPUs
    assert two.train_steps <= one.train_steps  # the same global batch, or one twice as large
    refused = CliRunner().invoke(app, [*args, "--nodes", "2"])
    assert refused.exit_code == 2 and "--nodes 2: give --gpus, the GPUs of each node" in refused.output
