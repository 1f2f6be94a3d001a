"""Which torch thread count the built-in tiny model should use, idle and beside one busy process.

    python perf/tiny_threads.py [--repeats 2]

For 1 and 2 torch threads, with the machine otherwise idle and beside one busy process (a second
Python process multiplying 512 × 512 matrices with torch's default thread count, as a second harness
job would), it times in a fresh subprocess each: greedy generation (64 scene descriptions, 32 new
tokens, hf backend batch 32) and training steps (30 forward/backward/AdamW steps of the tiny model on
a batch of 16 prompts with their answers). It prints one table with the ratios side by side; the
figures recorded in perf/README.md come from it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

WORK = r"""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
from harness.backends.base import GenerationRequest
from harness.backends.hf import HFBackend
from harness.images.synthetic import make_scene
from harness.policy.loading import load_policy

policy = load_policy("tiny")
reqs = [GenerationRequest(make_scene("threads", k).render(), "Describe the image.", max_new_tokens=32) for k in range(64)]
backend = HFBackend(policy, batch_size=32, progress=False)
backend.generate(reqs[:4])
t = time.perf_counter(); backend.generate(reqs); gen = time.perf_counter() - t

model, tok = policy.model, policy.processor.tokenizer
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
proc = policy.processor
texts = [policy.template.render("Describe the image.") + " There is a red circle." for _ in range(16)]
images = [make_scene("threads", k).render() for k in range(16)]
batch = proc(images=images, text=texts, return_tensors="pt", padding=True)
labels = batch["input_ids"].clone()
t = time.perf_counter()
for _ in range(30):
    out = model(**batch, labels=labels)
    out.loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
train = (time.perf_counter() - t) / 30
print(json.dumps({"generation_s": gen, "train_step_s": train}))
"""

BUSY = r"""
import time, torch
a = torch.randn(512, 512)
end = time.time() + 600
while time.time() < end:
    a = (a @ a).tanh()
"""


def run(threads: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", WORK, str(threads)], capture_output=True, text=True, check=True, timeout=900
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = {}
    for load in ("idle", "beside one busy process"):
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load != "idle" else None
        try:
            if busy is not None:
                time.sleep(2)
            for threads in (1, 2):
                best = None
                for _ in range(args.repeats):
                    r = run(threads)
                    best = r if best is None else {k: min(best[k], r[k]) for k in r}
                rows[(load, threads)] = best
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    print("| load | threads | generation, 64 × 32 tokens (s) | training step (s) | vs 1 thread, same load |")
    print("|---|---|---|---|---|")
    for (load, threads), r in rows.items():
        base = rows[(load, 1)]
        ratio = f"{r['generation_s'] / base['generation_s']:.2f}× / {r['train_step_s'] / base['train_step_s']:.2f}×"
        print(f"| {load} | {threads} | {r['generation_s']:.2f} | {r['train_step_s']:.3f} | {ratio} |")


if __name__ == "__main__":
    main()
