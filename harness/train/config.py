"""Training hyperparameters: LLaVA-1.5 full fine-tuning DPO defaults; all overridable.

A method declares its paper's recipe as overrides of these (``Method.train_recipe()``), and the
user's ``--train key=value`` overrides that in turn; docs/methods.md gives each method's recipe.

- learning rate 2e-6, global batch 128 (= per-device × accumulation × processes), 1 epoch, β = 0.1;
  ``global_batch_size=0`` means per-device × processes with no accumulation (a recipe whose official
  script trains 1 per GPU × accumulation 1 on however many GPUs it is launched on);
- full fine-tuning of the LLM and the projector, the vision tower frozen as LLaVA freezes it (LoRA
  optional, r=1024, α=2048 when on), bf16 and gradient checkpointing on GPU;
- LR schedule: default ``constant_with_warmup`` (a short warm-up over 3 % of the steps, then
  constant: the effective schedule of a DeepSpeed WarmupLR config; HF's warm-up is linear where
  DeepSpeed's default is logarithmic); ``cosine``, ``linear`` and ``constant`` are options.
- the training template is ``vicuna_v1`` ("user"), as LLaVA-1.5 trains (``--version v1``), while
  data is generated with ``llava_v1`` ("human").

``TrainConfig.for_model("tiny")`` scales the batch and learning rate to the built-in tiny model,
whose few pairs per iteration would otherwise make no optimiser step.

The configuration of a run is ``resolve_train_config``: TrainConfig.for_model(model), then the
method's recipe (``Method.train_recipe()``, its paper's settings, e.g. LoRA r 1024 and a cosine
schedule), then the user's ``--train key=value``. With the built-in tiny model the recipe does not
touch the tiny-scale keys (``TINY_SCALE_KEYS``: learning rate, batch sizes, max length, LoRA rank and
alpha, warm-up, precision): a 7B recipe would make no step, or a collapsing one, on the tiny model.
The user's ``--train`` still overrides them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

SCHEDULERS = ("constant_with_warmup", "cosine", "linear", "constant")


def shipped_accelerate_configs() -> list[str]:
    """Names of the accelerate configs in harness/configs/."""
    return sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def resolve_accelerate_config(value: str) -> Path:
    """An accelerate config file: ``value`` itself if it is a file, else the shipped config of that name."""
    path = Path(value)
    if path.is_file():
        return path.resolve()
    shipped = Path(__file__).resolve().parents[1] / "configs" / f"{value}.yaml"
    if "/" not in value and shipped.is_file():
        return shipped
    raise HarnessError(
        f"accelerate_config {value}: no such file, and not a shipped config ({', '.join(shipped_accelerate_configs())})"
    )


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 2e-6
    global_batch_size: int = 128
    per_device_batch_size: int = 2
    epochs: float = 1.0
    lr_scheduler: str = "constant_with_warmup"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    bf16: bool | None = None  # None: on when CUDA is used
    gradient_checkpointing: bool | None = None  # None: on when CUDA is used
    lora: bool = False
    lora_r: int = 1024
    lora_alpha: int = 2048
    lora_train_projector: bool = True  # under LoRA the projector trains too, at the same lr (as LLaVA's LoRA recipes)
    live_reference: bool = False  # True: a frozen θi−1 in memory instead of precomputed log-probs
    freeze_vision_tower: bool = True  # LLaVA trains the LLM and the projector; CLIP stays frozen
    max_length: int = 2048
    template: str = "vicuna_v1"
    seed: int = 42
    deepspeed: str | None = None  # a DeepSpeed JSON config (see harness/configs/)
    ref_batch_size: int = 4
    launcher: str = "inline"  # "accelerate": train in `accelerate launch` worker processes
    objective: str | None = None  # None/"dpo": the method's objective; "mdpo": plus mDPO's terms (train/objectives.py)
    accelerate_config: str | None = None  # a file, or a shipped config's name: zero3, zero3_offload, fsdp, cpu_ddp

    def validate(self) -> TrainConfig:
        if self.lr_scheduler not in SCHEDULERS:
            raise HarnessError(f"lr_scheduler {self.lr_scheduler!r} unknown; accepted: {', '.join(SCHEDULERS)}")
        if self.learning_rate <= 0 or self.per_device_batch_size < 1:
            raise HarnessError("learning_rate and per_device_batch_size must be positive")
        if self.global_batch_size < 0:
            raise HarnessError(
                f"global_batch_size={self.global_batch_size}: accepted values are integers ≥ 1, or 0 for "
                "per_device_batch_size × processes (no accumulation)"
            )
        if not 0 <= self.warmup_ratio < 1:
            raise HarnessError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.objective not in (None, "", "dpo", "mdpo"):
            raise HarnessError(f"objective {self.objective!r} unknown; accepted: dpo, mdpo")
        if self.launcher not in ("inline", "accelerate"):
            raise HarnessError(f"launcher {self.launcher!r} unknown; accepted: inline, accelerate")
        if self.launcher == "accelerate":
            if not self.accelerate_config:
                raise HarnessError(
                    "launcher=accelerate needs accelerate_config=<file or name> "
                    f"(shipped: {', '.join(shipped_accelerate_configs())})"
                )
            resolve_accelerate_config(self.accelerate_config)
        return self

    def global_batch(self, processes: int) -> int:
        """The examples per optimiser step on ``processes`` processes: ``global_batch_size``, or, when it is 0,
        per-device × processes (no gradient accumulation)."""
        return self.global_batch_size or self.per_device_batch_size * max(1, processes)

    @staticmethod
    def for_model(model: str) -> TrainConfig:
        if model == "tiny":
            # no warm-up: an iteration makes one or two optimiser steps, and a warm-up's first step has lr 0.
            # lr 5e-5 with 128 images per iteration: the smallest scale at which the positive control lowers
            # CHAIR on the synthetic scenes (docs/proving-ground.md); at 1e-5 and 32 images nothing moves
            return TrainConfig(
                learning_rate=5e-5,
                global_batch_size=8,
                per_device_batch_size=8,
                ref_batch_size=8,
                max_length=512,
                lora_r=8,
                lora_alpha=16,
                warmup_ratio=0.0,
            )
        return TrainConfig()

    def with_overrides(self, overrides: dict) -> TrainConfig:
        names = {f.name: f for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise HarnessError(f"unknown training option(s) {', '.join(unknown)}; accepted: {', '.join(sorted(names))}")
        return dataclasses.replace(self, **overrides).validate()


# Keys a method recipe leaves at the tiny model's values (see the module docstring).
TINY_SCALE_KEYS = (
    "learning_rate",
    "global_batch_size",
    "per_device_batch_size",
    "ref_batch_size",
    "max_length",
    "lora_r",
    "lora_alpha",
    "warmup_ratio",
    "bf16",
    "gradient_checkpointing",
)


def resolve_train_config(model: str, recipe: dict, user: dict) -> tuple[TrainConfig, dict]:
    """The run's TrainConfig: defaults for ``model`` ⊕ the method's ``recipe`` ⊕ the user's overrides.

    Returns the config and a record of where each non-default value came from, for the run's
    config.json: ``{"recipe": {...}, "user": {...}, "tiny_scale_kept": [...]}``.
    """
    base = TrainConfig.for_model(model)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    bad = sorted(set(recipe) - names)
    if bad:
        raise HarnessError(
            f"the method's training recipe sets unknown option(s) {', '.join(bad)}; "
            f"accepted: {', '.join(sorted(names))}"
        )
    kept = sorted(k for k in recipe if model == "tiny" and k in TINY_SCALE_KEYS)
    applied = {k: v for k, v in recipe.items() if k not in kept}
    cfg = base.with_overrides(applied).with_overrides(dict(user))
    return cfg, {"recipe": dict(recipe), "user": dict(user), "tiny_scale_kept": kept}
