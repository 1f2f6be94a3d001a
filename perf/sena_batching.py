"""SENA pair synthesis: stage-wise batched pipeline versus a per-image loop of the same steps.

Both sides run ``SenaMethod.synthesize`` with the same config, seed and images on the built-in tiny
model through the ``hf`` backend:

- batched: one call for all images, so each step is one backend call over every image's requests;
- per-image: one call per image (each step then sends the backend 1-4 requests), the way the
  official scripts loop with batch size 1.

Usage: ``python perf/sena_batching.py [--images 32] [--max-new-tokens 48] [--sq-max-new-tokens 64]
[--batch-size 32] [--goal 4]``. Prints a table and exits non-zero when the speed-up is under the goal.
The tiny model is built on first use in the harness cache ($HARNESS_CACHE_DIR or the user cache).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _tiny_policy():
    import methods.sena as sena
    from harness.plugins import registry
    from harness.policy import load_policy
    from harness.policy.tiny import ensure_tiny

    installed = registry()
    tasks = list(installed.warmup_tasks)
    if "sena" not in installed.methods:
        tasks += registry(entry_points=False, extra=[sena]).warmup_tasks
    return load_policy(ensure_tiny(extra_tasks=tasks, progress=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--sq-max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--goal", type=float, default=4.0)
    args = ap.parse_args(argv)

    import torch
    from rich.console import Console
    from rich.table import Table

    from harness.backends.hf import HFBackend
    from harness.images.sources import SyntheticSource
    from harness.method import SynthesisContext, build_config
    from methods.sena import SenaMethod

    policy = _tiny_policy()
    source = SyntheticSource("perf-sena", args.images)
    refs = list(source.refs())
    config = build_config(
        SenaMethod, [f"max_new_tokens={args.max_new_tokens}", f"sq_max_new_tokens={args.sq_max_new_tokens}"]
    )
    method = SenaMethod(config)

    def context() -> SynthesisContext:
        return SynthesisContext(seed=args.seed, iteration=1, checkpoint="tiny", open_image=source.open, progress=False)

    backend = HFBackend(policy, batch_size=args.batch_size, progress=False)
    method.synthesize(backend, refs[:2], context())  # warm the kernels and caches once

    start = time.perf_counter()
    batched = method.synthesize(backend, refs, context())
    t_batched = time.perf_counter() - start

    start = time.perf_counter()
    looped_pairs, looped_requests, looped_calls = [], 0, 0
    for ref in refs:
        one = method.synthesize(backend, [ref], context())
        looped_pairs += one.pairs
        looped_requests += one.stats["generation_requests"]
        looped_calls += one.stats["generation_calls"]
    t_looped = time.perf_counter() - start

    speedup = t_looped / t_batched
    same = [p.to_dict() for p in batched.pairs] == [p.to_dict() for p in looped_pairs]
    table = Table(
        "pipeline",
        "wall (s)",
        "backend calls",
        "requests",
        "pairs",
        title=(
            f"SENA synthesis, {args.images} images, tiny model, torch threads {torch.get_num_threads()}, "
            f"cores {os.cpu_count()}"
        ),
    )
    table.add_row(
        "batched (one call per step)",
        f"{t_batched:.2f}",
        str(batched.stats["generation_calls"]),
        str(batched.stats["generation_requests"]),
        str(len(batched.pairs)),
    )
    table.add_row("per-image loop", f"{t_looped:.2f}", str(looped_calls), str(looped_requests), str(len(looped_pairs)))
    console = Console()
    console.print(table)
    console.print(f"speed-up {speedup:.2f}× (goal ≥ {args.goal}×); identical pairs: {same}")
    for step, s in batched.stats["steps"].items():
        console.print(f"  batched {step}: {s['requests']} requests, {s['wall_s']:.2f} s")
    return 0 if speedup >= args.goal else 1


if __name__ == "__main__":
    raise SystemExit(main())
