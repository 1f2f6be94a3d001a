"""How far a local rebuild of a built-in model lands from the shipped one (``harness tiny rebuild``).

Two measures, both about the same recipe: the weights (per tensor, the largest absolute difference and
the relative L2 distance ‖a − b‖ / ‖a‖ over all parameters), and behaviour, the greedy answers of both
models to the warm-up's own prompts (a description and two existence questions per scene) on held-out
scenes: the share answered identically and each model's share of "Yes". Scores on a benchmark come
from ``harness eval --model <rebuilt folder>`` beside the shipped model's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

CHECK_NAMESPACE = "tiny-rebuild-check"  # scenes neither model trained on


def weight_distance(a: Path, b: Path) -> dict[str, Any]:
    """Per-parameter comparison of two ``model.safetensors`` of the same architecture."""
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    if set(wa) != set(wb) or any(wa[k].shape != wb[k].shape for k in wa):
        return {"same_architecture": False}
    diff_sq = norm_sq = 0.0
    max_abs, identical = 0.0, 0
    for key in sorted(wa):
        x, y = wa[key].double(), wb[key].double()
        d = (x - y).abs()
        identical += int(bool((d == 0).all()))
        max_abs = max(max_abs, float(d.max()) if d.numel() else 0.0)
        diff_sq += float((d**2).sum())
        norm_sq += float((x**2).sum())
    return {
        "same_architecture": True,
        "tensors": len(wa),
        "tensors_identical": identical,
        "max_abs_difference": max_abs,
        "relative_l2": math.sqrt(diff_sq / norm_sq) if norm_sq else 0.0,
    }


def behaviour_agreement(a: Path, b: Path, scenes: int = 100) -> dict[str, Any]:
    """Greedy answers of both models to the warm-up's prompts on ``scenes`` held-out scenes."""
    from harness.backends.base import GenerationRequest
    from harness.backends.hf import HFBackend
    from harness.images.synthetic import SHAPES, make_scene
    from harness.policy.loading import load_policy
    from harness.policy.warmup_tasks import DESCRIBE_PROMPTS

    requests = []
    for i in range(scenes):
        image = make_scene(CHECK_NAMESPACE, i).render()
        requests.append(GenerationRequest(image=image, prompt=DESCRIBE_PROMPTS[0], max_new_tokens=48))
        for kind in (SHAPES[i % len(SHAPES)], SHAPES[(i + 1) % len(SHAPES)]):
            requests.append(
                GenerationRequest(image=image, prompt=f"Is there a {kind} in this image?", max_new_tokens=4)
            )
    answers = []
    for path in (a, b):
        backend = HFBackend(load_policy(path), batch_size=32, progress=False)
        answers.append(backend.generate(requests, desc=f"answers of {path.name}"))
    same = sum(x == y for x, y in zip(*answers))
    yes_rate = [
        sum(o.strip().startswith("Yes") for o, r in zip(outs, requests) if r.max_new_tokens == 4) / (2 * scenes)
        for outs in answers
    ]
    return {
        "scenes": scenes,
        "answers": len(requests),
        "identical_answers": same / len(requests),
        "identical_descriptions": sum(x == y for x, y, r in zip(*answers, requests) if r.max_new_tokens == 48) / scenes,
        "yes_rate_shipped": yes_rate[0],
        "yes_rate_rebuilt": yes_rate[1],
    }
