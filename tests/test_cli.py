"""The command line: help, listings, and clear errors (exit code 2, no traceback) on bad input."""

import pytest
from typer.testing import CliRunner

from harness.cli import app

runner = CliRunner()


def test_help_lists_every_command():
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for cmd in ("evolve", "eval", "leaderboard", "compare", "methods", "benchmarks", "data"):
        assert cmd in res.output


def test_benchmarks_are_listed():
    res = runner.invoke(app, ["benchmarks"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for name in ("amber", "llava_wild", "mmbench", "mmhal", "mmvet"):
        assert name in res.output


def _error(args):
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    return res.output


def test_unknown_method_lists_the_registered_ones(tmp_path):
    out = _error(["evolve", "--method", "nope", "--run-dir", str(tmp_path / "r")])
    assert "unknown method 'nope'" in out and "registered methods" in out


def test_missing_model_path_is_named(tmp_path):
    out = _error(
        ["evolve", "--method", "seva", "--model", str(tmp_path / "no-such-ckpt"), "--run-dir", str(tmp_path / "r")]
    )
    assert "no-such-ckpt" in out and "not found" in out
    assert not (tmp_path / "r").exists()


def test_bad_method_option_lists_accepted(tmp_path):
    out = _error(["evolve", "--method", "seva", "--set", "bogus=1", "--run-dir", str(tmp_path / "r")])
    assert "bogus" in out and "accepted" in out


def test_bad_training_option(tmp_path):
    out = _error(["evolve", "--method", "seva", "--train", "lr=1", "--run-dir", str(tmp_path / "r")])
    assert "unknown training option" in out and "learning_rate" in out


def test_unknown_benchmark():
    out = _error(["data", "check", "nope"])
    assert "unknown benchmark 'nope'" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--train", "lora=maybe"], "--train lora=maybe: expected true or false"),
        (["--train", "learning_rate=nan"], "--train learning_rate=nan: expected a finite number"),
        (["--train", "learning_rate=-2e-6"], "--train learning_rate=-2e-6: expected a finite number > 0"),
        (["--train", "epochs=0"], "--train epochs=0: expected a finite number > 0"),
        (["--train", "per_device_batch_size=0"], "--train per_device_batch_size=0: expected an integer >= 1"),
        (["--train", "warmup_ratio=1"], "--train warmup_ratio=1: expected a finite number >= 0 and < 1"),
        (["--train", "template=nope"], "--train template=nope: expected one of"),
        (["--images-per-iter", "0"], "--images-per-iter: must be an integer >= 1, got 0"),
        (["--gen-batch-size", "0"], "--gen-batch-size: must be an integer >= 1, got 0"),
        (["--iters", "0"], "--iters: must be an integer >= 1, got 0"),
        (["--seed", "-3"], "--seed: must be an integer >= 0, got -3"),
    ],
)
def test_evolve_options_are_checked_before_any_work_naming_the_option_as_typed(tmp_path, args, message):
    out = _error(["evolve", "--method", "seva", "--run-dir", str(tmp_path / "r"), *args])
    assert message in " ".join(out.split()) and "--set" not in out
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--judge-runs", "0"], "--judge-runs: must be an integer >= 1, got 0"),
        (["--judge-concurrency", "0"], "--judge-concurrency: must be an integer >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size: must be an integer >= 1, got 0"),
        (["--limit", "0"], "--limit: must be an integer >= 1, got 0"),
        (["--max-cost", "nan"], "--max-cost: must be a finite number, got nan"),
        (["--max-cost", "-1"], "--max-cost: must be a finite number >= 0, got -1.0"),
    ],
)
def test_eval_options_are_checked_before_any_work(tmp_path, args, message):
    out = _error(["eval", "--bench", "shapes", "--model", "tiny", "--out", str(tmp_path / "o"), *args])
    assert message in " ".join(out.split())
    assert not (tmp_path / "o").exists()


def test_compare_resamples_must_be_positive(tmp_path):
    out = _error(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--bench", "shapes", "--resamples", "0"])
    assert "--resamples: must be an integer >= 1, got 0" in out
