"""The command line: help, listings, and clear errors (exit code 2, no traceback) on bad input."""

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
    out = _error(["evolve", "--method", "seva", "--model", str(tmp_path / "no-such-ckpt"), "--run-dir",
                  str(tmp_path / "r")])
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
