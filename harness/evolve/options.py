"""The evolve command's options, their checks, and the defaults plan and reproduce share with the loop."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.options import at_least, check_train_values
from harness.plugins import registry

PAPER_IMAGES_PER_ITER = 6000
TINY_IMAGES_PER_ITER = 128  # the smallest scale at which the positive control moves CHAIR (docs/proving-ground.md)
CONTINUABLE = ("iterations", "evals")  # config keys a finished run may change (it grows)


@dataclass
class EvolveOptions:
    method: str = ""  # a registered method (required)
    iters: int = 3
    model: str = "tiny"
    images: str | None = None  # folder, LLaVA/COCO json, or "synthetic[:namespace]"; None = synthetic
    image_root: str | None = None
    images_per_iter: int | None = None
    backend: str = "hf"
    gen_batch_size: int = 16
    evals: list[str] | None = None  # None: the registered benchmarks that declare default_eval
    runs_dir: Path = Path("runs")
    run_dir: Path | None = None
    seed: int = 0
    variant: str | None = None
    overrides: list[str] = field(default_factory=list)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    restart: bool = False
    progress: bool = True
    eval_options: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None  # the run directory's name under runs_dir (instead of run_dir)
    gen_dtype: str = "auto"  # generation precision: auto (fp16 on GPU, fp32 on CPU and for tiny), fp16, bf16, fp32
    eval_theta0: bool = True  # False: θ0 is evaluated elsewhere (`harness reproduce` evaluates it once)
    # a run whose θ1 pairs and reference log-probs this run reuses: the same θ0, images and synthesis, only
    # the training objective differs (`harness reproduce` shares them between such rows)
    share_from: Path | None = None
    chunk_images: int = 256  # images per journaled chunk of the synthesis stage (pairs per reference chunk)
    backend_opts: list[str] = field(default_factory=list)  # --backend-opt key=value (engine options, e.g. vllm's)


def default_evals(reg=None) -> list[str]:
    """The benchmarks scored after every iteration when none are named: those that declare
    ``default_eval`` (the built-in default's judge-free yardstick)."""
    reg = reg or registry()
    return sorted(n for n, c in reg.benchmarks.items() if getattr(c, "default_eval", False))


def variant_label(method: str, variant: str | None, overrides: list[str]) -> str:
    label = method + (f"[{variant}]" if variant else "")
    if overrides:
        label += "+" + ",".join(sorted(o.replace(" ", "") for o in overrides))
    return label


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")[:80]


def check_options(opts: EvolveOptions) -> None:
    """Every option with a range, checked before any loading, sampling or writing."""
    at_least("--iters", opts.iters, 1)
    if opts.images_per_iter is not None:
        at_least("--images-per-iter", opts.images_per_iter, 1)
    at_least("--gen-batch-size", opts.gen_batch_size, 1)
    at_least("--chunk-images", opts.chunk_images, 1)
    at_least("--seed", opts.seed, 0)
    check_train_values(opts.train_overrides)
    if opts.run_id is not None:
        if opts.run_dir is not None:
            raise HarnessError("--run-id and --run-dir both name the run directory; give one of them")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+-]*", opts.run_id):
            raise HarnessError(
                f"--run-id {opts.run_id}: a folder name of letters, digits and ._=+- (no path separators)"
            )
