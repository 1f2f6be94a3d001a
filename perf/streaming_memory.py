"""Peak RSS of the synthesis stage of `harness evolve` over 300 and 6,000 images: flat, not growing.

Generates ~640×480 JPEGs (COCO's size; random shapes over gradients, ~70–150 KB each) into a folder
outside the repository, then runs `python -m harness.cli evolve` on the tiny model over each folder,
one iteration, no evaluation, with a kill point right after the synthesis stage has written its
pairs (``HARNESS_KILL_AT=synthesized-1``), and reads the child's peak resident set size from
``wait4``. Holding the decoded images alone would take 0.92 MB each (5.5 GB at 6,000); the stage opens
one chunk of images at a time (``--chunk-images``, 256), so the ratio should stay near 1.

    python perf/streaming_memory.py --out /tmp/h16-perf [--counts 300 6000] [--max-new-tokens 6]

Exits non-zero when peak(largest) / peak(smallest) > 1.25.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path


def make_images(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` distinct 640×480 JPEGs (reuses those already there)."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    have = len(list(folder.glob("*.jpg")))
    for k in range(n):
        path = folder / f"img{k:05d}.jpg"
        if k < have and path.exists():
            continue
        r = random.Random(seed * 1_000_003 + k)
        img = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
        img = Image.merge("RGB", [c.point(lambda v, a=r.randint(0, 255): (v + a) % 256) for c in img.split()])
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x, y = r.randint(0, 600), r.randint(0, 440)
            w, h = r.randint(20, 200), r.randint(20, 200)
            colour = tuple(r.randint(0, 255) for _ in range(3))
            (draw.ellipse if r.random() < 0.5 else draw.rectangle)((x, y, x + w, y + h), fill=colour)
        img.save(path, quality=90)


def run_synthesis(images: Path, n: int, run_dir: Path, max_new_tokens: int, chunk: int) -> tuple[float, float, dict]:
    """(peak RSS in MiB, wall seconds, stats.json) of the synthesis stage over ``n`` images."""
    import json

    if run_dir.exists():
        shutil.rmtree(run_dir)
    # one torch thread: on a small shared machine more threads only contend (4× slower measured here)
    env = dict(os.environ, HARNESS_KILL_AT="synthesized-1", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "evolve",
        "--method",
        "sena",
        "--iters",
        "1",
        "--images",
        str(images),
        "--images-per-iter",
        str(n),
        "--eval",
        "none",
        "--set",
        f"max_new_tokens={max_new_tokens}",
        "--set",
        f"sq_max_new_tokens={max_new_tokens}",
        "--chunk-images",
        str(chunk),
        "--gen-batch-size",
        "32",
        "--run-dir",
        str(run_dir),
    ]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    stats_path = run_dir / "iter1" / "stats.json"
    if not stats_path.is_file():
        raise SystemExit(f"synthesis over {n} images did not finish (status {status}): {proc.stderr.read()[-2000:]}")
    return usage.ru_maxrss / 1024, wall, json.loads(stats_path.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/harness-perf-streaming"))
    ap.add_argument("--counts", type=int, nargs="+", default=[300, 6000])
    ap.add_argument("--max-new-tokens", type=int, default=6)
    ap.add_argument("--chunk-images", type=int, default=256)
    args = ap.parse_args()
    rows = []
    for n in args.counts:
        folder = args.out / f"images-{n}"
        t0 = time.monotonic()
        make_images(folder, n)
        made = time.monotonic() - t0
        rss, wall, stats = run_synthesis(folder, n, args.out / f"run-{n}", args.max_new_tokens, args.chunk_images)
        size = sum(p.stat().st_size for p in folder.glob("*.jpg")) / n / 1024
        rows.append((n, rss, wall, stats))
        print(
            f"{n:>6} images ({size:.0f} KB avg, made in {made:.0f} s): peak RSS {rss:.0f} MiB, "
            f"{wall:.0f} s, {stats['chunks']} chunks, {sum(stats['requests_by_chunk'])} requests, "
            f"{stats['pairs']} pairs",
            flush=True,
        )
    ratio = rows[-1][1] / rows[0][1]
    print(f"peak RSS ratio {rows[-1][0]} / {rows[0][0]} images: {ratio:.3f} (goal ≤ 1.25)")
    return 0 if ratio <= 1.25 else 1


if __name__ == "__main__":
    sys.exit(main())
