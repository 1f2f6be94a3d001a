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
# images drawn beyond the trained ones per iteration, whose pairs are held out to measure the training's reward
# margin (harness/evolve/heldout.py): enough for a bootstrap interval on the tiny model, ~4 % of a paper iteration
TINY_HELDOUT_IMAGES = 32
PAPER_HELDOUT_IMAGES = 256
CONTINUABLE = ("iterations", "evals", "track")  # config keys a finished run may change (it grows; --track)


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
    # spare-core processes that generate whole batches beside this one, outputs unchanged: auto (one per idle
    # core for a tiny-scale model on the CPU), or a number; 0: none (harness/backends/helpers.py)
    gen_helpers: str | int = "auto"
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
    # run θ1…θk only (0: open the run, draw its images and evaluate θ0 if asked): one job of a grid submitted
    # to a scheduler (harness/cluster/); the run's config keeps --iters, so every job opens the same run
    stop_after: int | None = None
    chunk_images: int = 256  # images per journaled chunk of the synthesis stage (pairs per reference chunk)
    backend_opts: list[str] = field(default_factory=list)  # --backend-opt key=value (engine options, e.g. vllm's)
    run_toml: str | None = None  # the command line's resolved options as TOML, written to RUN/run.toml (--config)
    # --track none|tensorboard|wandb; None: the run's recorded choice (harness/evolve/tracking.py)
    track: str | None = None
    # images per iteration whose pairs are held out (not trained on) to measure the training's reward margin;
    # None: a quarter of the trained images, at most TINY_HELDOUT_IMAGES (tiny) or PAPER_HELDOUT_IMAGES; 0: none
    heldout_images: int | None = None
    # --audit-truth: truth the pair audit needs beyond the image source (COCO annotation files, a benchmark's
    # data folder; harness/audit.py); not part of the run's identity
    audit_truth: list[Path] = field(default_factory=list)


def heldout_count(opts: EvolveOptions, per_iter: int) -> int:
    """``--heldout-images``, or by default a quarter of the trained images per iteration, at most
    TINY_HELDOUT_IMAGES on the tiny model (32 of its 128) and PAPER_HELDOUT_IMAGES otherwise."""
    if opts.heldout_images is not None:
        return opts.heldout_images
    return min(per_iter // 4, TINY_HELDOUT_IMAGES if opts.model == "tiny" else PAPER_HELDOUT_IMAGES)


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
    from harness.backends.helpers import parse_helpers

    parse_helpers(opts.gen_helpers)
    if opts.heldout_images is not None:
        at_least("--heldout-images", opts.heldout_images, 0)
    at_least("--chunk-images", opts.chunk_images, 1)
    at_least("--seed", opts.seed, 0)
    check_train_values(opts.train_overrides)
    if opts.track is not None:
        from harness.track import check_backend

        check_backend(opts.track)
    if opts.run_id is not None:
        if opts.run_dir is not None:
            raise HarnessError("--run-id and --run-dir both name the run directory; give one of them")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+-]*", opts.run_id):
            raise HarnessError(
                f"--run-id {opts.run_id}: a folder name of letters, digits and ._=+- (no path separators)"
            )
