"""Batched versus one-at-a-time generation on the built-in tiny model, side by side in one run.

64 requests (synthetic scenes, a mix of the built-in prompts, a third of them noised at t=600),
greedy, 32 new tokens. Goal (issue 2): batched ≥ 4× faster on 2 CPU cores.

    python perf/generation_batching.py [--requests 64] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import time

import torch

from harness.backends.base import GenerationRequest
from harness.backends.hf import HFBackend
from harness.images.synthetic import make_scene
from harness.policy import load_policy

PROMPTS = [
    "Describe the image.",
    "Is there a circle in this image?",
    "What color is the square?\nAnswer the question using a single word or phrase.",
    "How many shapes are in the image?\nAnswer the question using a single word or phrase.",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    args = ap.parse_args()
    policy = load_policy("tiny")
    reqs = [
        GenerationRequest(
            make_scene("perf", i).render(),
            PROMPTS[i % 4],
            noise_step=600 if i % 3 == 0 else None,
            max_new_tokens=args.max_new_tokens,
            seed=i,
        )
        for i in range(args.requests)
    ]
    HFBackend(policy, batch_size=args.batch_size, progress=False).generate(reqs[:4])  # warm-up
    t0 = time.perf_counter()
    single = HFBackend(policy, batch_size=1, progress=False).generate(reqs)
    t_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    batched = HFBackend(policy, batch_size=args.batch_size, progress=False).generate(reqs)
    t_batched = time.perf_counter() - t0
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"one at a time: {t_single:.2f} s ({args.requests / t_single:.1f} req/s)")
    print(f"batched ({args.batch_size}): {t_batched:.2f} s ({args.requests / t_batched:.1f} req/s)")
    print(f"speed-up: {t_single / t_batched:.1f}x; identical texts: {single == batched}")


if __name__ == "__main__":
    main()
