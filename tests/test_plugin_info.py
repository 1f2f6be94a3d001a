"""`harness methods` / `harness benchmarks` show what each plugin declares: options, variants, columns."""

from __future__ import annotations

import dataclasses

from typer.testing import CliRunner

from harness.cli import app
from harness.plugin_info import method_options
from harness.plugins import registry

runner = CliRunner()


def test_methods_sena_lists_variants_and_set_keys() -> None:
    cls = registry().method("sena")
    result = runner.invoke(app, ["methods", "sena"])
    assert result.exit_code == 0, result.output
    for f in dataclasses.fields(cls.Config):
        assert f"│ {f.name} " in result.output  # every --set key, with its type and default
    for variant in cls.variants:
        assert f"│ {variant} " in result.output
    assert "Training recipe" in result.output


def test_method_options_carry_type_and_default() -> None:
    cls = registry().method("sena")
    opts = {o.name: o for o in method_options(cls)}
    default = cls.Config()
    for name, o in opts.items():
        assert o.default == (
            repr(getattr(default, name)) if isinstance(getattr(default, name), str) else str(getattr(default, name))
        )
    assert set(opts) == {f.name for f in dataclasses.fields(cls.Config)}


def test_methods_list_and_unknown_name() -> None:
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0
    for name in registry().methods:
        assert name in result.output
    bad = runner.invoke(app, ["methods", "nope"])
    assert bad.exit_code == 2 and "unknown method 'nope'" in bad.output


def test_benchmarks_one_shows_options_and_columns() -> None:
    result = runner.invoke(app, ["benchmarks", "shapes"])
    assert result.exit_code == 0, result.output
    assert "│ scenes " in result.output and "Shapes CHAIR" in result.output and "lower is better" in result.output
