"""Experiment tracking (`harness evolve --track`): a tiny tracked run's TensorBoard event files, read back with
TensorBoard's own reader, hold the run's per-iteration numbers (equal to its JSON files), the audit table, a
pair sample with images and TRL's training curves; a resume keeps the choice and appends; the accelerate
workers get it too; a bad choice exits 2; wandb runs offline without an account (when installed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.track import TrainTracking, check_backend

TINY_RUN = ["evolve", "--method", "sena", "--images-per-iter", "16"]


def _accumulator(path: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0, "tensors": 0}).Reload()


def _by_step(acc, tag: str) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for event in acc.Scalars(tag):
        out.setdefault(event.step, []).append(event.value)
    return out


def _read(path: Path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, tiny_path) -> Path:
    pytest.importorskip("tensorboard", reason="--track tensorboard needs the tensorboard package (dev extra)")
    runs = tmp_path_factory.mktemp("track-runs")
    result = CliRunner().invoke(app, [*TINY_RUN, "--iters", "1", "--runs-dir", str(runs), "--track", "tensorboard"])
    assert result.exit_code == 0, result.output
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


def test_tensorboard_holds_the_iteration_metrics_the_curves_and_the_pairs(tracked):
    acc = _accumulator(tracked / "track" / "tensorboard")
    scalars = set(acc.Tags()["scalars"])
    for i in (0, 1):  # θ0 and θ1: the benchmark's numbers at their iteration's step
        metrics = _read(tracked / f"iter{i}" / "eval" / "shapes" / "results.json")["metrics"]
        assert metrics
        for name, value in metrics.items():
            assert _by_step(acc, f"eval/shapes/{name}")[i] == [pytest.approx(value, rel=1e-6)]
    audit = _read(tracked / "iter1" / "audit.json")["summary"]
    stats = _read(tracked / "iter1" / "stats.json")
    train = _read(tracked / "iter1" / "train.json")
    expected = {
        "audit/precision": audit["precision"],
        "audit/inverted": audit["inverted"],
        "audit/tied": audit["tied"],
        "synthesis/pairs": stats["pairs"],
        "dpo/reward_accuracy": train["final_log"]["rewards/accuracies"],
        "dpo/reward_margin": train["final_log"]["rewards/margins"],
        "dpo/train_loss": train["train_loss"],
        "dpo/steps": train["steps"],
    }
    for tag, value in expected.items():
        assert _by_step(acc, tag) == {1: [pytest.approx(value, rel=1e-6)]}, tag
    assert not {t for t in scalars if t.startswith("train/")}  # the curves are in their own log folder
    table = acc.Tensors("audit/table/text_summary")[0]
    assert table.step == 1 and f"{audit['precision']} [" in table.tensor_proto.string_val[0].decode()
    image = acc.Images("pairs/sample/0")[0]
    assert image.step == 1 and image.width > 0 and image.height > 0
    pairs_text = acc.Tensors("pairs/sample/text_summary")[0].tensor_proto.string_val[0].decode()
    first = json.loads((tracked / "iter1" / "pairs.jsonl").read_text().splitlines()[0])
    assert " ".join(first["chosen"].split()) in pairs_text

    curves = _accumulator(tracked / "track" / "tensorboard" / "train-1")  # TRL's report_to, one folder per θi
    loss = _by_step(curves, "train/loss")
    assert sorted(loss) == list(range(1, train["steps"] + 1))
    assert loss[train["steps"]] == [pytest.approx(train["final_log"]["loss"], rel=1e-6)]
    assert "train/rewards/accuracies" in curves.Tags()["scalars"]
    assert _read(tracked / "config.json")["track"] == "tensorboard"


def test_a_resume_without_track_keeps_the_choice_and_appends(tracked):
    before = sorted((tracked / "track" / "tensorboard").glob("events.out.tfevents.*"))
    result = CliRunner().invoke(app, [*TINY_RUN, "--iters", "2", "--run-dir", str(tracked)])
    assert result.exit_code == 0, result.output
    after = sorted((tracked / "track" / "tensorboard").glob("events.out.tfevents.*"))
    assert set(before) < set(after)  # a new event file beside the earlier ones
    acc = _accumulator(tracked / "track" / "tensorboard")
    chair = _by_step(acc, "eval/shapes/CHAIR")
    assert sorted(chair) == [0, 1, 2] and all(len(v) == 1 for v in chair.values())  # earlier kept, none twice
    theta2 = _read(tracked / "iter2" / "eval" / "shapes" / "results.json")["metrics"]["CHAIR"]
    assert chair[2] == [pytest.approx(theta2, rel=1e-6)]
    assert "train/loss" in _accumulator(tracked / "track" / "tensorboard" / "train-2").Tags()["scalars"]
    assert _read(tracked / "config.json")["track"] == "tensorboard"


def test_accelerate_workers_report_the_curves_from_the_main_process(tmp_path, tiny_path):
    pytest.importorskip("tensorboard", reason="--track tensorboard needs the tensorboard package (dev extra)")
    from harness.images.sources import SyntheticSource
    from harness.images.synthetic import make_scene
    from harness.method import TrainingObjective
    from harness.train.config import TrainConfig
    from harness.train.launch import launch, write_job

    rows = [
        {
            "image_ref": f"synthetic/track/{i}",
            "prompt": "Describe the image.",
            "chosen": make_scene("track", i).caption(),
            "rejected": make_scene("track", i + 50).caption(),
            "kind": "des",
        }
        for i in range(8)
    ]
    cfg = TrainConfig.for_model("tiny").with_overrides(
        {"live_reference": True, "per_device_batch_size": 4, "launcher": "accelerate", "accelerate_config": "cpu_ddp"}
    )
    log_dir = tmp_path / "track" / "tensorboard" / "train-1"
    job = write_job(
        tmp_path / "job.json",
        policy_path=tiny_path,
        out_dir=tmp_path / "ckpt",
        rows=rows,
        objective=TrainingObjective(),
        cfg=cfg,
        source=SyntheticSource(namespace="track", size=100).describe(),
        track=TrainTracking("tensorboard", str(log_dir)).to_dict(),
    )
    launch(job, cfg.accelerate_config)
    assert len(list(log_dir.glob("events.out.tfevents.*"))) == 1  # two workers, one writer
    info = _read(job.with_suffix(".result.json"))
    assert info["processes"] == 2
    assert sorted(_by_step(_accumulator(log_dir), "train/loss")) == list(range(1, info["steps"] + 1))


def test_an_unknown_tracker_exits_2_naming_the_choices(tmp_path):
    result = CliRunner().invoke(app, [*TINY_RUN, "--runs-dir", str(tmp_path), "--track", "foo"])
    assert result.exit_code == 2
    assert "--track foo" in result.output and "none, tensorboard, wandb" in result.output
    assert not any(tmp_path.iterdir())  # refused before a run folder exists


def test_a_missing_tracker_package_names_the_extra():
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here: nothing is missing")
    with pytest.raises(HarnessError, match=r"--track wandb needs the wandb package.*self-evolution-harness\[track\]"):
        check_backend("wandb")


@pytest.mark.skipif(
    importlib.util.find_spec("wandb") is None, reason="wandb is not installed (the `track` extra installs it)"
)
def test_wandb_runs_offline_without_an_account(tmp_path, tiny_path, monkeypatch):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_PROJECT", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, [*TINY_RUN, "--iters", "1", "--runs-dir", str(runs), "--track", "wandb"])
    assert result.exit_code == 0, result.output
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    offline = run / "track" / "wandb"
    evolve_logs = [f for f in offline.glob("offline-run-*/run-*.wandb") if "train-" not in f.name]
    train_logs = list(offline.glob("offline-run-*-train-1/run-*.wandb"))
    assert evolve_logs and train_logs, sorted(p.name for p in offline.iterdir())
    # the run's records (wandb's protobuf log): the per-iteration metric names and TRL's curves
    evolve_bytes = b"".join(f.read_bytes() for f in evolve_logs)
    for key in (b"eval/shapes/CHAIR", b"audit/precision", b"dpo/reward_accuracy", b"pairs/sample"):
        assert key in evolve_bytes, key
    assert b"train/loss" in b"".join(f.read_bytes() for f in train_logs)
    assert _read(run / "config.json")["track"] == "wandb"
