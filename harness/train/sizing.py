"""The sizes a run's plan and its training launcher are worked out from: a checkpoint's parameter counts
(read from its config on PyTorch's meta device) and the training memory per GPU under each ZeRO stage.

Training memory per GPU, model states only (DeepSpeed's accounting for mixed-precision Adam; ZeRO
paper, Rajbhandari et al. 2020, §3): Ψ parameters of which Ψt train, N GPUs,
  weights 2Ψ (bf16) + gradients 2Ψt (bf16) + optimizer 12Ψt (fp32 master copy, Adam m and v)
  ZeRO-0 (plain data parallel): 2Ψ + 2Ψt + 12Ψt
  ZeRO-1 (optimizer sharded):   2Ψ + 2Ψt + 12Ψt/N
  ZeRO-2 (+ gradients sharded): 2Ψ + (2Ψt + 12Ψt)/N
  ZeRO-3 (+ weights sharded):   (2Ψ + 2Ψt + 12Ψt)/N
  ZeRO-3 + offload: optimizer and weights in host memory, (2Ψ + 2Ψt + 12Ψt)/N of it per GPU's process;
    the GPU holds one gathered layer at a time.
  The single-process fp32 path (inline launcher): 4Ψ + 4Ψt + 8Ψt (fp32 weights, gradients, Adam m, v).
Activations come on top (gradient checkpointing keeps them to about one layer's per sample).

Shared by `harness plan` (harness/plan.py) and the evolve loop's choice of launcher
(harness/evolve/scaling.py), below both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

GIB = 1024**3


@dataclass
class ModelShape:
    path: str
    params: int
    vision: int
    projector: int
    language: int
    image_tokens: int
    hidden: int
    layers: int
    lora_params: int = 0

    @property
    def billions(self) -> float:
        return self.params / 1e9


def model_shape(path: Path, *, lora_r: int | None = None) -> ModelShape:
    """Parameter counts of a checkpoint folder from its config alone (meta device: no memory)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(config)
    except (OSError, ValueError, KeyError) as exc:
        raise HarnessError(f"{path}: cannot read the model's config ({exc})") from None
    parts = {"vision": 0, "projector": 0, "language": 0}
    lora = 0
    pattern = re.compile(r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$")
    for name, p in model.named_parameters():
        key = "vision" if "vision_tower" in name else "projector" if "multi_modal_projector" in name else "language"
        parts[key] += p.numel()
    if lora_r:
        for name, mod in model.named_modules():
            if pattern.match(name) and hasattr(mod, "in_features"):
                lora += lora_r * (mod.in_features + mod.out_features)
    text = config.get_text_config()
    image_tokens = int(getattr(config, "image_seq_length", 0) or 0)
    if not image_tokens:
        v = config.vision_config
        image_tokens = (v.image_size // v.patch_size) ** 2
    return ModelShape(
        path=str(path),
        params=sum(parts.values()),
        vision=parts["vision"],
        projector=parts["projector"],
        language=parts["language"],
        image_tokens=image_tokens,
        hidden=int(text.hidden_size),
        layers=int(text.num_hidden_layers),
        lora_params=lora,
    )


def zero_memory(params: int, trainable: int, gpus: int) -> dict[str, float]:
    """Model-state GiB per GPU under each ZeRO stage (module docstring)."""
    w, g, o = 2 * params, 2 * trainable, 12 * trainable
    n = max(1, gpus)
    return {
        "inline fp32 (1 process)": (4 * params + 12 * trainable) / GIB,
        "ZeRO-0 (DDP)": (w + g + o) / GIB,
        "ZeRO-1": (w + g + o / n) / GIB,
        "ZeRO-2": (w + (g + o) / n) / GIB,
        "ZeRO-3": (w + g + o) / n / GIB,
        "ZeRO-3 + offload (host, per process)": (w + g + o) / n / GIB,
    }


def training_launcher(model: str, cfg, gpus: int, gpu_memory_gib: float, params: int, trainable: int) -> str:
    """How evolve trains: ``inline`` (one process; CPU and the tiny model), or accelerate on every local GPU
    with ZeRO-3, offloaded when the ZeRO-3 model states would take more than 60 % of a GPU."""
    if cfg.launcher == "accelerate":
        return f"accelerate ({cfg.accelerate_config}, as set)"
    if model == "tiny" or not gpus:
        return "inline"
    per_gpu = zero_memory(params, trainable, gpus)["ZeRO-3"]
    return "accelerate (zero3_offload)" if per_gpu > 0.6 * gpu_memory_gib else "accelerate (zero3)"
