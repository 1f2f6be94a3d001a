"""What the leaderboard and the reproduced tables mark: a column with no better direction (POPE's yes-ratio) is
never bold nor called "higher is better"; a caveat on published numbers sits on the rows it qualifies."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app
from harness.report.leaderboard import build_leaderboard
from harness.reproduce import Cell, ReproductionResult, find_reproduction, render_markdown
from harness.reproduce.grid import reported_notes
from tests.test_pope import ANSWERS, FIXTURE


def _score(tmp_path: Path, name: str, answers: dict[str, str]) -> None:
    from harness.evaluate import evaluate

    preds = tmp_path / f"{name}.jsonl"
    preds.write_text("".join(json.dumps({"question_id": int(k), "text": v}) + "\n" for k, v in answers.items()))
    evaluate("pope", data_dir=FIXTURE, predictions=preds, out=tmp_path / "results" / name, own_data=True)


def test_pope_yes_ratio_is_never_marked_best(tmp_path):
    _score(tmp_path, "a", ANSWERS)
    _score(tmp_path, "b", {k: "Yes" for k in ANSWERS})  # yes-ratio 100 %: the largest, not the best
    out = tmp_path / "board.md"
    build_leaderboard([tmp_path / "results"], out)
    md = out.read_text(encoding="utf-8")
    header = next(line for line in md.splitlines() if line.startswith("| Method"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    yes = next(i for i, c in enumerate(cells) if c.startswith("POPE Yes %"))
    f1 = next(i for i, c in enumerate(cells) if c.startswith("POPE F1"))
    note = re.search(r"\[\^(\d+)\]", cells[yes][len("POPE Yes %") :]).group(1)
    assert "neither higher nor lower is better" in md.split(f"[^{note}]: ", 1)[1].splitlines()[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines() if line.startswith("| model")]
    assert len(rows) == 2
    assert not any("**" in r[yes] for r in rows)
    assert any("**" in r[f1] for r in rows)  # the ranked columns still mark their best
    shown = CliRunner().invoke(app, ["benchmarks", "pope"], terminal_width=200).output
    yes_line = next(line for line in shown.splitlines() if "POPE Yes %" in line)
    assert "higher is better" not in yes_line and "none" in yes_line


def test_reproduced_table_puts_each_caveat_on_its_rows():
    rep, _ = find_reproduction("sena-table1")
    notes = reported_notes(rep)
    assert notes and all(rn for rn in notes.values())
    cells = {k: Cell(1.0, None, False) for k, _ in rep.columns}
    rows = [(row, "sena", cells) for row in rep.rows]
    result = ReproductionResult(rep, Path("runs/x"), list(rep.columns), rows, [], notes)
    md = render_markdown(result)
    for row in rep.rows:
        line = next(line for line in md.splitlines() if line.startswith(f"| {row.label}"))
        if row.reported_model in notes:
            n = re.search(r"\[\^p(\d+)\]", line.split("|")[1]).group(1)
            assert f"[^p{n}]: Published numbers of this row: {notes[row.reported_model]}" in md
        else:
            assert "[^p" not in line.split("|")[1]
    assert json.loads(json.dumps(result.to_dict()))["rows"][0]["paper_note"] == notes.get(rep.rows[0].reported_model)
