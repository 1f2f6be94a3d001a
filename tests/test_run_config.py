"""`--config run.toml`: a run described by one file (every option settable, the command line wins, unknown keys
refused with the key and the file), and the resolved options stored as RUN/run.toml, which runs the same run."""

from __future__ import annotations

import re
import tomllib

import pytest
import typer.main
from typer.testing import CliRunner

from harness.cli import app
from harness.cli.config_file import NOT_STORED


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args, terminal_width=200)


def _squeezed(text: str) -> str:
    """The output without the error panel's frame and without any whitespace (rich wraps it anywhere)."""
    return re.sub(r"[\s│╭╮╰╯─]", "", text)


def test_plan_reads_the_file_and_the_command_line_wins(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text('method = "sena"\niters = 2\nimages_per_iter = 8\neval = "none"\n\n[train]\nlearning_rate = 1e-4\n')
    result = _invoke(["plan", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "2 iterations × 8 images" in result.output
    result = _invoke(["plan", "--config", str(cfg), "--iters", "1", "--images-per-iter", "4"])
    assert result.exit_code == 0, result.output
    assert "1 iterations × 4 images" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('method = "sena"\nimages-per-itr = 3\n', "unknown key 'images-per-itr'"),
        ('method = "sena"\niters = "three"\n', "iters: "),
        ('method = "sena"\nseed = true\n', "seed: a boolean is only accepted for a flag"),
        ('method = "sena"\nmodel = ["a", "b"]\n', "model: one value expected"),
        ('method = "sena"\n[model]\nx = 1\n', "model: a table is only accepted for set, train, backend-opt"),
        ("method = ", "not valid TOML"),
    ],
)
def test_bad_files_exit_2_naming_the_file_and_the_key(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    result = _invoke(["evolve", "--config", str(cfg), "--dry-run"])
    assert result.exit_code == 2
    assert _squeezed(f"bad.toml: {message}") in _squeezed(result.output) or (
        "bad.toml" in _squeezed(result.output) and _squeezed(message) in _squeezed(result.output)
    )


def test_missing_file_exits_2(tmp_path):
    result = _invoke(["evolve", "--config", str(tmp_path / "none.toml"), "--method", "sena", "--dry-run"])
    assert result.exit_code == 2 and _squeezed("none.toml: file not found") in _squeezed(result.output)


@pytest.mark.parametrize("command", ["evolve", "plan", "reproduce", "eval"])
def test_every_option_of_the_command_is_a_key(tmp_path, command):
    """Every option (its long name) is accepted as a key: the key list in the error is the option list."""
    cmd = typer.main.get_command(app).commands[command]
    longs = {
        o[2:]
        for p in cmd.params
        for o in p.opts
        if o.startswith("--") and p.name not in ("config", "help") and not getattr(p, "hidden", False)
    }  # a hidden option is an older spelling kept working, not a key of its own
    cfg = tmp_path / "x.toml"
    cfg.write_text("no-such-option = 1\n")
    args = [command, "sena-table1"] if command == "reproduce" else [command]
    result = _invoke([*args, "--config", str(cfg)])
    assert result.exit_code == 2
    listed = _squeezed(result.output).split("options:", 1)[1].split(",")
    assert {_squeezed(n) for n in longs} <= set(listed)


def test_evolve_stores_the_resolved_options_and_the_file_runs_the_same_run(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text(
        f'method = "sena"\niters = 1\nimages-per-iter = 4\neval = ["none"]\nruns-dir = "{tmp_path / "runs"}"\n'
        'set = ["se=false"]\n\n[train]\nlearning_rate = 1e-4\n'
    )
    result = _invoke(["evolve", "--config", str(cfg), "--seed", "3"])
    assert result.exit_code == 0, result.output
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    stored = tomllib.loads((run / "run.toml").read_text(encoding="utf-8"))
    assert stored["method"] == "sena" and stored["iters"] == 1 and stored["images-per-iter"] == 4
    assert stored["seed"] == 3  # the command line's value, over the file's (absent: default 0)
    assert stored["set"] == ["se=false"] and stored["train"] == ["learning_rate=0.0001"]
    assert stored["gen-batch-size"] == 16  # defaults are written too
    assert not {"config", "dry-run", "restart"} & set(stored)
    assert set(NOT_STORED) >= {"config", "dry_run", "restart"}
    manifest = (run / "manifest.json").read_text()
    again = _invoke(["evolve", "--config", str(run / "run.toml")])
    assert again.exit_code == 0, again.output
    assert [p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()] == [run.name]  # the same run, resumed
    assert (run / "manifest.json").read_text() == manifest
