"""The cold default run, timed: `harness evolve --method sena --iters 3` on a fresh cache and runs folder,
idle and beside one busy process, with the default spare-core generation helpers (`--gen-helpers auto`)
and without (`--gen-helpers 0`), side by side; each cell the median of ``--reps`` runs, in alternation.

    python perf/cold_run.py [--method sena] [--iters 3] [--reps 3] [--busy-reps 1]

"Cold" is a fresh ``HARNESS_CACHE_DIR``: with the tiny model and tiny CLIP shipped, nothing is built.
"Busy" is a second Python process multiplying 512 × 512 matrices on torch's default threads for the
whole run, as a second harness job would. The goals (issue 24): under 60 s idle, under 3 minutes beside
one busy process, on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def timed_run(method: str, iters: int, helpers: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, HARNESS_CACHE_DIR=os.path.join(tmp, "cache"), HF_HUB_OFFLINE="1")
        cmd = [sys.executable, "-m", "harness.cli", "evolve", "--method", method, "--iters", str(iters)]
        cmd += ["--runs-dir", os.path.join(tmp, "runs"), "--gen-helpers", helpers]
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=1800)
        return time.perf_counter() - start


def _cells(method: str, iters: int, reps: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"auto": [], "0": []}
    for _ in range(reps):
        for helpers in times:  # alternated, so that a slow spell of the machine hits both
            times[helpers].append(timed_run(method, iters, helpers))
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--method", default="sena")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3, help="runs per idle cell (the median is shown)")
    parser.add_argument("--busy-reps", type=int, default=1, help="runs per busy cell")
    args = parser.parse_args()
    idle = _cells(args.method, args.iters, args.reps)
    busy_proc = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        time.sleep(2)
        busy = _cells(args.method, args.iters, args.busy_reps)
    finally:
        busy_proc.kill()
        busy_proc.wait()
    base = statistics.median(idle["0"])
    print(
        f"| `harness evolve --method {args.method} --iters {args.iters}`, cold cache | `--gen-helpers` | "
        "wall (s), median | runs (s) | vs idle without helpers |"
    )
    print("|---|---|---|---|---|")
    for label, cells in (("idle", idle), ("beside one busy process", busy)):
        for helpers, runs in cells.items():
            med = statistics.median(runs)
            shown = ", ".join(f"{t:.1f}" for t in runs)
            print(f"| {label} | {helpers} | {med:.1f} | {shown} | {med / base:.2f}× |")


if __name__ == "__main__":
    main()
