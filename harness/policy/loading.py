"""Loading a policy: a llava-hf format checkpoint folder, or the built-in ``tiny`` model.

Device and dtype: CUDA with float16 when a GPU is present (the official self-evolution generation
scripts load LLaVA-1.5 in fp16, as LLaVA's own inference does), CPU with float32 otherwise; both overridable
(``dtype="bfloat16"``; ``harness evolve --gen-dtype``). The conversation template defaults to
``llava_v1``, the one LLaVA-1.5's self-evolution code generates with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.policy.templates import ConversationTemplate, get_template

LLAVA_FAMILY = {"llava", "llava_next", "llava_onevision", "vipllava"}
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


@dataclass
class Policy:
    """A loaded model with its processor and the conversation template used to prompt it."""

    model: Any
    processor: Any
    template: ConversationTemplate
    path: Path
    name: str
    pad_to_square: bool = True  # LLaVA-1.5's image_aspect_ratio=pad
    extra: dict = field(default_factory=dict)

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype

    @property
    def image_mean(self) -> tuple[float, float, float]:
        return tuple(self.processor.image_processor.image_mean)

    @property
    def image_std(self) -> tuple[float, float, float]:
        return tuple(self.processor.image_processor.image_std)


def pick_device_dtype(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None or dtype == "auto":
        dtype = "float16" if device.startswith("cuda") else "float32"
    if dtype not in DTYPES:
        raise HarnessError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(DTYPES))}")
    return device, DTYPES[dtype]


def resolve_model_path(spec: str | Path, cache_root: Path | None = None) -> Path:
    """``tiny`` → the built-in model folder (built on first use); anything else must be a folder."""
    if str(spec) == "tiny":
        from harness.policy.tiny import ensure_tiny

        return ensure_tiny(cache_root)
    path = Path(spec)
    if not path.exists():
        raise HarnessError(f"{path}: model path not found (a llava-hf checkpoint folder, or 'tiny')")
    config = path / "config.json"
    if not config.is_file():
        raise HarnessError(f"{path}: not a checkpoint folder (no config.json)")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{config}: malformed JSON ({exc.msg})") from None
    if model_type not in LLAVA_FAMILY:
        raise HarnessError(
            f"{path}: model_type {model_type!r} is not a LLaVA-family checkpoint "
            f"(expected one of {', '.join(sorted(LLAVA_FAMILY))})"
        )
    return path


def load_policy(
    spec: str | Path = "tiny",
    *,
    device: str | None = None,
    dtype: str | None = None,
    template: str = "llava_v1",
    cache_root: Path | None = None,
    pad_to_square: bool = True,
) -> Policy:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = resolve_model_path(spec, cache_root)
    device, dtype = pick_device_dtype(device, dtype)
    stamp = weights_stamp(path)  # before reading: what a later reader must find to read the same weights
    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=getattr(torch, dtype), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise HarnessError(f"{path}: failed to load checkpoint ({exc})") from None
    model.to(device)
    model.eval()
    return Policy(
        model=model,
        processor=processor,
        template=get_template(template),
        path=path,
        name="tiny" if str(spec) == "tiny" else str(path),
        pad_to_square=pad_to_square,
        extra={"weights_stamp": stamp},
    )


def weights_stamp(path: str | Path) -> tuple:
    """(name, size, modification time) of a checkpoint folder's weight files: another process that finds the
    same stamp reads the same weights (generation helpers check it, harness/backends/helpers.py)."""
    folder = Path(path)
    if not folder.is_dir():
        return ()
    return tuple(
        (f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(folder.glob("*.safetensors")) if f.is_file()
    )
