"""`harness reproduce`: the tables' grids, their published numbers, the dry run, the side-by-side table,
and (slow) SENA's Table 1 end to end on the built-in tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.reproduce import (
    NOT_MEASURED,
    Cell,
    ReproduceOptions,
    ReproductionResult,
    cell_text,
    dry_run,
    find_reproduction,
    plan_runs,
    render_markdown,
    reported_values,
)


def test_unknown_table_lists_the_known_ones():
    with pytest.raises(
        HarnessError, match="unknown table 'sena-table9'; known tables: .*sena-table1, sena-table2, sena-table3, seva"
    ):
        find_reproduction("sena-table9")
    res = subprocess.run(
        [sys.executable, "-m", "harness.cli", "reproduce", "nope"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 2 and "known tables:" in res.stderr and "sena-table1" in res.stderr


def test_table1_grid_is_the_papers_rows_sharing_one_full_run():
    rep, _ = find_reproduction("sena-table1")
    runs = plan_runs(rep)
    assert [(r.key, r.variant, r.iters, r.eval_theta0) for r in runs] == [
        ("sena", None, 3, True),
        ("sena-base", "base", 1, False),
        ("sena-sq", "sq", 1, False),
        ("sena-se", "se", 1, False),
        ("sena-ca", "ca", 1, False),
    ]
    assert [(row.label, row.iteration) for row in runs[0].rows] == [("θ0", 0), ("θ1", 1), ("θ2", 2), ("θ3 (SENA)", 3)]
    assert rep.benchmarks == ["llava_wild", "mmvet", "mmhal", "amber", "mmbench"]
    t2, _ = find_reproduction("sena-table2")
    assert [r.variant for r in t2.rows] == ["base", "se_des", "se_gen", "se"]
    assert not any(r.eval_theta0 for r in plan_runs(t2))  # no θ0 row: θ0 is not evaluated at all
    t3, _ = find_reproduction("sena-table3")
    assert [r.variant for r in t3.rows] == ["base", "ca_gen", "ca_both", "ca"]


def test_rows_differing_only_in_the_loss_share_their_pairs():
    from harness.reproduce import share_synthesis

    for name, expected in (
        ("sena-table1", {"sena-ca": "sena-base"}),
        ("sena-table2", {}),
        ("sena-table3", {"sena-ca_gen": "sena-base", "sena-ca_both": "sena-base", "sena-ca": "sena-base"}),
    ):
        runs = plan_runs(find_reproduction(name)[0])
        share_synthesis(runs)
        assert {r.key: r.share_from for r in runs if r.share_from} == expected, name
    runs = plan_runs(find_reproduction("sena-table3")[0])
    share_synthesis(runs, overrides=["max_new_tokens=24"])  # options added to every row keep the sharing
    assert [r.share_from for r in runs] == [None, "sena-base", "sena-base", "sena-base"]


@pytest.mark.parametrize("name", ["sena-table1", "sena-table2", "sena-table3", "seva"])
def test_every_row_with_a_paper_number_finds_it_in_the_plugins_reported(name):
    rep, _ = find_reproduction(name)
    paper = reported_values(rep)
    for row in rep.rows:
        if row.reported_model is not None:
            assert set(paper[row.reported_model]) <= {k for k, _ in rep.columns}, row.label
            assert paper[row.reported_model], row.label


def test_reported_numbers_as_printed_with_public_sources():
    from harness.plugins import registry

    reg = registry()
    sena, seva = reg.method("sena"), reg.method("seva")
    by = {(r.table, r.model): r for r in sena.reported}
    t1 = by[("sena-table1", "LLaVA-1.5-7B + SENA θ1^SE")]
    assert t1.values["llava_wild/relative_score"] == 65.0 and t1.values["amber/Cog"] == 2.9
    assert t1.source == "SENA (Tan et al., AAAI 2025), arXiv 2412.15650, Table 1"
    base = by[("sena-table4", "LLaVA-1.5-7B")]
    assert base.values["mmhal/hallucination_rate"] == 0.61 and base.values["mmbench/overall"] == 64.6
    theta3 = by[("sena-table1", "LLaVA-1.5-7B + SENA θ3")]
    assert by[("sena-table4", "LLaVA-1.5-7B + SENA (θ3)")].values == theta3.values
    seva_rows = {(r.table, r.model): r for r in seva.reported}
    assert seva_rows[("seva-readme", "LLaVA-1.5-7B + SeVa (Diffusion500)")].values == {
        "llava_wild/relative_score": 70.7,
        "mmvet/total": 35.5,
        "mmbench/overall": 64.7,
    }
    assert "d9284ff" in seva_rows[("seva-readme", "LLaVA-1.5-7B + SeVa (Diffusion800)")].source
    assert seva_rows[("sena-table4", "LLaVA-1.5-7B + SeVa")].values["amber/F1"] == 83.6
    for r in (*sena.reported, *seva.reported):
        assert "spec" not in r.source and "shared" not in r.source


def test_cells_render_ours_vs_paper_and_not_measured_here():
    assert cell_text(Cell(67.4, 66.1, True)) == "66.1 vs 67.4 (Δ −1.3)"
    assert cell_text(Cell(0.61, 0.58, True), 2) == "0.58 vs 0.61 (Δ −0.03)"
    assert cell_text(Cell(59.6, None, False)) == f"{NOT_MEASURED} (paper 59.6)"
    assert cell_text(Cell(None, 41.0, True)) == "41.0 (paper –)"
    rep, _ = find_reproduction("sena-table2")
    cells = {
        k: Cell(1.0 if k.startswith("amber") else 62.8, 63.5 if k.startswith("llava") else None, k.startswith("llava"))
        for k, _ in rep.columns
    }
    result = ReproductionResult(
        rep, Path("runs/x"), list(rep.columns), [(rep.rows[0], "sena-base", cells)], ["llava_wild"]
    )
    md = render_markdown(result)
    assert "| SE on neither | sena-base θ1 | 63.5 vs 62.8 (Δ +0.7) | not measured here (paper 1.0)" in md
    assert "AMBER CHAIR ↓" in md and rep.source in md


def test_dry_run_counts_runs_generations_and_judge_calls(tmp_path):
    report = dry_run(
        ReproduceOptions(
            table="sena-table1",
            images_per_iter=10,
            out=tmp_path / "never",
            eval_options={"bench_options": {"scenes": 5}},
        )
    )
    assert not (tmp_path / "never").exists()  # nothing created
    assert [r["key"] for r in report.runs] == ["sena", "sena-base", "sena-sq", "sena-se", "sena-ca"]
    # full SENA: 1 p_base + 1 p_sq + 2 clean + 2 noised + 2 p_se per image and question; 3 iterations
    assert report.runs[0]["generations"] == 3 * 10 * 8 and report.runs[1]["generations"] == 10 * 5
    (bench,) = report.benchmarks
    assert bench["models"] == 8  # θ0 once + θ1..θ3 + four θ1 ablations
    assert bench["generations"] == bench["items"] * 8 and bench["judge_calls"] == 0
    assert report.generations == sum(r["generations"] for r in report.runs) + bench["generations"]
    assert "estimated judge cost ≤ $0.00" in report.describe()


def test_cli_dry_run_prints_the_plan_and_creates_nothing(tmp_path):
    out = tmp_path / "plan"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "reproduce",
            "sena-table3",
            "--dry-run",
            "--images-per-iter",
            "4",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "sena-base: θ1 × 4 images; rows AL on neither; ~20 generations to build pairs" in res.stdout
    assert "sena-ca_both: θ1 × 4 images" in res.stdout and "total: ~" in res.stdout
    assert "judge calls" in res.stdout and not out.exists()


def test_dry_run_of_judged_benchmarks_estimates_their_calls(tmp_path):
    fixtures = Path(__file__).parent / "fixtures" / "llava_wild"
    if not (fixtures / "questions.jsonl").is_file():
        pytest.skip("no LLaVA-Bench fixture")
    report = dry_run(
        ReproduceOptions(
            table="seva",
            model=str(tmp_path),  # a folder that exists; its weights are never read by a dry run
            evals=["llava_wild"],
            out=tmp_path / "never",
            eval_options={"data_dir": fixtures, "judge_runs": 3},
        )
    )
    (bench,) = report.benchmarks
    assert bench["models"] == 3 and bench["items"] > 0  # θ0, θ1 of t=500, θ1 of t=800
    assert bench["judge_calls"] == bench["items"] * 3 * 3  # items × judge runs × models
    assert report.runs[0]["images_per_iter"] == 12000  # SeVa's 4k OCR-VQA + 8k TextVQA


@pytest.mark.slow
def test_sena_table1_end_to_end_on_the_tiny_model(tiny_path, tmp_path):
    """23 s on 2 idle cores, 100-200 s on busy ones (5 runs, 7 iterations of 4 images, 8 evaluations of
    3 shapes scenes); the fast tests above cover the grid, the dry run and the table."""
    from harness.reproduce import reproduce

    out = tmp_path / "t1"
    opts = ReproduceOptions(
        table="sena-table1",
        images_per_iter=4,
        out=out,
        progress=False,
        overrides=["max_new_tokens=24", "sq_max_new_tokens=32"],
        eval_options={"bench_options": {"scenes": 3}},
    )
    result = reproduce(opts)
    runs = ["sena", "sena-base", "sena-sq", "sena-se", "sena-ca"]
    # the same θ1 images in every row; θ0 evaluated once, by the first run
    images = {r: json.loads((out / r / "iter1" / "images.json").read_text()) for r in runs}
    assert all(images[r] == images["sena"] for r in runs)
    assert (out / "sena" / "iter0" / "eval").is_dir()
    assert not any((out / r / "iter0" / "eval").exists() for r in runs[1:])
    assert (out / "sena" / "iter3" / "checkpoint" / "config.json").is_file()
    # θ1^CA differs from θ1^Base only in the loss: its pairs and reference log-probs are copied, its training not
    for name in ("pairs.jsonl", "ref_logps.jsonl"):
        assert (out / "sena-ca" / "iter1" / name).read_bytes() == (out / "sena-base" / "iter1" / name).read_bytes()
    marker = json.loads((out / "sena-ca" / "stages" / "synthesize-1.done").read_text())
    assert marker["shared_from"] == str(out / "sena-base")
    assert json.loads((out / "sena-ca" / "iter1" / "stats.json").read_text())["shared_from"] == str(out / "sena-base")
    md = (out / "table.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| θ")]
    assert len(rows) == 8  # the paper's benchmarks are not run on the tiny model: 11 columns × 8 rows
    assert sum(line.count(NOT_MEASURED) for line in rows) == 8 * 11
    assert "Shapes Accuracy" in md and "(paper –)" in md
    table = json.loads((out / "table.json").read_text())
    assert [r["label"] for r in table["rows"]] == ["θ0", "θ1^Base", "θ1^SQ", "θ1^SE", "θ1^CA", "θ1", "θ2", "θ3 (SENA)"]
    shapes = [r["cells"]["shapes/Accuracy"]["ours"] for r in table["rows"]]
    assert all(isinstance(v, float) for v in shapes)
    assert table["rows"][0]["cells"]["llava_wild/relative_score"] == {
        "paper": 59.6,
        "ours": None,
        "diff": None,
        "measured": False,
    }
    # resumable: a second call reruns nothing and gives the same table
    before = (out / "sena" / "iter1" / "checkpoint" / "model.safetensors").stat().st_mtime_ns
    again = reproduce(opts)
    assert (out / "sena" / "iter1" / "checkpoint" / "model.safetensors").stat().st_mtime_ns == before
    assert again.to_dict() == result.to_dict()
