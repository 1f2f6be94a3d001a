"""Conventions a new user expects of the command line: --version, and a leaderboard that does not
overwrite the project's own."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from harness.cli import app


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"harness {version('self-evolution-harness')}"


def test_leaderboard_writes_under_the_runs_folder_by_default(tmp_path, monkeypatch):
    from tests.test_leaderboard import TOY_REG, _ref, _run, _toy

    monkeypatch.chdir(tmp_path)
    run = _run(tmp_path / "runs", "sena-a", "sena", "sena", 1)
    _toy(run / "iter1/eval/toy/results.json", _ref("sena-a", "sena", "sena", 1), [1, 0])
    (tmp_path / "leaderboard.md").write_text("the project's showcase\n")
    monkeypatch.setattr("harness.plugins.registry", lambda **kw: TOY_REG)
    result = CliRunner().invoke(app, ["leaderboard"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "leaderboard.md").is_file()
    assert (tmp_path / "leaderboard.md").read_text() == "the project's showcase\n"


def test_reproduce_help_lists_the_tables_and_a_missing_model_exits_2(tmp_path):
    from harness.reproduce import known_reproductions

    result = CliRunner().invoke(app, ["reproduce", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in known_reproductions():
        assert name in result.output
    missing = tmp_path / "nope"
    result = CliRunner().invoke(app, ["reproduce", "sena-table1", "--dry-run", "--model", str(missing)])
    assert result.exit_code == 2 and "model path not found" in result.output


def test_a_runs_checkpoint_path_is_that_runs_theta(tmp_path):
    import json

    from harness.evaluate import resolve_model

    run = tmp_path / "runs" / "sena-tiny-s0"
    (run / "iter3" / "checkpoint").mkdir(parents=True)
    (run / "iter3" / "checkpoint" / "config.json").write_text("{}")
    (run / "manifest.json").write_text(
        json.dumps({"run_id": "sena-tiny-s0", "method": "sena", "variant": "sena", "base_model": "tiny"})
    )
    ref = resolve_model(run / "iter3" / "checkpoint", tmp_path / "elsewhere")
    assert (ref.run_id, ref.iteration, ref.method, ref.id) == ("sena-tiny-s0", 3, "sena", "sena-tiny-s0/theta3")
    plain = tmp_path / "my-model"
    plain.mkdir()
    assert resolve_model(plain).run_id is None


def test_ctrl_c_says_what_is_kept_and_how_to_resume(monkeypatch):
    import harness.evolve

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(harness.evolve, "evolve", interrupted)
    monkeypatch.setattr("sys.argv", ["harness", "evolve", "--method", "seva"])
    result = CliRunner().invoke(app, ["evolve", "--method", "seva"])
    assert result.exit_code == 130
    assert "interrupted: every finished stage" in result.output
    assert "rerun the same command to resume: harness evolve --method seva" in result.output
    assert "Traceback" not in result.output
