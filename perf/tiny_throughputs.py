"""Throughputs of the built-in tiny model on this machine, in the units `harness plan` reads from
perf/README.md (section "Throughputs for harness plan"): generation tokens/s (hf backend, batch 32,
greedy), reference tokens/s (the reference pass over pairs), training s/step (one DPO step of 8 pairs,
model load included). Prints the three table rows.

    OMP_NUM_THREADS=1 python perf/tiny_throughputs.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def main() -> None:
    from harness.backends.base import GenerationRequest
    from harness.backends.hf import HFBackend
    from harness.images.sources import ImageRef, SyntheticSource
    from harness.images.synthetic import make_scene
    from harness.method import TrainingObjective
    from harness.policy.loading import load_policy
    from harness.policy.templates import get_template
    from harness.train.collator import LlavaPairCollator
    from harness.train.config import TrainConfig
    from harness.train.dpo import train_iteration
    from harness.train.reference import reference_logps

    policy = load_policy("tiny")
    tok = policy.processor.tokenizer
    reqs = [
        GenerationRequest(
            make_scene("tput", k).render(),
            "Describe the image.",
            max_new_tokens=32,
            noise_step=600 if k % 3 == 0 else None,
            seed=k,
        )
        for k in range(64)
    ]
    backend = HFBackend(policy, batch_size=32, progress=False)
    backend.generate(reqs[:4])
    t0 = time.perf_counter()
    texts = backend.generate(reqs)
    gen_s = time.perf_counter() - t0
    tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)  # + EOS (or the cut)

    source = SyntheticSource(namespace="tput", size=100)
    rows = [
        {
            "image_ref": f"synthetic/tput/{k}",
            "prompt": "Describe the image.",
            "chosen": make_scene("tput", k).caption(),
            "rejected": make_scene("tput", k + 50).caption(),
            "kind": "des",
        }
        for k in range(32)
    ]
    cfg = TrainConfig.for_model("tiny").with_overrides({"live_reference": True})
    opener = lambda e: source.open(ImageRef(e["image_ref"]))  # noqa: E731
    collator = LlavaPairCollator(policy.processor, get_template(cfg.template), opener, max_length=cfg.max_length)
    reference_logps(policy.model, collator, rows[:4], batch_size=4, progress=False)
    t0 = time.perf_counter()
    reference_logps(policy.model, collator, rows, batch_size=8, progress=False)
    ref_s = time.perf_counter() - t0
    ref_tokens = sum(int(collator([r])["attention_mask"].sum()) for r in rows)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        info = train_iteration(
            policy.path, Path(tmp) / "ckpt", rows[:8], objective=TrainingObjective(), cfg=cfg, open_image=opener
        )
        train_s = (time.perf_counter() - t0) / max(1, info["steps"])
    print(f"| `tiny/cpu` | generation tokens/s | {tokens / gen_s:.0f} | 64 requests × ≤32 new tokens, batch 32 |")
    print(f"| `tiny/cpu` | reference tokens/s | {ref_tokens / ref_s:.0f} | 32 pairs, batch 8 |")
    print(f"| `tiny/cpu` | training s/step | {train_s:.2f} | 8 pairs, 1 step, model load included |")


if __name__ == "__main__":
    main()
