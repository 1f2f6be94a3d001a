"""The pieces of judge agreement (issue 28) on known inputs: each judged benchmark recomputes its headline from its
own records (what the headline's bootstrap resamples), the item rule (missing never scored), rank flips, the
leaderboard's judge columns and the published numbers' judges."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from scipy import stats

from benchmarks.llava_wild import LlavaWild
from benchmarks.mmhal import MMHal
from benchmarks.mmvet import MMVet
from harness.judge.agreement import (
    NEVER_ANSWERED,
    NO_SCORE,
    RUNS_DISAGREE,
    UNPARSED,
    headline_interval,
    item_agreement,
    item_values,
    rank_agreement,
)
from harness.judge.types import JudgeModelNotFound
from harness.plugins import registry
from harness.report.judge_slots import reported_judge_text
from harness.report.sections import reported_numbers
from tests.judged_bench_fakes import Failed, RecordedJudge

FIX = Path(__file__).parent / "fixtures"


def _answers(bench, items, runs: int, good, bad: str, never: bool = False) -> RecordedJudge:
    """Seeded answers: ``good(rng)`` for most judgements, ``bad`` (unparseable) for a few, one never answered."""
    rng = random.Random(7)
    answers: dict = {}
    for r in range(runs):
        for k, item in enumerate(items):
            key = f"{bench.name}/{item.id}"
            answers[(key, r)] = bad if (k + r) % 4 == 1 else good(rng)
    if never:
        answers[(f"{bench.name}/{items[0].id}", runs - 1)] = Failed()
    return RecordedJudge(answers)


@pytest.mark.parametrize(
    ("cls", "folder", "preds", "good", "bad"),
    [
        (
            LlavaWild,
            "llava_wild",
            "answers_model.jsonl",
            lambda g: f"{g.randint(5, 9)} {g.randint(1, 10)}",
            "no scores",
        ),
        (MMVet, "mmvet", "llava_fixture.json", lambda g: f"{g.randint(0, 10) / 10}", "maybe"),
        (MMHal, "mmhal", "llava_fixture_responses.json", lambda g: f"Rating: {g.randint(0, 6)}", "no rating here"),
    ],
)
def test_a_judged_benchmark_recomputes_its_headline_from_its_records(cls, folder, preds, good, bad):
    bench = cls()
    items = bench.load(FIX / folder)
    predictions = bench.read_predictions(FIX / folder / preds, items)
    for never in (False, True):
        report = bench.score(items, predictions, _answers(bench, items, 3, good, bad, never), runs=3)
        assert report.unparsed.get("total")  # the rule is exercised with unparseable answers …
        assert bool(report.missing) == never  # … and with a judgement never answered
        again = bench.metrics_from_records(report.records)
        assert set(again) == set(report.metrics)
        for key, value in report.metrics.items():
            assert again[key] == pytest.approx(value, abs=1e-12), key
    # a subset of the records is a benchmark of its own: the headline of its items only
    half = bench.metrics_from_records(report.records[: len(items) // 2 or 1])
    assert set(half) <= set(report.metrics) and half


def test_item_values_leave_out_failures_and_name_them():
    records = [
        {"id": 1, "score": 0.5, "runs": [{"failure": None}, {"failure": None}]},
        {"id": 2, "score": 0.0, "runs": [{"failure": "unparseable_after_5_retries"}, {"failure": None}]},
        {"id": 3, "score": 7.0, "runs": [{"failure": None}]},  # never answered in a run (listed in missing)
        {"id": 4, "correct": True, "runs": [[], []], "judge_failures": [None, None]},
        {"id": 5, "correct": False, "runs": [[], []], "judge_failures": [None, "random_miss"]},  # a random letter
        {"id": 6, "correct": None, "runs": [[], []], "judge_failures": [None, None]},  # runs decided differently
        {"id": 7, "score": None},
    ]
    values, reasons = item_values(records, [{"item": "3", "run": 1, "reason": "judge_error: HTTP 500"}])
    assert values == {"1": 0.5, "4": 1.0}
    assert reasons == {"2": UNPARSED, "3": NEVER_ANSWERED, "5": UNPARSED, "6": RUNS_DISAGREE, "7": NO_SCORE}


def test_item_agreement_and_ranks_equal_scipy_and_hand_counts():
    a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    b = [2, 2, 3, 5, 5, 6, 8, 8, 9, 3]  # +1 on three items, and the last one far off
    got = item_agreement(a, b)
    assert got.pearson == pytest.approx(stats.pearsonr(a, b).statistic)
    assert got.spearman == pytest.approx(stats.spearmanr(a, b).statistic)
    assert got.kendall == pytest.approx(stats.kendalltau(a, b).statistic)
    assert got.mean_abs_diff == pytest.approx((1 + 1 + 1 + 7) / 10) and got.mean_diff == pytest.approx(-4 / 10)
    assert got.discrete and got.exact == pytest.approx(6 / 10)
    means = item_agreement([1 / 3, 2 / 3], [1 / 3, 1.0])  # means over three runs: not discrete, no exact agreement
    assert not means.discrete and means.exact is None
    constant = item_agreement([1, 1, 1], [1, 2, 3])
    assert constant.pearson is None and constant.mean_abs_diff == pytest.approx(1.0)

    # four rows; B swaps the top two and ties the last two
    rank = rank_agreement(["p", "q", "r", "s"], [40.0, 35.0, 30.0, 20.0], [36.0, 38.0, 25.0, 25.0])
    assert [(f.first, f.second) for f in rank.flips] == [("p", "q")]
    assert (rank.flips[0].a_first, rank.flips[0].b_first) == (40.0, 36.0)
    assert rank.ties_split == [("r", "s")]
    assert rank.kendall == pytest.approx(stats.kendalltau([40, 35, 30, 20], [36, 38, 25, 25]).statistic)
    assert rank_agreement(["x", "y"], [1.0, 2.0], [3.0, 4.0]).order_kept


def test_headline_interval_resamples_the_same_items_for_both_judges():
    recs_a = [{"v": float(v)} for v in (1, 2, 3, 4, 5, 6)]
    recs_b = [{"v": r["v"] + 1.0} for r in recs_a]  # B = A + 1 on every item: the difference never varies

    def mean_v(records):
        return {"m": sum(r["v"] for r in records) / len(records)}

    assert headline_interval(recs_a, recs_b, mean_v, "m", resamples=500) == pytest.approx((1.0, 1.0))
    lo, hi = headline_interval(recs_a, list(reversed(recs_b)), mean_v, "m", resamples=500, seed=3)
    assert lo < 1.0 < hi  # unpaired by a reversal: the difference varies
    assert headline_interval(recs_a, recs_b, mean_v, "other", resamples=10) is None


def test_published_numbers_name_the_judge_their_source_used():
    reg = registry()
    judged = {name for name, cls in reg.benchmarks.items() if getattr(cls, "needs_judge", False)}
    rows = reported_numbers(reg)
    sena = [r for r in rows if r.table == "sena-table1"]
    assert sena and {reported_judge_text(r, judged) for r in sena} == {
        "gpt-4-1106-preview (llava_wild, mmvet, mmhal); not stated (mmbench)"
    }
    readme = [r for r in rows if r.table == "seva-readme"]
    assert readme and all(reported_judge_text(r, judged).startswith("not stated") for r in readme)
    pope = [r for r in rows if set(r.values) == {"pope/F1"}]
    assert pope and all(reported_judge_text(r, judged) == "none (rule-based)" for r in pope)
    # a STIC row declared twice (SENA's table and STIC's plugin) keeps its variant and its judges
    stic = [r for r in rows if r.model == "LLaVA-1.5-7B + STIC" and r.table == "sena-table4"]
    assert len(stic) == 1 and stic[0].variant and stic[0].judges["mmvet"] == "gpt-4-1106-preview"


def test_only_a_retired_snapshot_gets_the_retirement_advice():
    retired = str(JudgeModelNotFound("gpt-4-0613", "https://api.openai.com/v1", "HTTP 404").for_benchmark("mmvet"))
    assert "retired OpenAI snapshot" in retired and "harness rejudge" in retired
    other = str(JudgeModelNotFound("my-judge", "http://127.0.0.1:8000/v1", "HTTP 404"))
    assert "retired" not in other and "Pass --judge-model with a model the server has" in other


def test_compare_judges_bad_input_is_named(tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app
    from harness.report.results import ModelRef, Results

    for judge, sha in (("judge-a", "1" * 64), ("judge-b", "2" * 64)):  # different predictions: nothing to pair
        card = {"benchmark": "mmvet", "data_version": "v1", "scorer_source": "x", "judge_model": judge}
        Results("mmvet", ModelRef(id="m"), card, {"total": 1.0}, predictions_sha256=sha).write(
            tmp_path / judge / "results.json"
        )
    run = CliRunner().invoke
    one = run(app, ["compare", str(tmp_path), "--judge", "judge-a"])
    assert one.exit_code == 2 and "give exactly two judges" in one.output
    same = run(app, ["compare", str(tmp_path), "--judge", "judge-a", "--judge", "judge-a"])
    assert same.exit_code == 2 and "the two judges are the same" in same.output
    apart = run(app, ["compare", str(tmp_path), "--judge", "judge-a", "--judge", "judge-b"], terminal_width=300)
    assert apart.exit_code == 2 and "no predictions under" in apart.output
    assert "mmvet: judge-a, judge-b" in " ".join(apart.output.split())
    models = run(app, ["compare", str(tmp_path / "judge-a")])
    assert models.exit_code == 2 and "give two models A and B" in models.output
