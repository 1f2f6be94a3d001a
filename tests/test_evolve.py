"""The evolve loop end to end on the tiny model: every method, resume after kill -9, bad input."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from harness.errors import HarnessError
from harness.evolve import EvolveOptions, evolve

FAST = {"images_per_iter": 8, "evals": []}


def _small(method: str, run_dir, **kw) -> EvolveOptions:
    sets = {
        "sena": ["max_new_tokens=24", "sq_max_new_tokens=32"],
        "seva": ["max_new_tokens=24"],
        "clip_filter": ["max_new_tokens=24"],
    }[method]
    return EvolveOptions(method=method, iters=2, run_dir=run_dir, overrides=sets, progress=False, **FAST, **kw)


@pytest.mark.parametrize("method", ["sena", "seva", "clip_filter"])
def test_two_iterations_of_each_method(method, tiny_path, tmp_path):
    run_dir = tmp_path / method
    summaries = evolve(_small(method, run_dir))
    assert [s.iteration for s in summaries] == [0, 1, 2]
    for i in (1, 2):
        it = run_dir / f"iter{i}"
        assert (it / "checkpoint" / "config.json").is_file()
        assert (it / "checkpoint" / "tokenizer.json").is_file()  # the processor travels with θi
        stats = json.loads((it / "stats.json").read_text())
        n_pairs = len((it / "pairs.jsonl").read_text().splitlines())
        assert stats["pairs"] == n_pairs
        audit = json.loads((it / "audit.json").read_text())["summary"]  # synthetic images: every pair audited
        assert audit["pairs"] == audit["audited"] == n_pairs
        train = json.loads((it / "train.json").read_text())
        if n_pairs:
            repeats = 2 if method == "seva" else 1  # seva's official recipe shows every pair twice per epoch
            assert train["steps"] >= 1 and train["examples"] == n_pairs * repeats
        else:  # nothing survived the filters: θi is θi−1 unchanged, and says so
            assert train["steps"] == 0 and "no pairs" in train["skipped"]
    if method == "sena":  # the tiny model is warmed up on SENA's formats: its pairs survive
        assert sum(len((run_dir / f"iter{i}" / "pairs.jsonl").read_text().splitlines()) for i in (1, 2)) > 0
    trained = [i for i in (1, 2) if json.loads((run_dir / f"iter{i}" / "train.json").read_text())["steps"]]
    for i in trained:  # LLaVA's recipe: the LLM and the projector learn, the vision tower stays frozen
        before = (
            load_file(tiny_path / "model.safetensors")
            if i == 1
            else load_file(run_dir / f"iter{i - 1}" / "checkpoint" / "model.safetensors")
        )
        after = load_file(run_dir / f"iter{i}" / "checkpoint" / "model.safetensors")
        assert before.keys() == after.keys()
        tower = [k for k in after if "vision_tower" in k]
        assert tower and all(torch.equal(before[k], after[k]) for k in tower)
        assert any(not torch.equal(before[k], after[k]) for k in after if "language_model" in k)
        assert any(not torch.equal(before[k], after[k]) for k in after if "multi_modal_projector" in k)
    images = [{r["id"] for r in json.loads((run_dir / f"iter{i}" / "images.json").read_text())} for i in (1, 2)]
    assert not images[0] & images[1]  # disjoint images across iterations
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["method"] == method and manifest["config"]["iterations"] == 2


def test_rerun_skips_finished_stages_and_refuses_another_config(tiny_path, tmp_path):
    run_dir = tmp_path / "run"
    evolve(
        EvolveOptions(method="seva", iters=1, run_dir=run_dir, overrides=["max_new_tokens=16"], progress=False, **FAST)
    )
    before = (run_dir / "iter1" / "checkpoint" / "model.safetensors").stat().st_mtime_ns
    evolve(
        EvolveOptions(method="seva", iters=1, run_dir=run_dir, overrides=["max_new_tokens=16"], progress=False, **FAST)
    )
    assert (run_dir / "iter1" / "checkpoint" / "model.safetensors").stat().st_mtime_ns == before
    with pytest.raises(HarnessError, match="different config"):
        evolve(
            EvolveOptions(
                method="seva", iters=1, run_dir=run_dir, overrides=["max_new_tokens=17"], progress=False, **FAST
            )
        )


def test_bad_input_is_refused_before_anything_is_written(tiny_path, tmp_path):
    with pytest.raises(HarnessError, match="registered methods"):
        evolve(EvolveOptions(method="nope", run_dir=tmp_path / "a", progress=False))
    with pytest.raises(HarnessError, match="--iters"):
        evolve(EvolveOptions(method="seva", iters=0, run_dir=tmp_path / "b", progress=False))
    with pytest.raises(HarnessError, match="missing-folder"):
        evolve(
            EvolveOptions(
                method="seva", images=str(tmp_path / "missing-folder"), run_dir=tmp_path / "c", progress=False
            )
        )
    (tmp_path / "notllava").mkdir()
    (tmp_path / "notllava" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(HarnessError, match="not a LLaVA-family"):
        evolve(EvolveOptions(method="seva", model=str(tmp_path / "notllava"), run_dir=tmp_path / "d", progress=False))
    assert not any((tmp_path / d).exists() for d in "abcd")


def _cli(run_dir, kill_at=None):
    env = dict(os.environ)
    env.pop("HARNESS_KILL_AT", None)
    if kill_at:
        env["HARNESS_KILL_AT"] = kill_at
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "evolve",
        "--method",
        "oracle",  # its pairs (the true caption against the noised image's answer) exist whatever θ0 says
        "--iters",
        "1",
        "--images-per-iter",
        "8",
        "--eval",
        "none",
        "--set",
        "max_new_tokens=24",
        "--set",
        "prompts_per_image=1",
        "--set",
        "epochs=1",
        "--run-dir",
        str(run_dir),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_kill_9_during_each_stage_then_resume_matches_an_uninterrupted_run(tiny_path, tmp_path):
    clean = _cli(tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr[-2000:]
    # every stage runs, so every kill point is reached (an iteration without pairs skips reference and training)
    assert (tmp_path / "clean" / "iter1" / "pairs.jsonl").read_text().strip()
    killed = tmp_path / "killed"
    for point in ("synthesize-1", "reference-1", "train-1"):
        res = _cli(killed, kill_at=point)
        assert res.returncode == -signal.SIGKILL, (point, res.stderr[-2000:])
    final = _cli(killed)
    assert final.returncode == 0, final.stderr[-2000:]
    a, b = tmp_path / "clean" / "iter1", killed / "iter1"
    assert (a / "pairs.jsonl").read_bytes() == (b / "pairs.jsonl").read_bytes()
    ra = [json.loads(x) for x in (a / "ref_logps.jsonl").read_text().splitlines()]
    rb = [json.loads(x) for x in (b / "ref_logps.jsonl").read_text().splitlines()]
    assert len(ra) == len(rb) and all(x == pytest.approx(y, rel=1e-5) for x, y in zip(ra, rb))
    wa = load_file(a / "checkpoint" / "model.safetensors")
    wb = load_file(b / "checkpoint" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert (wa[k] - wb[k]).abs().max().item() < 1e-5, k
    assert not list(b.glob(".train-*"))


# ------------------------------------------------------------------------------- runs grow; bad starts leave nothing


def _tree(folder) -> dict[str, str]:
    """Relative path → SHA-256 of every file below ``folder``."""
    import hashlib

    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _grow_opts(run_dir, iters: int, **kw) -> EvolveOptions:
    return EvolveOptions(
        method="seva",
        iters=iters,
        run_dir=run_dir,
        overrides=["max_new_tokens=16"],
        images_per_iter=4,
        heldout_images=0,
        evals=[],
        progress=False,
        **kw,
    )


def test_a_finished_run_grows_to_theta4_and_keeps_theta1_to_theta3_byte_identical(tiny_path, tmp_path):
    run_dir = tmp_path / "run"
    evolve(_grow_opts(run_dir, 3))
    before = {i: _tree(run_dir / f"iter{i}") for i in (1, 2, 3)}
    assert all(before[i]["checkpoint/model.safetensors"] for i in (1, 2, 3))
    summaries = evolve(_grow_opts(run_dir, 4))
    assert [s.iteration for s in summaries] == [0, 1, 2, 3, 4]
    for i in (1, 2, 3):
        assert _tree(run_dir / f"iter{i}") == before[i], f"iter{i} changed"
    assert (run_dir / "iter4" / "checkpoint" / "config.json").is_file()
    images = [{r["id"] for r in json.loads((run_dir / f"iter{i}" / "images.json").read_text())} for i in (1, 2, 3, 4)]
    assert len(images[3]) == 4 and not images[3] & (images[0] | images[1] | images[2])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["iterations"] == manifest["iterations"] == 4
    assert manifest["history"][-1]["changed"] == [{"key": "iterations", "old": 3, "new": 4}]
    # fewer iterations than recorded: nothing to do, nothing changes
    evolve(_grow_opts(run_dir, 2))
    assert json.loads((run_dir / "manifest.json").read_text())["config"]["iterations"] == 4
    # a change that cannot continue the run names the option and offers a new run directory
    with pytest.raises(HarnessError) as err:
        evolve(_grow_opts(run_dir, 4, train_overrides={"learning_rate": 2e-5}))
    msg = str(err.value)
    assert "--train learning_rate (5e-05 → 2e-05)" in msg and "--run-id run-2" in msg and "--restart" in msg
    with pytest.raises(HarnessError, match=r"--set max_new_tokens \(16 → 17\)"):
        evolve(
            EvolveOptions(
                method="seva",
                iters=4,
                run_dir=run_dir,
                overrides=["max_new_tokens=17"],
                images_per_iter=4,
                heldout_images=0,
                evals=[],
                progress=False,
            )
        )
    with pytest.raises(HarnessError, match=r"--images-per-iter \(4 → 5\)"):
        evolve(
            EvolveOptions(
                method="seva",
                iters=4,
                run_dir=run_dir,
                overrides=["max_new_tokens=16"],
                images_per_iter=5,
                heldout_images=0,
                evals=[],
                progress=False,
            )
        )
    assert _tree(run_dir / "iter1") == before[1]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"images_per_iter": 0}, r"--images-per-iter: must be an integer >= 1, got 0"),
        ({"gen_batch_size": 0}, r"--gen-batch-size: must be an integer >= 1, got 0"),
        ({"iters": 0}, r"--iters: must be an integer >= 1, got 0"),
        ({"seed": -1}, r"--seed: must be an integer >= 0, got -1"),
        ({"train_overrides": {"learning_rate": float("nan")}}, r"--train learning_rate=nan: expected a finite number"),
        ({"train_overrides": {"learning_rate": -1e-6}}, r"--train learning_rate=-1e-06: expected a finite number > 0"),
        ({"train_overrides": {"epochs": 0.0}}, r"--train epochs=0.0: expected a finite number > 0"),
        (
            {"train_overrides": {"global_batch_size": -1}},
            r"--train global_batch_size=-1: expected an integer >= 1, or 0 for per_device_batch_size × processes",
        ),
        ({"method": "clip_filter", "overrides": ["h_std=nan"]}, r"--set h_std=nan: expected a finite number"),
        ({"run_id": "a/b"}, r"--run-id a/b: a folder name"),
        ({"images": "FOLDER3", "images_per_iter": 2}, r"image source has 3 images; 3 iterations × 2 need 6"),
    ],
)
def test_a_start_that_fails_validation_leaves_no_run_folder(tmp_path, change, message):
    if change.get("images") == "FOLDER3":
        from PIL import Image

        folder = tmp_path / "three"
        folder.mkdir()
        for k in range(3):
            Image.new("RGB", (8, 8), (k * 40, 0, 0)).save(folder / f"{k}.png")
        change = {**change, "images": str(folder)}
    runs = tmp_path / "runs"
    kw = {
        "method": "seva",
        "iters": 3,
        "runs_dir": runs,
        "progress": False,
        "evals": [],
        "images_per_iter": 2,
        **change,
    }
    if "run_id" not in change:
        kw["run_dir"] = runs / "r"
    with pytest.raises(HarnessError, match=message):
        evolve(EvolveOptions(**kw))
    assert not runs.exists()


def test_in_loop_evaluation_that_fails_marks_no_stage_done(tiny_path, tmp_path, monkeypatch):
    import harness.evaluate as evaluate_mod

    def incomplete(*args, **kwargs):
        raise evaluate_mod.IncompleteResultError("shapes: 3 of 48 judgements are missing")

    monkeypatch.setattr(evaluate_mod, "evaluate", incomplete)
    run_dir = tmp_path / "run"
    with pytest.raises(HarnessError, match="3 of 48 judgements are missing"):
        evolve(
            EvolveOptions(method="seva", iters=1, run_dir=run_dir, images_per_iter=2, evals=["shapes"], progress=False)
        )
    assert (run_dir / "stages" / "images.done").is_file()
    assert not (run_dir / "stages" / "eval-0-shapes.done").exists()
