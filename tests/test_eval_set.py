"""`harness eval --set key=value`: benchmark options from the command line (AMBER's evaluation types)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.report.results import load_results

runner = CliRunner()


def _run(args: list[str]):
    return runner.invoke(app, args, env={"COLUMNS": "200"})


@pytest.fixture()
def amber_dir(shared_dir):
    path = shared_dir / "data" / "amber"
    if not (path / "data" / "annotations.json").is_file():
        pytest.skip("AMBER annotation files absent")
    return path


def test_amber_evaluation_type_de_scores_the_existence_questions(amber_dir, tmp_path):
    queries = json.loads((amber_dir / "data" / "query" / "query_discriminative-existence.json").read_text())
    preds = tmp_path / "de.json"
    # every existence truth is "no": answering "No" to all but the first 100 gives 4,824 of 4,924 right
    preds.write_text(
        json.dumps([{"id": q["id"], "response": "Yes" if k < 100 else "No"} for k, q in enumerate(queries)])
    )
    res = _run(
        [
            "eval",
            "--bench",
            "amber",
            "--set",
            "evaluation_type=de",
            "--data-dir",
            str(amber_dir),
            "--predictions",
            str(preds),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert res.exit_code == 0, res.output
    stored = load_results(tmp_path / "out" / "results.json")
    assert stored.metrics["Existence/Accuracy"] == round(4824 / 4924 * 100, 1)
    assert "--evaluation_type de" in stored.protocol["scorer_source"]
    assert "CHAIR" not in stored.metrics  # type de scores no generative item


def test_amber_evaluation_type_g_selects_the_generative_queries(amber_dir, tmp_path):
    res = _run(
        [
            "eval",
            "--bench",
            "amber",
            "--set",
            "evaluation_type=g",
            "--data-dir",
            str(amber_dir),
            "--model",
            "tiny",
            "--dry-run",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert res.exit_code == 0, res.output
    assert "1004 items" in res.output


def test_unknown_option_or_value_lists_what_is_accepted(tmp_path):
    out = _run(["eval", "--bench", "amber", "--set", "bogus=1", "--predictions", str(tmp_path / "p.json")]).output
    assert "--set bogus: benchmark 'amber' has no such option; accepted:" in out
    assert "evaluation_type" in out and "noun_extractor" not in out  # objects cannot be set from the CLI
    out = _run(
        ["eval", "--bench", "amber", "--set", "evaluation_type=zz", "--predictions", str(tmp_path / "p.json")]
    ).output
    assert "'zz' unknown; choose one of a, g, d, de, da, dr" in out
    assert "expected key=value" in _run(["eval", "--bench", "amber", "--set", "novalue"]).output


def test_help_lists_the_amber_evaluation_types():
    out = _run(["eval", "--help"]).output
    assert "--set" in out and "evaluation_type" in out
    for kind in ("g (generative)", "de (existence)", "da (attribute)", "dr (relation)"):
        assert kind in " ".join(out.split())
