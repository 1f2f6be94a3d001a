"""vLLM between two checkpoints: a new engine per θ, against one engine put to sleep while training has the
GPU and then given θi's weights (vLLM's sleep mode). The measured choice issue 29 asks for; a GPU with the
``vllm`` extra is needed, so perf/gpu_smoke.sh runs it where vLLM imports.

    python perf/vllm_handover.py [--model PATH] [--rounds 3] [--prompts 64] [--json out.json]

``--model``: a llava-hf checkpoint folder (default: the shipped tiny LLaVA, whose engine start is mostly
vLLM's fixed cost; give LLaVA-1.5-7B for the paper-scale figure). θ1 is a copy of it with every weight
scaled by 1.01, written to a temporary folder, so that each round changes the weights as training does.

Per round, the two ways:
- **new**: ``LLM(θ)``, generate, delete the engine (what the synthesis stage does today);
- **sleep**: one engine built once with ``enable_sleep_mode=True``; per round ``sleep(level=2)`` (the GPU
  memory training would get is read while it sleeps), ``wake_up(tags=["weights"])``, θ's safetensors
  loaded into the running model (``collective_rpc`` with a function run in each worker, which calls the
  model's own ``load_weights``), ``wake_up(tags=["kv_cache"])``, generate.

Printed per way: seconds from "θ is on disk" to "its answers are back", the free GPU memory while asleep
(sleep) or after the engine is deleted (new), and whether the two ways gave the same greedy texts for the
same θ (they should: the same weights and the same inputs).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def _load_checkpoint(worker, path: str) -> int:
    """Run in every vLLM worker: the checkpoint's tensors into the running model (its own weight mapping)."""
    from safetensors.torch import load_file

    names = 0
    model = worker.model_runner.model
    for shard in sorted(Path(path).glob("*.safetensors")):
        tensors = load_file(str(shard))
        names += len(tensors)
        model.load_weights(weights=iter(tensors.items()))
    return names


def _perturbed_copy(src: Path, dst: Path, scale: float) -> None:
    """``src`` copied to ``dst`` with every floating-point weight multiplied by ``scale``."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst, dirs_exist_ok=True)
    for shard in sorted(dst.glob("*.safetensors")):
        tensors = {k: (v * scale if v.is_floating_point() else v) for k, v in load_file(str(shard)).items()}
        save_file(tensors, str(shard), metadata={"format": "pt"})


def _prompts(n: int, size: int):
    from PIL import Image

    images = [Image.new("RGB", (size, size), ((37 * i) % 256, (91 * i) % 256, (53 * i) % 256)) for i in range(n)]
    return [
        {"prompt": "USER: <image>\nDescribe the image. ASSISTANT:", "multi_modal_data": {"image": im}} for im in images
    ]


def _free_gib() -> float:
    import torch

    free, _ = torch.cuda.mem_get_info()
    return free / 2**30


def _texts(llm, prompts, params) -> list[str]:
    return [o.outputs[0].text for o in llm.generate(prompts, params, use_tqdm=False)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")  # collective_rpc with a function
    import vllm

    if args.model is None:
        from harness.policy.shipped import SHIPPED_DIR

        args.model = SHIPPED_DIR / "tiny"
    tmp = Path(tempfile.mkdtemp(prefix="vllm-handover-"))
    thetas = [args.model, tmp / "theta1"]
    _perturbed_copy(args.model, thetas[1], 1.01)
    prompts = _prompts(args.prompts, 336)
    params = vllm.SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    engine = {"gpu_memory_utilization": args.gpu_memory_utilization, "limit_mm_per_prompt": {"image": 1}}
    report: dict = {"model": str(args.model), "vllm": vllm.__version__, "rounds": [], "free_gib_idle": _free_gib()}

    texts_new: dict[int, list[str]] = {}
    for r in range(args.rounds):
        theta = thetas[r % 2]
        start = time.perf_counter()
        llm = vllm.LLM(model=str(theta), **engine)
        texts_new[r] = _texts(llm, prompts, params)
        seconds = time.perf_counter() - start
        del llm
        gc.collect()
        report["rounds"].append({"way": "new", "round": r, "seconds": round(seconds, 2), "free_gib": _free_gib()})

    start = time.perf_counter()
    llm = vllm.LLM(model=str(thetas[0]), enable_sleep_mode=True, **engine)
    report["sleep_engine_start_s"] = round(time.perf_counter() - start, 2)
    same = True
    for r in range(args.rounds):
        theta = thetas[r % 2]
        llm.sleep(level=2)
        asleep = _free_gib()
        start = time.perf_counter()
        llm.wake_up(tags=["weights"])
        loaded = llm.collective_rpc(_load_checkpoint, args=(str(theta),))
        llm.wake_up(tags=["kv_cache"])
        llm.reset_prefix_cache()
        texts = _texts(llm, prompts, params)
        seconds = time.perf_counter() - start
        same = same and texts == texts_new[r]
        report["rounds"].append(
            {"way": "sleep", "round": r, "seconds": round(seconds, 2), "free_gib": asleep, "tensors": loaded}
        )
    report["same_texts"] = same
    shutil.rmtree(tmp, ignore_errors=True)
    for row in report["rounds"]:
        print(
            f"{row['way']:>5} round {row['round']}: {row['seconds']:7.2f} s, free GPU memory {row['free_gib']:.1f} GiB"
        )
    print(f"sleep-mode engine start (once): {report['sleep_engine_start_s']} s; the same texts both ways: {same}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
