"""The default runs behind the committed leaderboard, re-run and checked against it.

    python perf/default_runs.py run --runs-dir DIR [--methods sena,seva] [--seeds 0,1,2] [--iters 3]
    python perf/default_runs.py record --runs-dir DIR [--out perf/recorded/default_runs.json]
    python perf/default_runs.py check --runs-dir DIR [--methods sena,seva] [--recorded perf/recorded/default_runs.json]

``run`` runs ``harness evolve --method M --iters 3 --seed S`` on the built-in default (the shipped tiny
model, synthetic images, the ``shapes`` benchmark after every iteration) for every registered method
and seed, one after the other (finished runs are skipped, as any rerun of evolve). ``record`` writes,
per method, iteration and headline metric, the value of each seed, with the machine and versions they
came from. ``check`` compares a new machine's runs with the recorded ones, cell by cell: a cell agrees
when the difference of the two seed means is within two standard errors of that difference,
2·sqrt((s_rec² + s_new²)/n), or within 1 point where the seeds barely vary (the floor keeps cells whose
seeds all agree from failing on the last digit); θ0 is compared the same way over its one value.
Exit status 1 when a cell falls outside.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
from pathlib import Path

RECORDED = Path(__file__).resolve().parent / "recorded" / "default_runs.json"
FLOOR = 1.0


def _methods() -> list[str]:
    from harness.plugins import registry

    return sorted(registry().methods)


def run(runs_dir: Path, methods: list[str], seeds: list[int], iters: int) -> None:
    for method in methods:
        for seed in seeds:
            cmd = [sys.executable, "-m", "harness.cli", "evolve", "--method", method, "--iters", str(iters)]
            cmd += ["--seed", str(seed), "--runs-dir", str(runs_dir)]
            print("$", " ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True)


def collect(runs_dir: Path) -> dict[str, dict[str, list[float]]]:
    """{"method|θi": {metric: [value per seed, in seed order]}}; θ0 once as "base|θ0"."""
    cells: dict[str, dict[str, list[float]]] = {}
    for manifest in sorted(runs_dir.glob("*/manifest.json")):
        info = json.loads(manifest.read_text())
        config = info.get("config", {})
        method, seed = config.get("method"), config.get("seed", 0)
        for results in sorted(manifest.parent.glob("iter*/eval/*/results.json")):
            i = int(results.parts[-4].removeprefix("iter"))
            key = "base|θ0" if i == 0 else f"{method}|θ{i}"
            metrics = json.loads(results.read_text())["metrics"]
            bench = results.parts[-2]
            target = cells.setdefault(key, {})
            for name, value in metrics.items():
                if isinstance(value, (int, float)):
                    target.setdefault(f"{bench}/{name}", []).append((seed, float(value)))
    out: dict[str, dict[str, list[float]]] = {}
    for key, metrics in cells.items():
        out[key] = {}
        for name, pairs in metrics.items():
            if key == "base|θ0":  # every run evaluates the same θ0: one value
                out[key][name] = [pairs[0][1]]
            else:
                out[key][name] = [v for _, v in sorted(pairs)]
    return out


def _environment() -> dict[str, str]:
    import torch
    import transformers

    from harness.policy.shipped import build_environment, read_manifest

    env = build_environment()
    manifest = read_manifest("tiny") or {}
    return {
        "cpu": env["cpu"],
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tiny_model": manifest.get("fingerprint", "built locally"),
    }


def _mean_sd(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    return m, (math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0)


def check(recorded: dict, new: dict[str, dict[str, list[float]]], methods: set[str] | None = None) -> list[str]:
    """Compare cell by cell; ``methods``: only these methods' cells (and θ0)."""
    lines, outside = [], 0
    for key, metrics in sorted(recorded["cells"].items()):
        method = key.split("|")[0]
        if methods and method != "base" and method not in methods:
            continue
        for name, values in sorted(metrics.items()):
            got = new.get(key, {}).get(name)
            if not got:
                lines.append(f"MISSING  {key} {name}")
                outside += 1
                continue
            (mr, sr), (mn, sn) = _mean_sd(values), _mean_sd(got)
            band = max(FLOOR, 2 * math.sqrt((sr**2 + sn**2) / max(1, min(len(values), len(got)))))
            ok = abs(mn - mr) <= band
            outside += not ok
            lines.append(
                f"{'ok      ' if ok else 'OUTSIDE '} {key:<18} {name:<22} recorded {mr:7.2f} ± {sr:5.2f}  "
                f"new {mn:7.2f} ± {sn:5.2f}  band ±{band:.2f}"
            )
    lines.append(f"{outside} cell(s) outside their band")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "record", "check"))
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--methods", default="")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RECORDED)
    parser.add_argument("--recorded", type=Path, default=RECORDED)
    args = parser.parse_args(argv)
    if args.action == "run":
        methods = [m for m in args.methods.split(",") if m] or _methods()
        run(args.runs_dir, methods, [int(s) for s in args.seeds.split(",")], args.iters)
        return 0
    cells = collect(args.runs_dir)
    if args.action == "record":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"environment": _environment(), "cells": cells}, indent=1, sort_keys=True) + "\n"
        )
        print(f"recorded {sum(len(m) for m in cells.values())} cells into {args.out}")
        return 0
    recorded = json.loads(args.recorded.read_text())
    print(f"recorded on: {recorded['environment']}\nthis machine: {_environment()}")
    lines = check(recorded, cells, {m for m in args.methods.split(",") if m} or None)
    print("\n".join(lines))
    return 1 if not lines[-1].startswith("0 ") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
