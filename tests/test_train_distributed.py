"""The multi-process training path: `accelerate launch` workers, data parallel over gloo on CPU.

Two processes with 4 pairs each must make the same update as one process with all 8: the same
global batch, gradients averaged across processes, θi written once by the main process.
"""

import json

import pytest
from safetensors.torch import load_file

from harness import atomic
from harness.errors import HarnessError
from harness.images.sources import ImageRef, SyntheticSource
from harness.images.synthetic import make_scene
from harness.method import TrainingObjective
from harness.train.config import TrainConfig
from harness.train.dpo import train_iteration
from harness.train.launch import launch, write_job


def _rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        scene, other = make_scene("ddp", i), make_scene("ddp", i + 50)
        rows.append(
            {
                "image_ref": f"synthetic/ddp/{i}",
                "prompt": "Describe the image.",
                "chosen": scene.caption(),
                "rejected": other.caption(),
                "kind": "des" if i % 2 == 0 else "gen",
            }
        )
    return rows


def test_two_process_data_parallel_update_equals_one_process(tiny_path, tmp_path):
    source = SyntheticSource(namespace="ddp", size=100)
    objective = TrainingObjective(align_weight=1.0)  # the CA term is averaged across processes too
    # lr 5e-4 (not the tiny default): an update well above the tolerance the two runs must agree to
    base = TrainConfig.for_model("tiny").with_overrides({"live_reference": True, "learning_rate": 5e-4})
    ddp = base.with_overrides({"per_device_batch_size": 4, "launcher": "accelerate", "accelerate_config": "cpu_ddp"})
    job = write_job(
        tmp_path / "job.json",
        policy_path=tiny_path,
        out_dir=tmp_path / "ddp",
        rows=_rows(8),
        objective=objective,
        cfg=ddp,
        source=source.describe(),
    )
    launch(job, ddp.accelerate_config)
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
    assert single["processes"] == 1
    assert info["train_loss"] == pytest.approx(single["train_loss"], rel=1e-5)
    a, b = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(tmp_path / "single" / "model.safetensors")
    start = load_file(tiny_path / "model.safetensors")
    moved = max((a[k] - start[k]).abs().max().item() for k in a)
    assert moved > 1e-4  # the step changed the weights (lr 5e-4)
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    assert (tmp_path / "ddp" / "tokenizer.json").is_file()


def test_unknown_accelerate_config_is_refused_with_the_shipped_names():
    with pytest.raises(HarnessError, match="cpu_ddp.*zero3"):
        TrainConfig().with_overrides({"launcher": "accelerate", "accelerate_config": "zero4"})
    with pytest.raises(HarnessError, match="needs accelerate_config"):
        TrainConfig().with_overrides({"launcher": "accelerate"})
