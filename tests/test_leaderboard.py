"""leaderboard.md from synthetic stored results: rows, columns, ± std, Δ, missing cells,
footnotes, provenance, bad files, plots and determinism."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from harness.benchmark import LeaderboardColumn as LC
from harness.benchmark import ReportedNumbers
from harness.errors import HarnessError
from harness.plugins import Registry
from harness.report.leaderboard import build_leaderboard
from harness.report.results import ModelRef, Results

MMHAL_COLS = [
    LC("MMHal Score", "average_score", decimals=2, headline=True, order=30).to_dict(),
    LC("MMHal Rate", "hallucination_rate", True, 2, True, 30).to_dict(),
]
AMBER_COLS = [
    LC("AMBER CHAIR", "CHAIR", True, 1, True, 40).to_dict(),
    LC("Cover", "Cover", order=40).to_dict(),
    LC("Hal", "Hal", True, order=40).to_dict(),
    LC("Cog", "Cog", True, order=40).to_dict(),
    LC("AMBER Accuracy", "Accuracy", order=40).to_dict(),
    LC("F1", "F1", headline=True, order=40).to_dict(),
]
SHAPES_COLS = [LC("Shapes Accuracy", "Accuracy", headline=True, order=90).to_dict()]
JUDGED = {
    "benchmark": "mmhal",
    "data_version": "mmhal-v1",
    "scorer_source": "MMHal-Bench eval_gpt4.py",
    "judge_model": "gpt-4-1106-preview",
    "judge_temperature": 0.0,
    "judge_runs": 3,
    "deviations": ["judge is gpt-4-1106-preview, not gpt-4-0314"],
    "columns": MMHAL_COLS,
}
RULE = {
    "benchmark": "amber",
    "data_version": "amber-2023-12-18",
    "scorer_source": "AMBER inference.py",
    "judge_model": None,
    "judge_runs": 1,
    "deviations": [],
    "reference_numbers": {"LLaVA-1.5-7B CHAIR": 11.6},
    "columns": AMBER_COLS,
}


class _PaperMethod:
    """A method plugin that declares published numbers, as the built-in ones do."""

    name = "paper"
    reported = (
        ReportedNumbers(
            "Some paper (arXiv 0000.00000), Table 4",
            "LLaVA-1.5-7B + X",
            {"mmhal/average_score": 2.41, "amber/CHAIR": 7.3},
            note="as printed",
        ),
    )


class _NoColumns:
    name = "pope"
    columns = ()


REG = Registry(methods={"paper": _PaperMethod}, benchmarks={"pope": _NoColumns})


def _write(
    path: Path,
    bench: str,
    model: ModelRef,
    metrics: dict,
    *,
    std=None,
    per_run=None,
    failures=None,
    records=None,
    created="2026-11-01T00:00:00Z",
    protocol=None,
) -> None:
    proto = protocol or (JUDGED if bench == "mmhal" else RULE)
    Results(
        benchmark=bench,
        model=model,
        protocol=proto,
        metrics=metrics,
        std=std or {},
        per_run=per_run or [metrics],
        failures=failures or {"total": 0},
        records=records or [],
        created=created,
    ).write(path)


def _run(root: Path, run_id: str, method: str, variant: str, iters: int) -> Path:
    run = root / run_id
    run.mkdir(parents=True)
    manifest = {
        "run_id": run_id,
        "method": method,
        "variant": variant,
        "base_model": "tiny",
        "seed": 0,
        "iterations": iters,
        "images": {"source": "synthetic", "per_iter": 8},
        "created": "x",
        "command": "harness evolve",
        "config": {},
        "packages": {},
        "git_rev": "abc",
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def _ref(run_id: str, method: str, variant: str, i: int) -> ModelRef:
    return ModelRef(id=f"{run_id}/theta{i}", run_id=run_id, iteration=i, method=method, variant=variant, base="tiny")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    sena = _run(runs, "sena-a", "sena", "sena", 2)
    mmhal_runs = lambda s: [
        {"average_score": s - 0.1, "hallucination_rate": 0.5},
        {"average_score": s, "hallucination_rate": 0.5},
        {"average_score": s + 0.1, "hallucination_rate": 0.5},
    ]
    # θ0 (evaluated in the sena run)
    _write(
        sena / "iter0/eval/amber/results.json",
        "amber",
        _ref("sena-a", "sena", "sena", 0),
        {"CHAIR": 10.0, "Cover": 50.0, "Hal": 40.0, "Cog": 4.0, "Accuracy": 70.0, "F1": 75.0},
    )
    _write(
        sena / "iter0/eval/mmhal/results.json",
        "mmhal",
        _ref("sena-a", "sena", "sena", 0),
        {"average_score": 2.0, "hallucination_rate": 0.5},
        std={"average_score": 0.08165, "hallucination_rate": 0.0},
        per_run=mmhal_runs(2.0),
        records=[{"id": str(i)} for i in range(96)],
    )
    for i, chair in ((1, 8.0), (2, 7.0)):
        (sena / f"iter{i}").mkdir(parents=True, exist_ok=True)
        (sena / f"iter{i}/stats.json").write_text(json.dumps({"pairs": 10 * i + 1, "images": 8}))
        _write(
            sena / f"iter{i}/eval/amber/results.json",
            "amber",
            _ref("sena-a", "sena", "sena", i),
            {"CHAIR": chair, "Cover": 51.0, "Hal": 30.0, "Cog": 3.0, "Accuracy": 71.0, "F1": 76.0},
        )
        _write(
            sena / f"iter{i}/eval/mmhal/results.json",
            "mmhal",
            _ref("sena-a", "sena", "sena", i),
            {"average_score": 2.0 + i / 10, "hallucination_rate": 0.5 - i / 10},
            std={"average_score": 0.08165, "hallucination_rate": 0.0},
            per_run=mmhal_runs(2.0 + i / 10),
            failures={"total": 3 if i == 2 else 0, "run0": 3 if i == 2 else 0},
            records=[{"id": str(k)} for k in range(96)],
        )
    # a second method; its θ0 amber numbers differ from the sena run's and are newer
    seva = _run(runs, "seva-b", "seva", "seva-d500", 1)
    _write(
        seva / "iter0/eval/amber/results.json",
        "amber",
        _ref("seva-b", "seva", "seva-d500", 0),
        {"CHAIR": 10.5, "Cover": 50.0, "Hal": 40.0, "Cog": 4.0, "Accuracy": 70.0, "F1": 75.0},
        created="2026-11-02T00:00:00Z",
    )
    _write(
        seva / "iter1/eval/amber/results.json",
        "amber",
        _ref("seva-b", "seva", "seva-d500", 1),
        {"CHAIR": 9.0, "Cover": 49.0, "Hal": 35.0, "Cog": 3.5, "Accuracy": 72.0, "F1": 77.0},
    )
    # bad files: another schema version and a corrupt one
    bad = seva / "iter1/eval/mmbench/results.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps({"schema": "harness.results/0", "benchmark": "mmbench"}))
    broken = sena / "iter1/eval/mmvet/results.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"schema": "harness.results/1", "benchm')
    return runs


def _table(md: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The measured table as {"method|variant|θ": {column header: cell}}."""
    section = md.split("## Measured", 1)[1].split("\n## ", 1)[0]
    lines = [l for l in section.splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows["|".join(cells[:3])] = dict(zip(header, cells))
    return header, rows


def _strip(cell: str) -> str:
    return re.sub(r"\[\^\d+\]", "", cell)


def _note(md: str, cell: str, needle: str) -> str:
    """The footnote text referenced from ``cell`` that contains ``needle``."""
    for n in re.findall(r"\[\^(\d+)\]", cell):
        m = re.search(rf"^\[\^{n}\]: (.*)$", md, re.M)
        if m and needle in m.group(1):
            return m.group(1)
    raise AssertionError(f"no footnote with {needle!r} on {cell!r}")


def test_rows_columns_cells_and_footnotes(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "site" / "leaderboard.md"
    report = build_leaderboard([store], out, reg=REG)
    md = out.read_text()
    header, rows = _table(md)
    # columns: those the stored results' protocol cards declare, in the declared order
    labels = [re.sub(r"(\[\^\d+\])+$", "", h) for h in header[3:]]
    # a judged benchmark's columns name their judge (issue 28); rule-based ones have none
    judged = " (judge gpt-4-1106-preview)"
    assert labels == [f"MMHal Score{judged}", f"MMHal Rate ↓{judged}", "AMBER CHAIR ↓", "Cover", "Hal ↓", "Cog ↓"] + [
        "AMBER Accuracy",
        "F1",
    ]
    # rows: one θ0 for the shared base, then methods grouped, iterations in order
    assert list(rows) == ["base|tiny|θ0", "sena|sena|θ1", "sena|sena|θ2", "seva|seva-d500|θ1"]
    assert report.rows == 4
    chair = next(h for h in header if h.startswith("AMBER CHAIR"))
    score = next(h for h in header if h.startswith("MMHal Score"))
    rate = next(h for h in header if h.startswith("MMHal Rate"))
    base, s1, s2, v1 = (rows[k] for k in rows)
    # θ0 from two runs with different numbers: the newest (seva run, 10.5) with a footnote
    assert _strip(base[chair]) == "10.5"
    assert "newest is shown" in _note(md, base[chair], "newest")
    # Δ against θ0 and best per column (lower CHAIR is better)
    assert _strip(s1[chair]) == "8.0 (-2.5)"
    assert _strip(s2[chair]) == "**7.0** (-3.5)"
    assert _strip(v1[chair]) == "9.0 (-1.5)"
    # ± std over judge runs; judged cells keep it, rule-based ones do not
    assert _strip(base[score]) == "2.00 ± 0.08"
    assert _strip(s2[score]) == "**2.20 ± 0.08** (+0.20)"
    assert _strip(s2[rate]) == "**0.30 ± 0.00** (-0.20)"
    # missing cells
    assert v1[score] == "–" and v1[rate] == "–"
    # judge failure rate footnote only where it is not 0: 3 of 96 items × 3 runs
    failure = _note(md, s2[score], "judgements failed")
    assert "3 of 288 judgements failed (1.0%)" in failure
    assert "judgements failed" not in " ".join(re.findall(r"^\[\^\d+\]: .*$", md, re.M)).replace(failure, "")
    assert not any("judgements failed" in _note_all(md, s1[c]) for c in header[3:])
    # protocol card footnotes on the header: judge, temperature, data version, deviations
    mmhal_note = _note(md, next(h for h in header if h.startswith("MMHal Score")), "protocol")
    assert "gpt-4-1106-preview" in mmhal_note and "temperature 0.0" in mmhal_note
    assert "data mmhal-v1" in mmhal_note and "judge is gpt-4-1106-preview, not gpt-4-0314" in mmhal_note
    assert "rule-based" in _note(md, chair, "protocol")


def _note_all(md: str, cell: str) -> str:
    return " ".join(
        m.group(1) for n in re.findall(r"\[\^(\d+)\]", cell) if (m := re.search(rf"^\[\^{n}\]: (.*)$", md, re.M))
    )


def test_provenance_bad_files_and_reported_numbers(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "leaderboard.md"
    report = build_leaderboard([store], out, reg=REG)
    md = out.read_text()
    sha = hashlib.sha256((store / "sena-a" / "manifest.json").read_bytes()).hexdigest()
    prov = md.split("## Provenance", 1)[1].split("\n## ", 1)[0]
    assert f"| sena θ2 | sena-a | tiny | 8 | 21 | `{sha}` |" in prov
    assert "| θ0 = tiny | sena-a, seva-b | tiny |" in prov
    # bad files are skipped, named with the reason in the file itself; the rest still built
    skipped = md.split("## Skipped files", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"iter1/eval/mmbench/results.json: results schema 'harness.results/0'", skipped)
    assert re.search(r"iter1/eval/mmvet/results.json.*malformed JSON", skipped)
    assert len(report.skipped) == 2
    # published numbers come from the plugins that declare them, in their own section
    measured, reported = md.split("## Reported in papers (not measured here)", 1)
    assert "LLaVA-1.5-7B + X" not in measured and "2.41" not in measured
    table = [l for l in reported.splitlines() if l.startswith("| Some paper")]
    # the row's caveat is a footnote on that row (issue 27), not a loose bullet under the table
    # the judge the source used: this one does not name it for its judged benchmark (issue 28)
    assert table == [
        "| Some paper (arXiv 0000.00000), Table 4 | LLaVA-1.5-7B + X[^r1] | 2.41 | 7.3 | not stated (mmhal) |"
    ]
    assert "\n[^r1]: as printed\n" in reported
    assert "| Source | Model | MMHal Score | AMBER CHAIR ↓ | Judge |" in reported
    assert "LLaVA-1.5-7B CHAIR = 11.6" in reported


def test_deterministic_and_plots(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "leaderboard.md"
    first = build_leaderboard([store], out, reg=REG)
    text1 = out.read_bytes()
    pngs1 = {p.name: p.read_bytes() for p in first.plots}
    second = build_leaderboard([store], out, reg=REG)
    assert out.read_bytes() == text1
    assert {p.name: p.read_bytes() for p in second.plots} == pngs1
    # one PNG per benchmark with iteration data (a panel per headline metric), linked, valid images
    names = sorted(p.name for p in first.plots)
    assert names == ["leaderboard_amber.png", "leaderboard_mmhal.png"]
    for p in first.plots:
        assert p.parent == out.parent and f"]({p.name})" in text1.decode()
        with Image.open(p) as im:
            im.verify()
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 100
    assert not list(tmp_path.glob(".*.tmp"))


def test_empty_and_missing_folder(tmp_path: Path) -> None:
    out = tmp_path / "lb.md"
    with pytest.raises(HarnessError, match="--runs .*nope: no such folder"):
        build_leaderboard([tmp_path / "nope"], out, reg=REG)
    assert not out.exists()
    (tmp_path / "empty").mkdir()
    report = build_leaderboard([tmp_path / "empty"], out, reg=REG)
    assert report.rows == 0 and "No stored results were found." in out.read_text() and report.plots == []


def test_existing_leaderboard_kept(store: Path, tmp_path: Path) -> None:
    """A mistyped folder or an empty result set never overwrites a leaderboard; --force does."""
    out = tmp_path / "leaderboard.md"
    build_leaderboard([store], out, reg=REG)
    before = out.read_bytes()
    with pytest.raises(HarnessError, match="no such folder"):
        build_leaderboard([tmp_path / "runz"], out, reg=REG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="left unchanged.*--force"):
        build_leaderboard([tmp_path / "empty"], out, reg=REG)
    assert out.read_bytes() == before
    build_leaderboard([tmp_path / "empty"], out, reg=REG, force=True)
    assert "No stored results were found." in out.read_text()


def test_strict_refuses_skips(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "leaderboard.md"
    with pytest.raises(HarnessError, match="--strict: 2 results file"):
        build_leaderboard([store], out, reg=REG, strict=True)
    assert not out.exists()


def test_smoke_and_incomplete_results_never_shown_as_numbers(store: Path, tmp_path: Path) -> None:
    sena = store / "sena-a"
    ref = _ref("sena-a", "sena", "sena", 2)
    smoke = Results(
        benchmark="amber", model=ref, protocol=RULE, metrics={"CHAIR": 0.5, "F1": 99.0}, created="2026-12-01T00:00:00Z"
    )
    smoke.subset = {"limit": 2, "items": 2, "total": 1004}
    smoke.write(sena / "iter2/eval/amber/results.limit2.json")
    partial = Results(
        benchmark="mmhal",
        model=_ref("sena-a", "sena", "sena", 1),
        protocol=JUDGED,
        metrics={"average_score": 4.0, "hallucination_rate": 0.1},
        created="2026-12-01T00:00:00Z",
    )
    partial.missing = [{"item": "7", "run": 0, "reason": "HTTP 500"}]
    partial.write(sena / "iter1/eval/mmhal/results.partial.json")
    # θ3 has only an incomplete result
    only = Results(
        benchmark="mmhal",
        model=_ref("sena-a", "sena", "sena", 3),
        protocol=JUDGED,
        metrics={"average_score": 4.0, "hallucination_rate": 0.1},
    )
    only.missing = [{"item": "3", "run": 1, "reason": "connection refused"}]
    only.write(sena / "iter3/eval/mmhal/results.partial.json")
    out = tmp_path / "leaderboard.md"
    build_leaderboard([store], out, reg=REG)
    md = out.read_text()
    header, rows = _table(md)
    chair = next(h for h in header if h.startswith("AMBER CHAIR"))
    score = next(h for h in header if h.startswith("MMHal Score"))
    # the smoke result neither replaces θ2's full amber result nor wins the column
    assert _strip(rows["sena|sena|θ2"][chair]) == "**7.0** (-3.5)"
    smoke_part = md.split("## Smoke results", 1)[1].split("\n## ", 1)[0]
    assert "| sena θ2 | amber | 2 of 1004 | `runs/sena-a/iter2/eval/amber/results.limit2.json` |" in smoke_part
    # a later incomplete attempt does not replace θ1's complete result; it is noted
    assert _strip(rows["sena|sena|θ1"][score]).startswith("2.10 ± 0.08")
    assert "later attempt is incomplete" in _note(md, rows["sena|sena|θ1"][score], "incomplete")
    # θ3 has no complete result: the cell says incomplete, never a number, and names the missing item
    assert _strip(rows["sena|sena|θ3"][score]) == "*incomplete*"
    assert "items 3" in _note(md, rows["sena|sena|θ3"][score], "never came back")
    assert "4.00" not in md


def test_models_evaluated_outside_runs(store: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    shapes = {"Accuracy": 60.0, "F1": 61.0, "CHAIR": 5.0, "Cover": 40.0}
    rule = dict(RULE, benchmark="shapes", reference_numbers={}, columns=SHAPES_COLS)
    _write(results / "tiny/shapes/results.json", "shapes", ModelRef(id="tiny"), shapes, protocol=rule)
    _write(
        results / "other/shapes/results.json",
        "shapes",
        ModelRef(id="other"),
        dict(shapes, Accuracy=65.0),
        protocol=rule,
    )
    _write(
        results / "other/pope/results.json",
        "pope",
        ModelRef(id="other"),
        {"F1": 1.0},
        protocol=dict(rule, benchmark="pope", columns=[]),
    )
    out = tmp_path / "leaderboard.md"
    report = build_leaderboard([store, results], out, reg=REG)
    header, rows = _table(out.read_text())
    acc = next(h for h in header if h.startswith("Shapes Accuracy"))
    assert _strip(rows["base|tiny|θ0"][acc]) == "60.0"  # `harness eval --model tiny` is θ0 of runs on tiny
    assert _strip(rows["model|other|–"][acc]) == "**65.0**"
    assert list(rows)[-1] == "model|other|–"
    assert any("'pope' has no leaderboard column" in w for w in report.warnings)


def test_rule_based_cells_show_their_bootstrap_interval(tmp_path: Path) -> None:
    results = tmp_path / "results"
    rule = dict(RULE, benchmark="shapes", reference_numbers={}, columns=SHAPES_COLS)
    res = Results(benchmark="shapes", model=ModelRef(id="tiny"), protocol=rule, metrics={"Accuracy": 60.04})
    res.intervals = {"Accuracy": [55.01, 64.96]}
    res.write(results / "tiny/shapes/results.json")
    out = tmp_path / "leaderboard.md"
    build_leaderboard([results], out, reg=REG)
    header, rows = _table(out.read_text())
    acc = next(h for h in header if h.startswith("Shapes Accuracy"))
    assert _strip(rows["model|tiny|–"][acc]) == "60.0 [55.0, 65.0]"


class _Toy:
    """A rule-based benchmark that gives resampling units, so the leaderboard can test changes."""

    name = "toy"
    columns = (LC("Toy Acc", "Acc", headline=True, order=5),)

    def bootstrap_units(self, records):
        return [{"hit": float(r["hit"]), "n": 1.0} for r in records]

    def metrics_from_counters(self, totals):
        return {"Acc": 100.0 * totals["hit"] / totals["n"]}


TOY_REG = Registry(methods={}, benchmarks={"toy": _Toy})
TOY = {
    "benchmark": "toy",
    "data_version": "1",
    "scorer_source": "toy",
    "judge_model": None,
    "judge_runs": 1,
    "deviations": [],
    "columns": [c.to_dict() for c in _Toy.columns],
}


def _toy(path: Path, ref: ModelRef, hits: list[int]) -> None:
    Results(
        benchmark="toy",
        model=ref,
        protocol=TOY,
        metrics={"Acc": 100.0 * sum(hits) / len(hits)},
        records=[{"id": str(k), "hit": h} for k, h in enumerate(hits)],
    ).write(path)


def test_seeds_become_one_row_and_changes_get_a_paired_test(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    base = [1] * 50 + [0] * 50
    for seed, better in ((0, 30), (1, 34)):
        run = _run(runs, f"sena-s{seed}", "sena", "sena", 1)
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["seed"] = seed
        (run / "manifest.json").write_text(json.dumps(manifest))
        _toy(run / "iter0/eval/toy/results.json", _ref(f"sena-s{seed}", "sena", "sena", 0), base)
        _toy(
            run / "iter1/eval/toy/results.json",
            _ref(f"sena-s{seed}", "sena", "sena", 1),
            [1] * (50 + better) + [0] * (50 - better),
        )
        (run / "iter1/stats.json").write_text(json.dumps({"pairs": 10 + 4 * seed, "images": 8}))
        final = {"rewards/accuracies": 0.5 + 0.25 * seed, "rewards/margins": 0.01 * (seed + 1)}
        (run / "iter1/train.json").write_text(json.dumps({"steps": 2, "final_log": final}))
    lone = _run(runs, "seva-x", "seva", "seva", 1)
    _toy(lone / "iter1/eval/toy/results.json", _ref("seva-x", "seva", "seva", 1), [1] * 52 + [0] * 48)
    (lone / "iter1/stats.json").write_text(json.dumps({"pairs": 0, "images": 8}))
    (lone / "iter1/train.json").write_text(json.dumps({"steps": 0, "skipped": "no pairs"}))
    out = tmp_path / "leaderboard.md"
    build_leaderboard([runs], out, reg=TOY_REG)
    md = out.read_text()
    header, rows = _table(md)
    # what each iteration trained on, per seed row: mean ± sample std of pairs, steps, reward accuracy, margin
    training = md.split("## Pairs and training", 1)[1].split("\n## ", 1)[0]
    assert "| sena | sena (2 seeds) | θ1 | 12 ± 3 | 2 ± 0 | 62 ± 18 | 0.015 ± 0.007 |" in training
    assert "| seva | seva | θ1 | 0 | 0 | – | – |" in training  # trained on nothing: visible at a glance
    acc = next(h for h in header if h.startswith("Toy Acc"))
    # two runs that differ only in --seed: one row, mean ± sample std over seeds, Δ against θ0
    assert _strip(rows["sena|sena (2 seeds)|θ1"][acc]) == "**82.0 ± 2.8** (+32.0)"
    prov = md.split("## Provenance", 1)[1].split("\n## ", 1)[0]
    assert "sena-s0" in prov and "sena-s1" in prov
    # a single run: its change against θ0 carries the paired bootstrap's verdict
    assert _strip(rows["seva|seva|θ1"][acc]) == "52.0 (+2.0)"  # 2 flips in 100 items: not significant
    single = _run(runs, "clip-y", "clip_filter", "clip_filter", 1)
    _toy(single / "iter1/eval/toy/results.json", _ref("clip-y", "clip_filter", "clip_filter", 1), [1] * 80 + [0] * 20)
    build_leaderboard([runs], out, reg=TOY_REG)
    md = out.read_text()
    header, rows = _table(md)
    cell = rows["clip_filter|clip_filter|θ1"][acc]
    assert _strip(cell) == "80.0 (+30.0†)"
    assert "paired bootstrap test against θ0" in _note(md, cell, "p < 0.05")
