"""`harness plan` (and `harness evolve --dry-run`): what a run will do and need, before it runs.

For an evolve command: per iteration, the synthesis stage's generations with their prompt and decoded
tokens, the reference pass's tokens, the training steps, the training memory per GPU under each
ZeRO stage, and the judge calls and cost of the evaluations; wall
times where a throughput for this model and device is recorded in perf/README.md, marked as
estimates. Nothing is loaded but the model's config (its parameters are counted on PyTorch's meta
device), nothing is written, nothing is called.

The training memory formula (per GPU, per ZeRO stage) is written out in harness/train/sizing.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError
from harness.train.sizing import GIB, ModelShape, model_shape, training_launcher, zero_memory

TEMPLATE_TOKENS = 40  # the conversation template and a short user prompt, besides the image tokens
PERF_README = Path(__file__).resolve().parents[1] / "perf" / "README.md"


@dataclass
class Plan:
    command: str
    model: ModelShape
    iterations: int
    images_per_iter: int
    generations: int | None
    prompt_tokens: int | None
    decoded_tokens_max: int | None
    pairs_assumed: int
    reference_tokens: int
    train_steps: int
    trainable: int
    gpus: int
    gpu_memory_gib: float
    memory: dict[str, float]  # stage label → GiB per GPU
    launcher: str
    global_batch: int = 0  # examples per optimiser step on the planned processes (TrainConfig.global_batch)
    heldout_images: int = 0  # images per iteration beyond the trained ones, pairs held out (harness/evolve/heldout.py)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    estimates: dict[str, str] = field(default_factory=dict)  # stage → wall-time estimate text
    notes: list[str] = field(default_factory=list)


def recorded_throughputs(readme: Path = PERF_README) -> dict[tuple[str, str], float]:
    """(model, quantity) → value from the table under ``## Throughputs for harness plan`` in perf/README.md.

    Rows: ``| model | quantity | value | ... |`` with quantity one of ``synthesis requests/s`` (whole synthesis
    stages, preferred), ``generation tokens/s`` (an upper bound from max_new_tokens), ``reference tokens/s``,
    ``training s/step``."""
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8")
    start = text.find("## Throughputs for harness plan")
    if start < 0:
        return {}
    out = {}
    for line in text[start:].splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3:
            try:
                out[(cells[0], cells[1])] = float(cells[2])
            except ValueError:
                continue
    return out


def _model_key(model: str, shape: ModelShape, device: str) -> str:
    if model == "tiny":
        return "tiny/cpu"
    return f"{shape.billions:.0f}B/{device}"


def _fmt_seconds(s: float) -> str:
    if s < 120:
        return f"~{s:.0f} s"
    if s < 7200:
        return f"~{s / 60:.0f} min"
    return f"~{s / 3600:.1f} h"


def plan_evolve(opts, *, gpus: int | None = None, gpu_memory_gib: float | None = None) -> Plan:
    """The plan of ``harness evolve`` with ``opts`` (an EvolveOptions); raises HarnessError on bad options."""
    from harness.evolve.options import PAPER_IMAGES_PER_ITER, TINY_IMAGES_PER_ITER, check_options
    from harness.method import build_config
    from harness.options import check_method_sets
    from harness.plugins import registry
    from harness.policy.loading import resolve_model_path
    from harness.train.config import resolve_train_config

    check_options(opts)
    reg = registry()
    if opts.evals is None:
        import dataclasses

        from harness.evolve.options import default_evals

        opts = dataclasses.replace(opts, evals=default_evals(reg))
    cls = reg.method(opts.method)
    check_method_sets(cls.Config, opts.overrides)
    method = cls(build_config(cls, opts.overrides, opts.variant))
    reg.backend(opts.backend)
    path = resolve_model_path(opts.model)  # a clear error for a path that does not exist
    cfg, _ = resolve_train_config(opts.model, method.train_recipe(), opts.train_overrides)
    shape = model_shape(path, lora_r=cfg.lora_r if cfg.lora else None)
    if gpus is None or gpu_memory_gib is None:
        try:
            import torch

            found = torch.cuda.device_count()
            mem = torch.cuda.get_device_properties(0).total_memory / GIB if found else 0.0
        except Exception:  # noqa: BLE001 - no CUDA runtime: plan for the CPU
            found, mem = 0, 0.0
        gpus = found if gpus is None else gpus
        gpu_memory_gib = mem if gpu_memory_gib is None else gpu_memory_gib
    per_iter = opts.images_per_iter or (
        TINY_IMAGES_PER_ITER if opts.model == "tiny" else getattr(cls, "images_per_iter", None) or PAPER_IMAGES_PER_ITER
    )
    from harness.evolve.options import heldout_count

    heldout = heldout_count(opts, per_iter)
    gens = method.estimate_generations(per_iter + heldout)  # the held-out images are synthesized too
    max_new = getattr(method.config, "max_new_tokens", None)
    prompt_tokens = None if gens is None else gens * (shape.image_tokens + TEMPLATE_TOKENS)
    decoded = None if gens is None or max_new is None else gens * int(max_new)
    objective = method.objective()
    pairs = per_iter  # about one pair per image (the methods' typical yield after their filters)
    answer = int(max_new) if max_new else 128
    ref_tokens = 0 if cfg.live_reference else 2 * pairs * (shape.image_tokens + TEMPLATE_TOKENS + answer)
    rows = pairs * max(1, objective.duplicate)
    vision_trainable = 0 if cfg.freeze_vision_tower else shape.vision
    if cfg.lora:
        trainable = shape.lora_params + (shape.projector if cfg.lora_train_projector else 0)
    else:
        trainable = shape.language + shape.projector + vision_trainable
    memory = zero_memory(shape.params, trainable, gpus or 1)
    launcher = training_launcher(opts.model, cfg, gpus, gpu_memory_gib, shape.params, trainable)
    global_batch = cfg.global_batch(max(1, gpus or 0) if launcher.startswith("accelerate") else 1)
    steps = math.ceil(rows * cfg.epochs / global_batch)
    plan = Plan(
        command="evolve",
        model=shape,
        iterations=opts.iters,
        images_per_iter=per_iter,
        heldout_images=heldout,
        generations=gens,
        prompt_tokens=prompt_tokens,
        decoded_tokens_max=decoded,
        pairs_assumed=pairs,
        reference_tokens=ref_tokens,
        train_steps=steps,
        trainable=trainable,
        gpus=gpus or 0,
        gpu_memory_gib=gpu_memory_gib,
        memory=memory,
        launcher=launcher,
        global_batch=global_batch,
    )
    device = "h200" if gpus else "cpu"
    rates = recorded_throughputs()
    key = _model_key(str(opts.model), shape, device)
    scale = max(1, gpus or 1)
    if gens is not None and (key, "synthesis requests/s") in rates:  # measured whole stages: answers stop early
        plan.estimates["synthesis"] = _fmt_seconds(gens / (rates[(key, "synthesis requests/s")] * scale))
    elif decoded is not None and (key, "generation tokens/s") in rates:  # every answer at max_new_tokens: a bound
        plan.estimates["synthesis"] = "≤ " + _fmt_seconds(decoded / (rates[(key, "generation tokens/s")] * scale))
    if ref_tokens and (key, "reference tokens/s") in rates:
        plan.estimates["reference"] = _fmt_seconds(ref_tokens / (rates[(key, "reference tokens/s")] * scale))
    if (key, "training s/step") in rates:
        plan.estimates["training"] = _fmt_seconds(steps * rates[(key, "training s/step")])
    if not plan.estimates:
        plan.notes.append(f"no throughput recorded for {key} in perf/README.md: no wall-time estimate")
    plan.notes.append(
        f"pairs assumed: {pairs} per iteration (about one per image); decoded tokens are an upper "
        f"bound ({max_new} new tokens per generation)"
        if max_new
        else f"pairs assumed: {pairs} per iteration (about one per image)"
    )
    models = opts.iters + (1 if opts.eval_theta0 else 0)
    plan.evaluations = count_evaluations(opts.evals, opts.model, models, opts.eval_options)
    return plan


def count_evaluations(evals, model: str, models: int, eval_options: dict[str, Any]) -> list[dict[str, Any]]:
    """Per benchmark, what evaluating ``models`` checkpoints costs, from ``evaluate``'s dry run: items,
    generations, judge calls, the judge model and the cost ceiling (None: no price known). A benchmark
    that cannot be counted (its data missing, say) gets ``error`` and None for the counts."""
    from harness.evaluate import evaluate

    quiet = Console(quiet=True)  # evaluate's own dry-run lines are summed up by the caller
    out = []
    for bench in evals:
        entry: dict[str, Any] = {"benchmark": bench, "models": models}
        try:
            report = evaluate(bench, model=model, dry_run=True, console=quiet, **eval_options)
        except HarnessError as exc:
            entry.update(
                items=None, generations=None, judge_calls=None, cost_usd_max=None, error=f"cannot count ({exc})"
            )
            out.append(entry)
            continue
        est = report.estimate
        entry.update(
            items=report.items,
            generations=report.items * models,
            judge_calls=(est.requests * models) if est is not None else 0,
            judge_model=est.model if est is not None else None,
            cost_usd_max=(
                est.cost_usd_max * models
                if est is not None and est.cost_usd_max is not None
                else (None if est is not None else 0.0)
            ),
        )
        out.append(entry)
    return out


def _n(x: float | int | None) -> str:
    if x is None:
        return "unknown"
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.2f}{unit}"
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def print_plan(plan: Plan, console: Console) -> None:
    m = plan.model
    console.print(
        f"[bold]plan[/] (nothing runs): {m.path}: {_n(m.params)} parameters (vision {_n(m.vision)}, "
        f"projector {_n(m.projector)}, LM {_n(m.language)}), {m.image_tokens} image tokens; "
        f"{plan.iterations} iterations × {plan.images_per_iter} images"
        f"{f' (+ {plan.heldout_images} held out)' if plan.heldout_images else ''}; "
        f"{plan.gpus} GPU(s){f' of {plan.gpu_memory_gib:.0f} GiB' if plan.gpus else ''}"
    )
    t = Table(title="Per iteration")
    for col in ("stage", "work", "tokens", "wall time (estimate)"):
        t.add_column(col)
    t.add_row(
        "synthesis",
        f"{_n(plan.generations)} generations",
        f"prompt {_n(plan.prompt_tokens)}, decoded ≤ {_n(plan.decoded_tokens_max)}",
        plan.estimates.get("synthesis", "–"),
    )
    t.add_row(
        "reference pass",
        f"{_n(plan.pairs_assumed)} pairs" if plan.reference_tokens else "live (none)",
        _n(plan.reference_tokens),
        plan.estimates.get("reference", "–"),
    )
    t.add_row(
        "training",
        f"{plan.train_steps} optimiser steps of global batch {plan.global_batch} ({_n(plan.trainable)} trainable)",
        plan.launcher,
        plan.estimates.get("training", "–"),
    )
    console.print(t)
    mem = Table(title=f"Training memory per GPU, model states (N = {max(1, plan.gpus)} GPUs; activations extra)")
    mem.add_column("stage")
    mem.add_column("GiB", justify="right")
    for label, gib in plan.memory.items():
        mem.add_row(label, f"{gib:.1f}")
    console.print(mem)
    console.print(
        "  formula: weights 2Ψ + gradients 2Ψt + Adam 12Ψt (fp32 master, m, v); ZeRO-1 shards the "
        "optimizer /N, ZeRO-2 also gradients, ZeRO-3 also weights; inline fp32: 4Ψ + 12Ψt"
    )
    if plan.evaluations:
        ev = Table(title="Evaluations (all θ)")
        for col in ("benchmark", "models", "generations", "judge calls", "judge cost (max, USD)"):
            ev.add_column(col)
        for e in plan.evaluations:
            if "error" in e:
                ev.add_row(e["benchmark"], str(e["models"]), e["error"], "–", "–")
                continue
            cost = e.get("cost_usd_max")
            ev.add_row(
                e["benchmark"],
                str(e["models"]),
                str(e["generations"]),
                str(e["judge_calls"]),
                "unknown" if cost is None else f"{cost:.2f}",
            )
        console.print(ev)
    for note in plan.notes:
        console.print(f"  [dim]{note}[/]")
