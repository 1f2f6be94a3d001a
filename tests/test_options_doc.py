"""docs/options.md lists every option of every command (and nothing that is gone), checked against the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from harness.cli import app
from harness.options import TRAIN_RANGES

DOC = Path(__file__).resolve().parents[1] / "docs" / "options.md"


def _commands(cmd, prefix: tuple[str, ...] = ()):
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, prefix + (name,))
    else:
        yield " ".join(prefix), cmd


def cli_options() -> set[tuple[str, str]]:
    """(command, name) for every option (each of its spellings) and argument (upper case) of the app."""
    found = set()
    for name, cmd in _commands(typer.main.get_command(app)):
        for param in cmd.params:
            if param.param_type_name == "argument":
                found.add((name, param.name.upper()))
            else:
                found.update((name, opt) for opt in param.opts)
    return found


def documented() -> set[tuple[str, str]]:
    rows = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        command = cells[0].strip("`")
        for token in re.findall(r"`([^`]+)`", cells[1]):
            rows.add((command, token))
    return rows


def test_every_cli_option_has_a_row_and_every_row_an_option():
    cli, doc = cli_options(), documented()
    missing = sorted(cli - doc)
    assert not missing, f"docs/options.md has no row for: {missing}"
    stale = sorted(doc - cli)
    assert not stale, f"docs/options.md documents options the CLI does not have: {stale}"


def test_every_training_key_with_a_range_is_documented():
    text = DOC.read_text(encoding="utf-8")
    train = text[text.index("### `--train key=value`") : text.index("## harness eval")]
    import dataclasses

    from harness.train.config import TrainConfig

    for field in dataclasses.fields(TrainConfig):
        assert f"`{field.name}`" in train, f"--train {field.name} has no row"
    assert set(TRAIN_RANGES) <= {f.name for f in dataclasses.fields(TrainConfig)}
