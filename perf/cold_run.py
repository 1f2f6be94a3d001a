"""The cold default run, timed: `harness evolve --method sena --iters 3` on a fresh cache and runs folder,
idle and beside one busy process, side by side.

    python perf/cold_run.py [--method sena] [--iters 3]

"Cold" is a fresh ``HARNESS_CACHE_DIR``: with the tiny model and tiny CLIP shipped, nothing is built.
"Busy" is a second Python process multiplying 512 × 512 matrices on torch's default threads for the
whole run, as a second harness job would. The goals (issue 24): under 60 s idle, under 3 minutes beside
one busy process, on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

BUSY = r"""
import time, torch
a = torch.randn(512, 512)
end = time.time() + 900
while time.time() < end:
    a = (a @ a).tanh()
"""


def timed_run(method: str, iters: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HARNESS_CACHE_DIR=os.path.join(tmp, "cache"), HF_HUB_OFFLINE="1")
        cmd = [sys.executable, "-m", "harness.cli", "evolve", "--method", method, "--iters", str(iters)]
        cmd += ["--runs-dir", os.path.join(tmp, "runs")]
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=1800)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--method", default="sena")
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    idle = timed_run(args.method, args.iters)
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(2)
        loaded = timed_run(args.method, args.iters)
    finally:
        busy.kill()
        busy.wait()
    print(f"| `harness evolve --method {args.method} --iters {args.iters}`, cold cache | wall (s) | vs idle |")
    print("|---|---|---|")
    print(f"| idle | {idle:.1f} | 1.00× |")
    print(f"| beside one busy process | {loaded:.1f} | {loaded / idle:.2f}× |")


if __name__ == "__main__":
    main()
