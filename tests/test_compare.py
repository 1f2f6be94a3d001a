"""`harness compare` on crafted results with known answers: exact McNemar and paired bootstrap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from harness.errors import HarnessError
from harness.report.compare import compare, render_comparison
from harness.report.results import ModelRef, Results

CARD = {"benchmark": "mmbench", "data_version": "dev", "scorer_source": "x", "judge_model": None}


def _write(path: Path, bench: str, model: str, records: list[dict]) -> Path:
    Results(
        benchmark=bench, model=ModelRef(id=model), protocol=dict(CARD, benchmark=bench), metrics={}, records=records
    ).write(path)
    return path


def test_mcnemar_known_answer(tmp_path: Path) -> None:
    # 20 items: 8 right on both, 2 wrong on both, A-only right on 1, B-only right on 9.
    # Exact McNemar = two-sided binomial(9 of 10, 1/2) = 2 * 11/1024 = 0.021484375.
    outcome = [(True, True)] * 8 + [(False, False)] * 2 + [(True, False)] + [(False, True)] * 9
    a = [{"id": i, "correct": x} for i, (x, _) in enumerate(outcome)]
    b = [{"id": i, "correct": y} for i, (_, y) in enumerate(outcome)]
    # A model folder (results/<model>/<bench>) and a run iteration folder (iter<i>/eval/<bench>)
    _write(tmp_path / "results/base/mmbench/results.json", "mmbench", "base", a)
    _write(tmp_path / "runs/r/iter1/eval/mmbench/results.json", "mmbench", "r/theta1", list(reversed(b)))
    rep = compare(tmp_path / "results/base", tmp_path / "runs/r/iter1", "mmbench")
    mc = rep.mcnemar
    assert rep.bootstrap is None and mc is not None
    assert (mc.n, mc.both_right, mc.both_wrong, mc.a_only, mc.b_only) == (20, 8, 2, 1, 9)
    assert mc.p_value == pytest.approx(0.021484375, abs=1e-12)
    assert [f.id for f in mc.lost] == ["10"]
    assert [f.id for f in mc.gained] == [str(i) for i in range(11, 20)]
    assert (mc.acc_a, mc.acc_b) == (0.45, 0.85)
    # swapping A and B swaps the flips and keeps the p-value
    back = compare(tmp_path / "runs/r/iter1", tmp_path / "results/base", "mmbench").mcnemar
    assert (back.a_only, back.b_only, back.p_value) == (9, 1, mc.p_value)
    text = _render(rep)
    assert "0.02148" in text and "right → wrong" in text and "wrong → right" in text


def test_bootstrap_known_answer(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 400
    sa = rng.integers(0, 7, size=n).astype(float)
    diff = rng.normal(0.5, 1.0, size=n)
    sb = sa + diff
    a = _write(tmp_path / "a.json", "mmhal", "A", [{"id": f"q{i}", "score": float(x)} for i, x in enumerate(sa)])
    b = _write(tmp_path / "b.json", "mmhal", "B", [{"id": f"q{i}", "score": float(y)} for i, y in enumerate(sb)])
    rep = compare(a, b, "mmhal", resamples=4000, seed=3)
    bs = rep.bootstrap
    assert rep.mcnemar is None and bs.n == n
    d = sb - sa
    assert bs.delta == pytest.approx(d.mean(), abs=1e-12)
    # the percentile CI matches the normal-theory interval of a mean of 400 differences
    se = d.std(ddof=1) / np.sqrt(n)
    assert bs.ci_low == pytest.approx(d.mean() - 1.96 * se, abs=0.3 * se)
    assert bs.ci_high == pytest.approx(d.mean() + 1.96 * se, abs=0.3 * se)
    assert bs.p_value == pytest.approx(1 / 4001)  # an effect of ~10 standard errors: no resample reaches 0
    assert len(bs.improved) + len(bs.worsened) + bs.ties == n
    assert bs.improved[0].b - bs.improved[0].a == pytest.approx(d.max())
    # seeded: the same input gives the same numbers
    again = compare(a, b, "mmhal", resamples=4000, seed=3).bootstrap
    assert (again.ci_low, again.ci_high, again.p_value) == (bs.ci_low, bs.ci_high, bs.p_value)


def test_bootstrap_no_difference_and_null(tmp_path: Path) -> None:
    recs = [{"id": i, "score": float(i % 5)} for i in range(50)]
    a = _write(tmp_path / "a.json", "llava_wild", "A", recs)
    same = compare(a, a, "llava_wild").bootstrap
    assert (same.delta, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert same.improved == [] and same.worsened == []
    # symmetric noise around zero: not significant
    rng = np.random.default_rng(7)
    noisy = [{"id": r["id"], "score": r["score"] + float(e)} for r, e in zip(recs, rng.choice([-1.0, 1.0], 50))]
    b = _write(tmp_path / "b.json", "llava_wild", "B", noisy)
    null = compare(a, b, "llava_wild", resamples=2000).bootstrap
    assert null.p_value > 0.05 and null.ci_low < 0 < null.ci_high


def test_mixed_records_failures_and_unpaired(tmp_path: Path) -> None:
    a = _write(
        tmp_path / "a.json",
        "amber",
        "A",
        [
            {"id": 1, "score": 3.0},
            {"id": 2, "score": 1.0},
            {"id": 3, "correct": True},
            {"id": 4, "correct": False},
            {"id": 5, "score": None},
            {"id": 6, "score": 1.0},
        ],
    )
    b = _write(
        tmp_path / "b.json",
        "amber",
        "B",
        [
            {"id": 1, "score": 1.0},
            {"id": 2, "score": 1.0},
            {"id": 3, "correct": True},
            {"id": 4, "correct": True},
            {"id": 5, "score": 2.0},
            {"id": 7, "score": 1.0},
        ],
    )
    rep = compare(a, b, "amber", resamples=500)
    assert rep.mcnemar.n == 2 and rep.mcnemar.b_only == 1 and rep.mcnemar.p_value == 1.0
    assert rep.bootstrap.n == 2 and rep.bootstrap.delta == -1.0
    assert [f.id for f in rep.bootstrap.worsened] == ["1"] and rep.bootstrap.ties == 1
    assert rep.unscored == ["5"] and rep.only_in_a == ["6"] and rep.only_in_b == ["7"]
    assert any("failed judgement" in w for w in rep.warnings)


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", "mmbench", "A", [{"id": 1, "correct": True}, {"id": 1, "correct": False}])
    b = _write(tmp_path / "b.json", "mmbench", "B", [{"id": 1, "correct": True}])
    with pytest.raises(HarnessError, match=r"a\.json: duplicated record id '1'"):
        compare(a, b, "mmbench")
    with pytest.raises(HarnessError, match=r"b\.json: results are for benchmark 'mmbench', not 'amber'"):
        compare(b, b, "amber")
    with pytest.raises(HarnessError, match="no results.json for benchmark 'mmbench'"):
        compare(tmp_path / "nowhere", b, "mmbench")
    c = _write(tmp_path / "c.json", "mmbench", "C", [{"id": 1, "correct": "yes"}])
    with pytest.raises(HarnessError, match=r"c\.json: record '1' has a non-boolean 'correct'"):
        compare(b, c, "mmbench")


def _render(rep) -> str:
    console = Console(record=True, width=140, color_system=None)
    console.print(render_comparison(rep))
    return console.export_text()
