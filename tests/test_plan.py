"""`harness plan` / `evolve --dry-run`: counts, the ZeRO memory formula, the launcher evolve picks at scale."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.errors import HarnessError
from harness.evolve import TINY_IMAGES_PER_ITER, EvolveOptions, scale_training
from harness.plan import model_shape, plan_evolve, recorded_throughputs, training_launcher, zero_memory
from harness.train.config import TrainConfig

GIB = 1024**3


@pytest.fixture(scope="module")
def llava7b(tmp_path_factory):
    """A config-only folder with LLaVA-1.5-7B's shapes (llava-hf/llava-1.5-7b-hf): no weights needed.

    The config is perf/gpu_smoke.py's, so these counts also check the shape the GPU smoke test builds."""
    from perf.gpu_smoke import llava_config

    folder = tmp_path_factory.mktemp("llava7b")
    llava_config(tiny=False).save_pretrained(folder)
    return folder


def test_the_7b_shape_is_counted_from_its_config(llava7b):
    shape = model_shape(llava7b, lora_r=128)
    assert 7.0e9 < shape.params < 7.1e9 and shape.image_tokens == 576
    assert 3.0e8 < shape.vision < 3.1e8  # CLIP ViT-L/14-336
    assert shape.projector == 1024 * 4096 + 4096 + 4096 * 4096 + 4096  # two linears with biases
    # LoRA r on the 7 linears of 32 layers: r·(in + out) each
    assert shape.lora_params == 32 * 128 * (4 * (4096 + 4096) + 3 * (4096 + 11008))


def test_zero_memory_is_the_written_formula():
    psi, t, n = 7e9, 7e9, 8
    mem = zero_memory(int(psi), int(t), n)
    assert mem["ZeRO-0 (DDP)"] == pytest.approx(16 * psi / GIB)
    assert mem["ZeRO-1"] == pytest.approx((4 * psi + 12 * psi / n) / GIB)
    assert mem["ZeRO-2"] == pytest.approx((2 * psi + 14 * psi / n) / GIB)
    assert mem["ZeRO-3"] == pytest.approx(16 * psi / n / GIB)
    assert mem["inline fp32 (1 process)"] == pytest.approx(16 * psi / GIB)


def test_plan_of_a_paper_scale_sena_run(llava7b):
    plan = plan_evolve(EvolveOptions(method="sena", iters=3, model=str(llava7b), evals=[]), gpus=8, gpu_memory_gib=80)
    assert plan.images_per_iter == 6000 and plan.generations and plan.generations >= 6000 * 5
    assert plan.prompt_tokens == plan.generations * (576 + 40)
    assert plan.decoded_tokens_max == plan.generations * 512  # SENA's max_new_tokens
    assert plan.train_steps >= 1 and plan.launcher == "accelerate (zero3)"
    assert plan.memory["ZeRO-3"] < plan.memory["ZeRO-2"] < plan.memory["ZeRO-1"] < plan.memory["ZeRO-0 (DDP)"]


def test_launcher_choice_at_scale(llava7b):
    cfg = TrainConfig()
    psi = 7_000_000_000
    assert training_launcher("tiny", cfg, 8, 80, psi, psi) == "inline"
    assert training_launcher(str(llava7b), cfg, 0, 0, psi, psi) == "inline"  # CPU
    assert training_launcher(str(llava7b), cfg, 8, 80, psi, psi) == "accelerate (zero3)"  # 13 GiB of 80
    assert training_launcher(str(llava7b), cfg, 1, 80, psi, psi) == "accelerate (zero3_offload)"  # 104 GiB of 80

    scaled, record = scale_training(str(llava7b), llava7b, cfg, {}, {}, gpus=8, gpu_memory_gib=80)
    assert (scaled.launcher, scaled.accelerate_config) == ("accelerate", "zero3") and record["scaled"]["gpus"] == 8
    one, _ = scale_training(str(llava7b), llava7b, cfg, {}, {}, gpus=1, gpu_memory_gib=80)
    assert one.accelerate_config == "zero3_offload"
    same, rec = scale_training(str(llava7b), llava7b, cfg, {}, {"launcher": "inline"}, gpus=8, gpu_memory_gib=80)
    assert same.launcher == "inline" and "scaled" not in rec  # the user's --train launcher wins
    cpu, _ = scale_training(str(llava7b), llava7b, cfg, {}, {}, gpus=0, gpu_memory_gib=0)
    assert cpu.launcher == "inline"


def test_a_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(HarnessError, match="model path not found"):
        plan_evolve(EvolveOptions(method="sena", model=str(tmp_path / "nope"), evals=[]), gpus=1, gpu_memory_gib=80)
    res = subprocess.run(
        [sys.executable, "-m", "harness.cli", "plan", "--method", "sena", "--model", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "model path not found" in res.stdout + res.stderr


def test_evolve_dry_run_prints_the_plan_and_writes_nothing(llava7b, tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "evolve",
            "--method",
            "seva",
            "--model",
            str(llava7b),
            "--eval",
            "none",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ZeRO-3" in res.stdout and "optimiser steps" in res.stdout and "generations" in res.stdout
    assert not (tmp_path / "runs").exists()


def test_throughputs_are_read_from_the_perf_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\n## Throughputs for harness plan\n\n| model | quantity | value | measured |\n"
        "|---|---|---|---|\n| `tiny/cpu` | generation tokens/s | 250.5 | 2026 |\n"
        "| `tiny/cpu` | training s/step | 1.5 | 2026 |\n\n## Other\n"
        "| `7B/h200` | generation tokens/s | 9 | no |\n"
    )
    assert recorded_throughputs(readme) == {
        ("tiny/cpu", "generation tokens/s"): 250.5,
        ("tiny/cpu", "training s/step"): 1.5,
    }


def test_plan_of_the_tiny_run_counts_the_evaluations_and_estimates_from_recorded_rates(tiny_path):
    plan = plan_evolve(EvolveOptions(method="sena", iters=2, evals=["shapes"]), gpus=0, gpu_memory_gib=0)
    assert plan.launcher == "inline" and plan.images_per_iter == TINY_IMAGES_PER_ITER
    (shapes,) = plan.evaluations
    assert shapes["models"] == 3 and shapes["generations"] > 0 and shapes["judge_calls"] == 0
    if recorded_throughputs():  # perf/README.md records tiny/cpu rates: the stages get estimates
        # from whole measured synthesis stages (a default sena iteration took 13-21 s), not the max_new_tokens bound
        assert plan.estimates["synthesis"].startswith("~") and plan.estimates["synthesis"].endswith(" s")
        assert "training" in plan.estimates
