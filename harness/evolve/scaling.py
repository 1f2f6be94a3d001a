"""Training at scale by default: which launcher a non-tiny model trains with on this machine's GPUs."""

from __future__ import annotations

from pathlib import Path

from harness.evolve.gpu import local_gpus
from harness.train.config import TrainConfig
from harness.train.sizing import model_shape, training_launcher


def scale_training(
    model: str,
    base_path: Path,
    cfg: TrainConfig,
    record: dict,
    user: dict,
    gpus: int | None = None,
    gpu_memory_gib: float | None = None,
) -> tuple[TrainConfig, dict]:
    """Training at scale by default: a non-tiny model on a machine with GPUs trains in accelerate workers on
    every local GPU with ZeRO-3 (``zero3_offload`` when the ZeRO-3 model states would take over 60 % of a
    GPU); CPU and the tiny model keep the single inline process. A ``--train launcher=...`` wins."""
    if "launcher" in user or cfg.launcher != "inline" or model == "tiny":
        return cfg, record
    if gpus is None:
        gpus = local_gpus()
    if not gpus:
        return cfg, record
    if gpu_memory_gib is None:
        import torch

        gpu_memory_gib = torch.cuda.get_device_properties(0).total_memory / 1024**3
    shape = model_shape(base_path, lora_r=cfg.lora_r if cfg.lora else None)
    trainable = (
        (shape.lora_params + (shape.projector if cfg.lora_train_projector else 0))
        if cfg.lora
        else shape.language + shape.projector + (0 if cfg.freeze_vision_tower else shape.vision)
    )
    choice = training_launcher(model, cfg, gpus, gpu_memory_gib, shape.params, trainable)
    config_name = "zero3_offload" if "offload" in choice else "zero3"
    scaled = cfg.with_overrides({"launcher": "accelerate", "accelerate_config": config_name})
    record = dict(
        record,
        scaled={
            "launcher": "accelerate",
            "accelerate_config": config_name,
            "gpus": gpus,
            "why": f"{model}: {shape.params / 1e9:.1f}B parameters, {gpus} GPU(s) of {gpu_memory_gib:.0f} GiB",
        },
    )
    return scaled, record
