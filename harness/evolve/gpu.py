"""The GPU between stages: which device and precision each stage uses, loading θ for a stage, and handing
the memory of dropped models back before the next stage loads its own."""

from __future__ import annotations

import gc
from pathlib import Path

from harness.errors import HarnessError
from harness.train.config import TrainConfig


def release_accelerator() -> None:
    """Give the GPU memory of dropped models back before the next stage loads its own. Without CUDA this
    does nothing: CPU memory of a dropped model goes with its last reference, and a full collection costs
    about 0.35 s in a process that has imported transformers (18 of them were 8 % of the cold default run,
    perf/README.md)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    if torch.cuda.is_available():
        gc.collect()  # cycles that hold GPU tensors
        torch.cuda.empty_cache()


def local_gpus() -> int:
    """How many CUDA GPUs this process sees (0 without a CUDA runtime)."""
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no CUDA runtime
        return 0


def load_policy_at(path: Path, dtype: str | None = None):
    """θ at ``path`` (a checkpoint folder or ``tiny``) in ``dtype`` (None: the device's default)."""
    from harness.policy.loading import load_policy

    return load_policy(path, dtype=dtype)


def generation_precision(model: str, requested: str = "auto") -> tuple[str, str]:
    """(device, dtype) θi generates with: ``auto`` is fp16 on GPU (as the official generation scripts load
    LLaVA-1.5), fp32 on CPU and for the built-in tiny model; ``fp16``/``bf16``/``fp32`` as asked."""
    from harness.policy.loading import DTYPES, pick_device_dtype

    if requested != "auto" and requested not in DTYPES:
        raise HarnessError(f"--gen-dtype {requested}: accepted: auto, fp16, bf16, fp32")
    device, _ = pick_device_dtype()
    if requested == "auto" and model == "tiny":
        requested = "float32"
    return pick_device_dtype(device, requested)


def reference_dtype(cfg: TrainConfig) -> str:
    """The precision of the reference pass: the one training computes in (bf16 on GPU unless bf16=false)."""
    from harness.policy.loading import pick_device_dtype

    device, _ = pick_device_dtype()
    bf16 = cfg.bf16 if cfg.bf16 is not None else device.startswith("cuda")
    return "bfloat16" if bf16 and device.startswith("cuda") else "float32"
