"""One training iteration: θi−1 + pairs (+ reference log-probs) → θi, a full HF checkpoint.

Launch under ``accelerate launch`` for several GPUs (DeepSpeed ZeRO-3 or FSDP configs in
harness/configs/); TRL and accelerate do the distribution, this module only builds the pieces.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.method import TrainingObjective
from harness.policy.templates import get_template
from harness.train.collator import LlavaPairCollator
from harness.train.config import TrainConfig


def _use_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def dpo_args(cfg: TrainConfig, out_dir: Path, n_examples: int, *, objective: TrainingObjective):
    """TRL's DPOConfig for this iteration (global batch = per-device × accumulation × processes)."""
    from accelerate import PartialState
    from trl import DPOConfig

    world = PartialState().num_processes
    per_step = cfg.per_device_batch_size * world
    accumulation = max(1, cfg.global_batch_size // per_step)
    if accumulation * per_step != cfg.global_batch_size:
        raise HarnessError(f"global batch {cfg.global_batch_size} is not a multiple of per-device batch "
                           f"{cfg.per_device_batch_size} × {world} processes")
    cuda = _use_cuda()
    bf16 = cfg.bf16 if cfg.bf16 is not None else cuda
    checkpointing = cfg.gradient_checkpointing if cfg.gradient_checkpointing is not None else cuda
    return DPOConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        beta=objective.beta,
        loss_type=["sigmoid"],
        precompute_ref_log_probs=not cfg.live_reference,
        remove_unused_columns=False,
        bf16=bf16,
        use_cpu=not cuda,
        gradient_checkpointing=checkpointing,
        max_length=cfg.max_length,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=cfg.seed,
        data_seed=cfg.seed,
        deepspeed=cfg.deepspeed,
        disable_dropout=True,
        dataloader_num_workers=0,
        # a trainable vision tower's last layer gets no gradient with vision_feature_layer=-2
        ddp_find_unused_parameters=not cfg.freeze_vision_tower,
        disable_tqdm=True,
    )


def weights_dtype(cfg: TrainConfig, *, cuda: bool, deepspeed: bool):
    """The dtype θi−1's weights are loaded in for training.

    bf16 training computes in bf16 but keeps fp32 weights and optimizer state (the Trainer's
    ``bf16=True`` autocast): a bf16 weight cannot take the paper's lr-2e-6 Adam step, which is about
    1/60 of a bf16 rounding step at a weight of 1e-2, so it would round away and nothing would train.
    Two cases load bf16 weights: DeepSpeed, whose optimizer keeps fp32 master weights itself, and
    LoRA, where the base is frozen and PEFT keeps the adapters in fp32.
    """
    import torch

    bf16 = cfg.bf16 if cfg.bf16 is not None else cuda
    if bf16 and (deepspeed or cfg.lora):
        return torch.bfloat16
    return torch.float32


def _deepspeed_in_use(cfg: TrainConfig) -> bool:
    """DeepSpeed through our config, or through the accelerate config this worker was launched with."""
    if cfg.deepspeed:
        return True
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    return PartialState().distributed_type == DistributedType.DEEPSPEED


def freeze_vision_tower(model, policy_path: Path) -> int:
    """Freeze every parameter of the vision tower (LLaVA's recipe); returns how many were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if ".vision_tower." in f".{name}":
            param.requires_grad_(False)
            frozen += 1
    if not frozen:
        raise HarnessError(f"{policy_path}: no vision_tower parameters to freeze in {type(model).__name__}; "
                           "set freeze_vision_tower=false to train every parameter")
    return frozen


def train_iteration(policy_path: Path, out_dir: Path, examples: Sequence[dict[str, Any]], *,
                    objective: TrainingObjective, cfg: TrainConfig, open_image: Callable[[dict], Any],
                    pad_to_square: bool = True, on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Train from ``policy_path`` on ``examples`` and write θi to ``out_dir`` (atomically)."""
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from harness.train.trainer import SelfEvolutionDPOTrainer

    if not examples:
        raise HarnessError(f"no preference pairs to train on for {out_dir}")
    rows = [dict(e) for e in examples] * max(1, objective.duplicate)
    if not cfg.live_reference and any("ref_chosen_logps" not in r for r in rows):
        raise HarnessError("reference log-probs missing: run the reference pass first (or set live_reference)")
    if cfg.live_reference:
        for r in rows:
            r.pop("ref_chosen_logps", None)
            r.pop("ref_rejected_logps", None)
    dataset = Dataset.from_list(rows)
    processor = AutoProcessor.from_pretrained(policy_path, local_files_only=True)
    dtype = weights_dtype(cfg, cuda=_use_cuda(), deepspeed=_deepspeed_in_use(cfg))
    model = AutoModelForImageTextToText.from_pretrained(policy_path, dtype=dtype, local_files_only=True)
    if cfg.freeze_vision_tower:
        freeze_vision_tower(model, policy_path)
    collator = LlavaPairCollator(processor, get_template(cfg.template), open_image, max_length=cfg.max_length,
                                 pad_to_square=pad_to_square)
    for stale in out_dir.parent.glob(".train-*"):  # left by a killed earlier attempt
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=".train-", dir=out_dir.parent))
    try:
        args = dpo_args(cfg, work / "trainer", len(rows), objective=objective)
        peft_config = None
        if cfg.lora:
            from peft import LoraConfig

            peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                     target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
        trainer = SelfEvolutionDPOTrainer(
            model=model, ref_model=None, args=args, data_collator=collator, train_dataset=dataset,
            processing_class=processor, peft_config=peft_config,
            align_weight=objective.align_weight, align_norm=objective.align_norm,
        )
        if on_step is not None:
            from transformers import TrainerCallback

            class _OnStep(TrainerCallback):
                def on_step_end(self, args, state, control, **kwargs):
                    on_step(state.global_step)

            trainer.add_callback(_OnStep())
        result = trainer.train()
        ckpt = work / "checkpoint"
        if cfg.lora:
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            if trainer.accelerator.is_main_process:
                merged.save_pretrained(ckpt)
        else:
            trainer.save_model(str(ckpt))
        if trainer.accelerator.is_main_process:
            processor.save_pretrained(ckpt)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            os.replace(ckpt, out_dir)
        history = [h for h in trainer.state.log_history if "loss" in h]
        return {
            "steps": trainer.state.global_step,
            "examples": len(rows),
            "train_loss": result.training_loss,
            "final_log": history[-1] if history else {},
            "boundary_mismatches": collator.boundary_mismatches,
            "epochs": cfg.epochs,
            "processes": trainer.accelerator.num_processes,
            "updates_per_epoch": math.ceil(len(rows) / cfg.global_batch_size),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
