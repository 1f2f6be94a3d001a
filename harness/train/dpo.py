"""One training iteration: θi−1 + pairs (+ reference log-probs) → θi, a full HF checkpoint.

Launch under ``accelerate launch`` for several GPUs (DeepSpeed ZeRO-3 or FSDP configs in
harness/configs/); TRL and accelerate do the distribution, this module only builds the pieces.
"""

from __future__ import annotations

import dataclasses
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
from harness.train.library_warnings import library_checkpointing_warning_filtered


def _use_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def dpo_args(cfg: TrainConfig, out_dir: Path, n_examples: int, *, objective: TrainingObjective, report_to="none"):
    """TRL's DPOConfig for this iteration (global batch = per-device × accumulation × processes)."""
    from accelerate import PartialState
    from trl import DPOConfig

    world = PartialState().num_processes
    per_step = cfg.per_device_batch_size * world
    accumulation = max(1, cfg.global_batch(world) // per_step)  # global_batch_size=0: 1, no accumulation
    if accumulation * per_step != cfg.global_batch(world):
        raise HarnessError(
            f"global batch {cfg.global_batch_size} is not a multiple of per-device batch "
            f"{cfg.per_device_batch_size} × {world} processes"
        )
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
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the total steps
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        beta=objective.beta,
        loss_type=["sigmoid"],
        precompute_ref_log_probs=not cfg.live_reference,
        remove_unused_columns=False,
        bf16=bf16,
        use_cpu=not cuda,
        activation_checkpointing=checkpointing,  # the name transformers 5 reads
        max_length=cfg.max_length,
        report_to=report_to,  # "none", or the run's --track (harness/track/training.py)
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


def merge_lora(policy_path: Path, adapter_dir: Path, out_dir: Path, *, dtype=None) -> None:
    """θi = θi−1 (full weights, from ``policy_path``) with the LoRA adapter saved in ``adapter_dir`` merged
    in, written to ``out_dir`` as a plain transformers checkpoint (no PEFT needed to load it)."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(policy_path, dtype=dtype, local_files_only=True)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir)


def freeze_vision_tower(model, policy_path: Path) -> int:
    """Freeze every parameter of the vision tower (LLaVA's recipe); returns how many were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if ".vision_tower." in f".{name}":
            param.requires_grad_(False)
            frozen += 1
    if not frozen:
        raise HarnessError(
            f"{policy_path}: no vision_tower parameters to freeze in {type(model).__name__}; "
            "set freeze_vision_tower=false to train every parameter"
        )
    return frozen


@library_checkpointing_warning_filtered()  # peft/TRL read a deprecated transformers property
def train_iteration(
    policy_path: Path,
    out_dir: Path,
    examples: Sequence[dict[str, Any]],
    *,
    objective: TrainingObjective,
    cfg: TrainConfig,
    open_image: Callable[[dict], Any],
    pad_to_square: bool = True,
    on_step: Callable[[int], None] | None = None,
    track: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train from ``policy_path`` on ``examples`` and write θi to ``out_dir`` (atomically)."""
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from harness.train.trainer import SelfEvolutionDPOTrainer

    if not examples:
        raise HarnessError(f"no preference pairs to train on for {out_dir}")
    from harness.train.objectives import check_objective, is_plain, select_objective

    objective = check_objective(select_objective(objective, cfg.objective))
    plain = is_plain(objective)
    if plain and any(not str(e.get("rejected", "")).strip() for e in examples):
        raise HarnessError(
            f"pairs without a rejected answer for {out_dir}: plain DPO needs one; such pairs come "
            f"from a method whose objective builds its negative in the loss"
        )
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
    collator_cls, noise_args = LlavaPairCollator, {}
    if not plain:
        from harness.train.objective_batch import ObjectivePairCollator as collator_cls

        noise_args = noise_collation(objective)
    collator = collator_cls(
        processor,
        get_template(cfg.template),
        open_image,
        max_length=cfg.max_length,
        pad_to_square=pad_to_square,
        align_kinds=objective.align_kinds,
        **noise_args,
    )
    for stale in out_dir.parent.glob(".train-*"):  # left by a killed earlier attempt
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=".train-", dir=out_dir.parent))
    try:
        from harness.track.training import report_to, tracked_training

        args = dpo_args(cfg, work / "trainer", len(rows), objective=objective, report_to=report_to(track))
        peft_config = None
        if cfg.lora:
            from peft import LoraConfig

            # every linear layer of the LLM; the projector, when trained, as a full copy (LLaVA re-enables
            # its gradient after LoRA wrapping, so the released LoRA recipes train it at the LoRA lr)
            peft_config = LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=0.0,
                target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
                modules_to_save=["multi_modal_projector"] if cfg.lora_train_projector else None,
            )
        trainer = SelfEvolutionDPOTrainer(
            model=model,
            ref_model=None,
            args=args,
            data_collator=collator,
            train_dataset=dataset,
            processing_class=processor,
            peft_config=peft_config,
            align_weight=objective.align_weight,
            align_norm=objective.align_norm,
            objective=None if plain else objective,
        )
        from harness.train.log_callback import use_readable_logs

        use_readable_logs(trainer)
        if not plain and not cfg.live_reference:
            _precompute_extra_reference(trainer, collator, cfg, objective)
        if on_step is not None:
            from transformers import TrainerCallback

            class _OnStep(TrainerCallback):
                def on_step_end(self, args, state, control, **kwargs):
                    on_step(state.global_step)

            trainer.add_callback(_OnStep())
        with tracked_training(trainer, track):  # --track: the curves go to the run's tracker
            result = trainer.train()
        ckpt = work / "checkpoint"
        if cfg.lora:
            # Not merge_and_unload() on the trained model: under ZeRO-3 its parameters are partitioned across
            # processes (each rank holds a shard; the base weights it would merge into are placeholders).
            # save_model gathers the adapter (and the projector copy) to rank 0; rank 0 then merges it
            # into θi−1's full weights read from disk.
            adapter = work / "adapter"
            trainer.save_model(str(adapter))
            trainer.accelerator.wait_for_everyone()
            if trainer.accelerator.is_main_process:
                merge_lora(policy_path, adapter, ckpt, dtype=dtype)
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
            "updates_per_epoch": math.ceil(len(rows) / cfg.global_batch(trainer.accelerator.num_processes)),
            "objective": dataclasses.asdict(objective),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def noise_collation(objective: TrainingObjective) -> dict[str, Any]:
    """The ObjectivePairCollator arguments of an objective's noised-image negative."""
    if not objective.noise_negative_weight:
        return {}
    return {"noise_space": objective.noise_space, "noise_step": objective.noise_negative_step}


def _precompute_extra_reference(trainer, collator, cfg: TrainConfig, objective: TrainingObjective) -> None:
    """Reference values of the objective's extra terms the rows lack (the evolve reference stage precomputes
    them), before the first step (the model is still θi−1)."""
    from harness.train.objectives import precompute_reference, reference_keys

    have = set(trainer.train_dataset.column_names)
    keys = [k for k in reference_keys(objective) if k not in have]  # the evolve reference stage computes them
    if not keys:
        return
    if _deepspeed_in_use(cfg):
        raise HarnessError(
            f"objective {objective.name!r}: the pairs lack the reference values {', '.join(keys)}, and "
            f"DeepSpeed's sharded model cannot compute them in the trainer; run training through `harness evolve` "
            f"(its reference stage computes them) or set --train live_reference=true"
        )
    rows = trainer.train_dataset.to_list()
    values = precompute_reference(
        trainer.model, collator, rows, objective, batch_size=cfg.ref_batch_size, autocast=trainer.accelerator.autocast
    )
    dataset = trainer.train_dataset
    for key in keys:
        dataset = dataset.add_column(key, values[key])
    trainer.train_dataset = dataset
