"""A LoRA training iteration on the tiny model shows no transformers FutureWarning about
``is_gradient_checkpointing`` (read inside peft and TRL, filtered narrowly: harness/train/library_warnings.py)."""

from __future__ import annotations

import warnings

from harness.images.synthetic import make_scene
from harness.method import TrainingObjective
from harness.train.config import TrainConfig
from harness.train.library_warnings import library_checkpointing_warning_filtered

EXAMPLES = [
    {
        "image_ref": f"synthetic/t/{i}",
        "prompt": "Describe the image.",
        "chosen": "There is a red circle.",
        "rejected": "There is a blue square.",
        "kind": "des",
    }
    for i in range(8)
]


def _open(example):
    return make_scene("t", int(example["image_ref"].rsplit("/", 1)[1])).render()


def test_lora_iteration_shows_no_is_gradient_checkpointing_warning(tiny_path, tmp_path):
    from harness.train.dpo import train_iteration

    cfg = TrainConfig.for_model("tiny").with_overrides(
        {"live_reference": True, "lora": True, "lora_r": 4, "lora_alpha": 8}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = train_iteration(
            tiny_path, tmp_path / "ckpt", EXAMPLES, objective=TrainingObjective(), cfg=cfg, open_image=_open
        )
    assert info["steps"] >= 1 and (tmp_path / "ckpt" / "config.json").is_file()
    about = [str(w.message) for w in caught if "is_gradient_checkpointing" in str(w.message)]
    assert not about, about


def test_the_filter_is_narrow(tiny_policy):
    """Only that message is ignored, only inside the block: the property still warns elsewhere, and another
    FutureWarning inside the block still shows."""
    model = tiny_policy.model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with library_checkpointing_warning_filtered():
            _ = model.is_gradient_checkpointing
            warnings.warn("another deprecation", FutureWarning, stacklevel=1)
        _ = model.is_gradient_checkpointing
    messages = [str(w.message) for w in caught]
    assert "another deprecation" in messages
    assert sum("is_gradient_checkpointing" in m for m in messages) == 1  # the read outside the block
