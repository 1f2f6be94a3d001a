"""LoRA under multi-process training: θi is merged from the gathered adapter, not from each rank's shard.

Two `accelerate launch` workers (the ``cpu_ddp`` config, gloo) with 4 pairs each must write the same
merged checkpoint as one process with all 8: the adapter is saved once (gathered), and the main
process merges it into θi−1's full weights read from disk.
"""

import json

from safetensors.torch import load_file

from harness import atomic
from harness.images.sources import ImageRef, SyntheticSource
from harness.images.synthetic import make_scene
from harness.method import TrainingObjective
from harness.train.config import TrainConfig
from harness.train.dpo import train_iteration
from harness.train.launch import launch, write_job


def _rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        scene, other = make_scene("lora-ddp", i), make_scene("lora-ddp", i + 50)
        rows.append(
            {
                "image_ref": f"synthetic/lora-ddp/{i}",
                "prompt": "Describe the image.",
                "chosen": scene.caption(),
                "rejected": other.caption(),
                "kind": "des",
            }
        )
    return rows


def test_two_process_lora_writes_the_single_process_merged_checkpoint(tiny_path, tmp_path):
    source = SyntheticSource(namespace="lora-ddp", size=100)
    objective = TrainingObjective()
    # lr 5e-3: LoRA's B starts at zero, so one step must move the merged weights well above the tolerance
    base = TrainConfig.for_model("tiny").with_overrides(
        {"live_reference": True, "learning_rate": 5e-3, "lora": True, "lora_r": 4, "lora_alpha": 8}
    )
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
    assert info["processes"] == 2 and info["steps"] == 1

    single = train_iteration(
        tiny_path,
        tmp_path / "single",
        atomic.read_jsonl(job.with_suffix(".rows.jsonl")),
        objective=objective,
        cfg=base,
        open_image=lambda e: source.open(ImageRef(e["image_ref"])),
    )
    assert single["processes"] == 1
    a, b = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(tmp_path / "single" / "model.safetensors")
    start = load_file(tiny_path / "model.safetensors")
    assert a.keys() == b.keys() == start.keys()  # merged: plain weights, no lora_A/lora_B or base_layer keys
    moved = {k: (a[k] - start[k]).abs().max().item() for k in a}
    assert max(v for k, v in moved.items() if "language_model" in k) > 1e-4  # the adapter was merged in
    assert all(v == 0 for k, v in moved.items() if "vision_tower" in k)
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    assert not (tmp_path / "ddp" / "adapter_config.json").exists()
