"""Peak training memory: precomputed reference log-probs versus a live reference model.

Builds a LLaVA-architecture model of ~72 M parameters offline (the tiny model's recipe, scaled up,
untrained: memory does not depend on the weights), makes preference pairs over synthetic scenes,
runs the reference pass once, then trains one iteration (``harness.train.dpo.train_iteration``,
the code ``harness evolve`` runs) twice, each in a fresh process so that neither inherits the
other's allocations:

- **precomputed**: the pairs carry θi−1's log-probs (SENA's approach), no reference model in memory;
- **live**: ``live_reference=True``, TRL loads a frozen copy of θi−1 beside the policy.

Memory is the process's peak resident set (the kernel's ``VmHWM``, reset through
``/proc/self/clear_refs`` after the imports) minus the resident set at that point, so the Python,
torch and transformers baseline is left out of both. Linux only.

    python perf/training_memory.py                  # 72 M parameters, 16 pairs, batch 8,
                                                    # gradient checkpointing off, then on
    python perf/training_memory.py --json out.json  # also write the figures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _open_scene(example: dict):
    from harness.images.synthetic import make_scene

    namespace, index = example["image_ref"].rsplit("/", 1)
    return make_scene(namespace, int(index)).render()


def _examples(n: int) -> list[dict]:
    """Description pairs of realistic length: the scene's caption, elaborated, against another scene's."""
    from harness.images.synthetic import make_scene

    rows = []
    for i in range(n):
        scene, other = make_scene("perf-memory", i), make_scene("perf-memory", i + 10_000)

        def describe(s) -> str:
            parts = [s.caption()]
            parts += [f"The {shape.name} is drawn with clean edges on a plain background." for shape in s.shapes]
            return " ".join(parts * 2)

        rows.append(
            {
                "image_ref": f"perf-memory/{i}",
                "prompt": "Describe the image in detail.",
                "chosen": describe(scene),
                "rejected": describe(other),
                "kind": "des",
            }
        )
    return rows


def build(work: Path, n_pairs: int) -> dict:
    """Model, processor and pairs (with reference log-probs) under ``work``; returns their facts."""
    sys.path.insert(0, str(ROOT))
    import torch

    from harness.policy.templates import get_template
    from harness.policy.tiny import TinyRecipe, build_corpus, collect_tasks, make_model, make_processor
    from harness.train.collator import LlavaPairCollator
    from harness.train.reference import reference_logps

    recipe = TinyRecipe(scenes=200, text_hidden=768, text_layers=12, heads=12, vision_hidden=192)
    processor = make_processor(recipe, build_corpus(recipe, collect_tasks([])))
    model = make_model(recipe, processor.tokenizer)
    model.save_pretrained(work / "model")
    processor.save_pretrained(work / "model")
    rows = _examples(n_pairs)
    collator = LlavaPairCollator(processor, get_template("vicuna_v1"), _open_scene, max_length=512)
    refs = reference_logps(model, collator, rows, batch_size=8, progress=False)
    for row, ref in zip(rows, refs):
        row["ref_chosen_logps"], row["ref_rejected_logps"] = ref["chosen_logps"], ref["rejected_logps"]
    (work / "pairs.json").write_text(json.dumps(rows))
    batch = collator(rows[:1])
    return {
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "trainable_m": round(sum(p.numel() for n, p in model.named_parameters() if "vision_tower" not in n) / 1e6, 1),
        "tokens_per_sequence": int(batch["attention_mask"][0].sum()),
        "pairs": n_pairs,
        "torch": torch.__version__,
    }


def worker(work: Path, mode: str, batch: int, per_device: int, checkpointing: bool) -> dict:
    """Train once in this process and report its peak memory above the post-import baseline."""
    sys.path.insert(0, str(ROOT))
    import torch  # noqa: F401 - every import happens before the baseline
    import transformers  # noqa: F401
    import trl  # noqa: F401

    from harness.method import TrainingObjective
    from harness.train.config import TrainConfig
    from harness.train.dpo import train_iteration

    rows = json.loads((work / "pairs.json").read_text())
    cfg = TrainConfig(
        learning_rate=1e-5,
        global_batch_size=batch,
        per_device_batch_size=per_device,
        max_length=512,
        warmup_ratio=0.0,
        live_reference=(mode == "live"),
        gradient_checkpointing=checkpointing,
    )
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    baseline_kb = _status_kb("VmRSS")
    start = time.perf_counter()
    info = train_iteration(
        work / "model",
        work / f"out-{mode}",
        rows,
        objective=TrainingObjective(align_weight=1.0),
        cfg=cfg,
        open_image=_open_scene,
    )
    wall = time.perf_counter() - start
    peak_kb = _status_kb("VmHWM")
    return {
        "mode": mode,
        "gradient_checkpointing": checkpointing,
        "baseline_mib": round(baseline_kb / 1024, 1),
        "peak_mib": round(peak_kb / 1024, 1),
        "training_peak_mib": round((peak_kb - baseline_kb) / 1024, 1),
        "steps": info["steps"],
        "train_loss": round(info["train_loss"], 4),
        "wall_s": round(wall, 1),
    }


def run(n_pairs: int, batch: int, per_device: int, checkpointing: list[bool], repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="harness-perf-memory-") as tmp:
        work = Path(tmp)
        facts = build(work, n_pairs)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        runs = []
        for _ in range(repeats):
            for ckpt in checkpointing:
                for mode in ("precomputed", "live"):
                    cmd = [
                        sys.executable,
                        __file__,
                        "--worker",
                        mode,
                        "--work",
                        str(work),
                        "--batch",
                        str(batch),
                        "--per-device",
                        str(per_device),
                        "--checkpointing",
                        "on" if ckpt else "off",
                    ]
                    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                    runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    table = []
    for ckpt in checkpointing:
        best = {
            m: min(r["training_peak_mib"] for r in runs if r["mode"] == m and r["gradient_checkpointing"] == ckpt)
            for m in ("precomputed", "live")
        }
        ratio = best["precomputed"] / best["live"]
        table.append(
            {
                "gradient_checkpointing": ckpt,
                "precomputed_mib": best["precomputed"],
                "live_mib": best["live"],
                "ratio": round(ratio, 3),
                "met": ratio <= 0.6,
            }
        )
    return {
        **facts,
        "global_batch": batch,
        "per_device_batch": per_device,
        "runs": runs,
        "comparison": table,
        "goal_ratio": 0.6,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8, help="global batch (pairs per optimiser step)")
    parser.add_argument("--per-device", type=int, default=4, help="pairs per forward/backward")
    parser.add_argument(
        "--checkpointing",
        choices=("off", "on", "both"),
        default="both",
        help="gradient checkpointing (on by default on GPU, off on CPU)",
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", choices=("precomputed", "live"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.work, args.worker, args.batch, args.per_device, args.checkpointing == "on")))
        return
    checkpointing = {"off": [False], "on": [True], "both": [False, True]}[args.checkpointing]
    result = run(args.pairs, args.batch, args.per_device, checkpointing, args.repeats)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
