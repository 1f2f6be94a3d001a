"""The docs say what the command line does (issue 27): documented defaults, exit codes, where a default is
listed, per-method image counts, both training recipes, option spellings, completion, the perf notes.

tests/test_options_doc.py keeps one row per option in docs/options.md; this file checks what the rows say.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from harness.cli import app
from harness.evolve.options import TINY_IMAGES_PER_ITER
from harness.plugins import registry

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ROOT / "docs" / "options.md"


def _commands(cmd, prefix: tuple[str, ...] = ()):
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, prefix + (name,))
    else:
        yield " ".join(prefix), cmd


def _params() -> dict[tuple[str, str], object]:
    """(command, first spelling of the option, or the argument in upper case) → the click parameter."""
    out = {}
    for name, cmd in _commands(typer.main.get_command(app)):
        for p in cmd.params:
            key = p.name.upper() if p.param_type_name == "argument" else p.opts[0]
            out[(name, key)] = p
    return out


def _rows() -> list[tuple[str, str, str]]:
    """(command, first option token, default cell) of every table row of docs/options.md."""
    rows = []
    for line in OPTIONS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        tokens = re.findall(r"`([^`]+)`", cells[1])
        if tokens:
            rows.append((cells[0].strip("`"), tokens[0], cells[-1]))
    return rows


def test_documented_defaults_are_the_command_lines():
    params = _params()
    wrong = []
    for command, option, default in _rows():
        p = params.get((command, option))
        if p is None:
            continue  # tests/test_options_doc.py reports rows without an option
        if p.required:
            if default != "required":
                wrong.append(f"{command} {option}: required, documented {default!r}")
            continue
        if default == "required":
            wrong.append(f"{command} {option}: documented required, has default {p.default!r}")
        elif getattr(p, "is_flag", False) and isinstance(p.default, bool):
            if default != ("on" if p.default else "off"):
                wrong.append(
                    f"{command} {option}: flag {'on' if p.default else 'off'} by default, documented {default!r}"
                )
        elif re.fullmatch(r"`[^`]+`", default) and p.default is not None and not isinstance(p.default, (list, tuple)):
            if default.strip("`") != str(p.default):
                wrong.append(f"{command} {option}: default {p.default!r}, documented {default}")
    assert not wrong, wrong


def _exit_code_rows() -> dict[str, str]:
    text = OPTIONS.read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| \*\*(\d+)\*\* \| (.+) \|$", text, re.M)}


def test_a_failed_download_exits_2_as_documented(tmp_path, monkeypatch):
    from benchmarks.pope import PopeBenchmark
    from harness.benchmark import DataSource
    from tests.http_fixture_server import FixtureServer

    codes = _exit_code_rows()
    assert "download that failed" in codes["2"] and "failed" not in codes["1"]
    assert "by hand" in codes["1"]  # a pull that leaves manual files missing is the 1
    with FixtureServer({}) as srv:  # every path answers 404
        source = DataSource(path="x.json", url=srv.url("/x.json"), sha256="0" * 64)
        monkeypatch.setattr(PopeBenchmark, "data_sources", lambda self: [source])
        result = CliRunner().invoke(app, ["data", "pull", "pope", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output


def test_evolves_eval_default_is_listed_by_harness_benchmarks():
    result = CliRunner().invoke(app, ["benchmarks"], terminal_width=250)
    assert result.exit_code == 0 and "--eval default" in result.output
    defaults = sorted(n for n, c in registry().benchmarks.items() if getattr(c, "default_eval", False))
    for name in registry().benchmarks:
        line = next(line for line in result.output.splitlines() if f" {name} " in line)
        cells = [c.strip() for c in line.split("│")]
        assert cells[3] == ("yes" if name in defaults else "no"), line
    row = next(r for r in _rows() if r[:2] == ("evolve", "--eval"))
    assert all(f"`{d}`" in row[2] for d in defaults) and "harness benchmarks" in row[2]


def test_images_per_iter_defaults_are_documented_per_method():
    row = next(r for r in _rows() if r[:2] == ("evolve", "--images-per-iter"))
    for name, cls in registry().methods.items():
        if getattr(cls, "images_per_iter", None):
            assert f"`{name}` {cls.images_per_iter}" in row[2], (name, row[2])
    assert f"{TINY_IMAGES_PER_ITER} with `tiny`" in row[2]
    from harness.evolve import EvolveOptions
    from harness.plan import plan_evolve

    for name, cls in registry().methods.items():
        if getattr(cls, "images_per_iter", None):  # what plan uses for a real checkpoint is what the doc says
            result = CliRunner().invoke(app, ["methods", name], terminal_width=250)
            assert f"{cls.images_per_iter} " in result.output.split("Images (at real scale):", 1)[1][:200]
    tiny = plan_evolve(EvolveOptions(method="seva", evals=[]), gpus=0, gpu_memory_gib=0)
    assert tiny.images_per_iter == TINY_IMAGES_PER_ITER


def test_methods_shows_the_papers_recipe_and_the_tiny_models_marked():
    from harness.plugin_info import method_recipe
    from harness.train.config import TrainConfig

    result = CliRunner().invoke(app, ["methods", "sena"], terminal_width=400)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    paper = text.split("Training recipe, the paper's", 1)[1].split("Training recipe, the built-in tiny model's", 1)
    assert f"learning_rate={method_recipe(registry().method('sena'))['learning_rate']}" in paper[0]
    tiny = TrainConfig.for_model("tiny")
    assert f"learning_rate={tiny.learning_rate}" in paper[1][:400]
    assert f"global_batch_size={tiny.global_batch_size}" in paper[1][:400]


def test_option_spellings():
    params = _params()
    assert params[("evolve", "--gen-batch-size")].opts == ["--gen-batch-size"]  # the same name in evolve and eval
    assert ("eval", "--gen-batch-size") in params and params[("eval", "--batch-size")].hidden  # the old one kept
    for command in ("eval", "reproduce"):
        cache = params[(command, "--judge-cache")]
        assert cache.default is True and cache.secondary_opts == ["--no-judge-cache"]
    every = {o for p in params.values() for o in [*p.opts, *getattr(p, "secondary_opts", [])]}
    assert not any(o.startswith("--no-no-") for o in every)


def test_no_judge_cache_still_works(tmp_path):
    args = ["eval", "--bench", "shapes", "--model", "tiny", "--dry-run", "--out", str(tmp_path / "o")]
    for flag in ("--no-judge-cache", "--judge-cache", "--batch-size=4", "--gen-batch-size=4"):
        result = CliRunner().invoke(app, [*args, flag])
        assert result.exit_code == 0, (flag, result.output)
    for flag in ("--batch-size=0", "--gen-batch-size=0"):  # an error names the spelling typed
        result = CliRunner().invoke(app, [*args, flag])
        assert result.exit_code == 2 and f"{flag.split('=')[0]}: must be an integer >= 1" in result.output


def test_shell_completion_is_on_and_documented():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--install-completion" in readme
    env = {"_HARNESS_COMPLETE": "complete_bash", "COMP_WORDS": "harness evolve --images-p", "COMP_CWORD": "2"}
    res = subprocess.run(
        [sys.executable, "-m", "harness.cli"], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and res.stdout.split() == ["--images-per-iter"], res.stdout + res.stderr
    shown = CliRunner().invoke(app, ["--show-completion", "bash"])
    assert shown.exit_code == 0 and "_HARNESS_COMPLETE=complete_bash" in shown.output


def test_perf_readme_marks_the_old_default_as_superseded():
    text = (ROOT / "perf" / "README.md").read_text(encoding="utf-8")
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        heading = section.splitlines()[0]
        if re.search(r"32 (synthetic )?images per\s+iteration", section) or "CHAIR 73" in section:
            assert "superseded" in heading.lower(), heading
    assert f"{TINY_IMAGES_PER_ITER} images per iteration" in text


@pytest.mark.parametrize("path", ["README.md", "docs/options.md", "docs/data.md"])
def test_docs_name_no_option_the_cli_lacks(path):
    """Every `--option` a doc names in backticks is an option of some command (or a Typer/pytest/pip one)."""
    every = {o for p in _params().values() for o in [*p.opts, *getattr(p, "secondary_opts", [])]}
    every |= {"--version", "--help", "--install-completion", "--show-completion"}
    text = (ROOT / path).read_text(encoding="utf-8")
    named = set(re.findall(r"`[^`]*?(--[a-z][a-z0-9-]+)", text))
    foreign = {"--local-dir", "--no-deps", "--quiet", "--upgrade", "--check"}  # huggingface-cli, pip, ruff
    assert not sorted(named - every - foreign), sorted(named - every - foreign)
