"""A method's own questions in the leaderboard's pair table: the well-formedness check, the counts a method
reports (stats.json) and the audit makes of its pairs (audit.json), the column with "–" where a method
writes no question, and a real sena run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness import atomic
from harness.audit import audit_pairs
from harness.cli import app
from harness.method import PreferencePair
from harness.report.leaderboard import build_leaderboard
from methods.common.questions import question_counts, well_formed
from tests.test_leaderboard import TOY_REG, _ref, _run, _toy

COLUMN = "Own questions well-formed (%): written / pair prompts"


@pytest.mark.parametrize(
    "question, ok",
    [
        ("What color is the circle?", True),
        ("Is there a red square in the image?", True),
        ("Who is holding the umbrella?", True),
        ("QUESTION:?", False),  # the label the tiny model once echoed (docs/proving-ground.md)
        ("What is QUESTION: the shape?", False),
        ("Improved Answer: What is it?", False),
        ("How many? Shapes?", False),  # one ? and at the end
        ("The circle is red.", False),
        ("Describe the image?", False),  # no question word first
    ],
)
def test_well_formed_questions(question, ok):
    assert well_formed(question) is ok


def test_question_counts():
    assert question_counts(["What is it?", "QUESTION:?", "Is it red?"]) == {"generated": 3, "well_formed": 2}


def test_the_audit_counts_the_pairs_on_own_questions_without_truth():
    def pair(marks):
        return PreferencePair("a.jpg", "Q?\nsuffix", "x", "y", "gen", provenance=marks)

    pairs = [pair({"question_well_formed": True}), pair({"question_well_formed": False}), pair({}), pair({})]
    s = audit_pairs(pairs, None)["summary"]
    assert s["own_questions"] == {"pairs": 2, "well_formed": 1} and s["audited"] == 0
    assert "own_questions" not in audit_pairs([pair({})], None)["summary"]  # a method that marks none


def _pair_table(md: str) -> tuple[list[str], dict[str, list[str]]]:
    section = md.split("## Pairs and training", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[f"{cells[0]} {cells[2]}"] = cells
    return header, rows


def test_the_pair_table_shows_the_shares_where_a_method_reports_them(tmp_path: Path):
    runs = tmp_path / "runs"
    for seed, (gen, wf, pairs, pwf) in enumerate([(4, 3, 2, 1), (10, 10, 5, 5)]):
        run = _run(runs, f"sena-s{seed}", "sena", "sena", 1)
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["seed"] = seed
        (run / "manifest.json").write_text(json.dumps(manifest))
        _toy(run / "iter1/eval/toy/results.json", _ref(f"sena-s{seed}", "sena", "sena", 1), [1, 0])
        # seed 1's synthesis ran in two chunks: the counts are summed
        inner = (
            {"questions": {"generated": gen, "well_formed": wf}}
            if seed == 0
            else {
                "chunks": [
                    {"questions": {"generated": 6, "well_formed": 6}},
                    {"questions": {"generated": 4, "well_formed": 4}},
                ]
            }
        )
        (run / "iter1/stats.json").write_text(json.dumps({"pairs": 12, "stats": inner}))
        audit = {"auditor": None, "pairs": 12, "audited": 0, "own_questions": {"pairs": pairs, "well_formed": pwf}}
        (run / "iter1/audit.json").write_text(json.dumps({"summary": audit, "marks": []}))
    lone = _run(runs, "seva-x", "seva", "seva", 1)  # reports no question of its own
    _toy(lone / "iter1/eval/toy/results.json", _ref("seva-x", "seva", "seva", 1), [1, 1])
    (lone / "iter1/stats.json").write_text(json.dumps({"pairs": 3, "stats": {"question_source": "annotations"}}))
    out = tmp_path / "leaderboard.md"
    build_leaderboard([runs], out, reg=TOY_REG)
    header, rows = _pair_table(out.read_text())
    col = header.index(COLUMN)
    seeds = next(cells for key, cells in rows.items() if key.startswith("sena"))
    # shares per seed: written 75 % and 100 %, pair prompts 50 % and 100 %: mean ± sample std
    assert seeds[col] == "87.5 ± 17.7 (n 14) / 75.0 ± 35.4 (n 7)"
    assert rows["seva θ1"][col] == "–"  # never 0
    # one run: the share and its counts
    single = tmp_path / "single"
    (single / "runs").mkdir(parents=True)
    (runs / "sena-s0").rename(single / "runs" / "sena-s0")
    build_leaderboard([single / "runs"], out, reg=TOY_REG)
    header, rows = _pair_table(out.read_text())
    assert rows["sena θ1"][header.index(COLUMN)] == "75.0 (3/4) / 50.0 (1/2)"


def test_a_real_sena_run_reports_its_questions_and_the_board_shows_them(tmp_path: Path):
    runs = tmp_path / "runs"
    args = ["evolve", "--method", "sena", "--iters", "1", "--images-per-iter", "8", "--runs-dir", str(runs)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run,) = [p for p in runs.iterdir() if (p / "manifest.json").is_file()]
    stats = atomic.read_json(run / "iter1" / "stats.json")
    asked = stats["stats"]["questions"]
    assert asked["generated"] >= 1 and 0 <= asked["well_formed"] <= asked["generated"]
    pairs = atomic.read_jsonl(run / "iter1" / "pairs.jsonl")
    on_questions = [p for p in pairs if p["kind"] == "gen"]
    # every pair on a generated question is marked, with the check applied to the question in its prompt
    for p in pairs:
        marked = p["provenance"].get("question_well_formed")
        assert (marked is not None) == (p["kind"] == "gen")
        if marked is not None:
            assert marked == well_formed(p["prompt"].split("\n")[0])
    own = atomic.read_json(run / "iter1" / "audit.json")["summary"].get("own_questions")
    if on_questions:
        assert own == {
            "pairs": len(on_questions),
            "well_formed": sum(well_formed(p["prompt"].split("\n")[0]) for p in on_questions),
        }
    out = tmp_path / "leaderboard.md"
    build_leaderboard([runs], out)
    header, rows = _pair_table(out.read_text())
    cell = next(cells for key, cells in rows.items() if key.startswith("sena"))[header.index(COLUMN)]
    share = 100 * asked["well_formed"] / asked["generated"]
    assert cell.startswith(f"{share:.1f} ({asked['well_formed']}/{asked['generated']}) / ")
