"""MMHal-Bench: golden scores from recorded judge replies, worked out by hand."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import benchmarks.mmhal as mmhal
import benchmarks.mmhal.prompts as prompts
from benchmarks.mmhal import MMHal, find_ratings, parse_rating
from harness.errors import HarnessError
from harness.plugins import registry
from tests.judged_bench_fakes import Failed, RecordedJudge

FIX = Path(__file__).parent / "fixtures" / "mmhal"
K = "mmhal/"
TYPES = ["attribute", "adversarial", "comparison", "counting", "relation", "environment", "holistic", "other"]

# Run 0: default "Rating: 4"; specials below. Run 1: default "Rating: 3" except record 5 (5).
RUN0 = {
    0: "Very informative and well reasoned.\nRating: 6, very informative with good analysis",
    1: "No hallucination.\n**Rating:** 5",  # zero matches → failed (official 0)
    2: "Better than a Rating: 6 answer would be... Rating: 2",  # two matches → failed (official 0)
    3: "Hallucinated the colour. rating: 1",  # lower-case still matches
    8: "Wrong count.\nRATING: 0",  # matched after lower-casing
    9: Failed("Timeout"),  # failed call (official 0)
}


def _recorded():
    answers = {}
    for pos in range(96):
        answers[(K + str(pos), 0)] = RUN0.get(pos, "Somewhat informative.\nRating: 4")
        answers[(K + str(pos), 1)] = "Rating: 5" if pos == 5 else "Not informative.\nRating: 3"
    return answers


@pytest.fixture()
def bench() -> MMHal:
    return MMHal()


@pytest.fixture()
def items(bench):
    return bench.load(FIX)


def test_template_is_verbatim_with_the_spec_hash():
    assert hashlib.sha256(prompts.TEMPLATE.encode()).hexdigest() == prompts.TEMPLATE_SHA256
    assert prompts.TEMPLATE_SHA256 == "2c73d8c50f1740d000fae62cfeed103c2f7a5bcfa904b27e6e09900e7ce600cc"
    assert len(prompts.TEMPLATE) == 6631 and prompts.TEMPLATE.count("{}") == 4


def test_rating_parser_cases():
    assert parse_rating("blah\nRating: 5, very informative") == (5, None)
    assert parse_rating("RATING: 0") == (0, None)
    assert parse_rating("Rating:5") == (None, "no_rating")
    assert parse_rating("**Rating:** 4") == (None, "no_rating")
    assert parse_rating("between Rating: 6 and Rating: 3") == (None, "multiple_ratings")
    assert parse_rating("Rating: 4 ... Rating: 4") == (4, None)  # the same rating twice is one match
    assert find_ratings("rating: 60") == [6]


def test_judge_request_is_the_official_one(bench, items):
    preds = bench.read_predictions(FIX / "llava_fixture_responses.json", items)
    judge = RecordedJudge(_recorded())
    bench.score(items, preds, judge, runs=1)
    req = judge.requests[1]
    assert req.temperature == 0.0 and req.max_tokens is None and len(req.messages) == 1 and req.messages[0][0] == "user"
    assert req.messages[0][1].endswith(
        "### Image Contents\nTree, Dog\n\n### Question\nFixture question 1 about the animal?\n\n"
        "### Standard Human-Generated Answer\nFixture answer 1.\n\n"
        "### LMM Response to Evaluate\nModel answer fixture001.\n"
    )
    assert req.messages[0][1].startswith("Please act as an impartial and objective judge")


def test_golden_two_runs(bench, items):
    preds = bench.read_predictions(FIX / "llava_fixture_responses.json", items)
    rep = bench.score(items, preds, RecordedJudge(_recorded()), runs=2)

    # The headline is the official number: records 1 and 2 (no / several ratings) score 0 and count as
    # hallucinations; record 9's call failed (never answered): left out of run 0, which has 95 answers.
    # Run 0: 6 + 0 + 0 + 1 + 0 + 90·4 = 367 over 95; ratings < 3: records 1, 2, 3 and 8.
    r0 = rep.per_run[0]
    assert r0["average_score"] == pytest.approx(367 / 95)
    assert r0["hallucination_rate"] == pytest.approx(4 / 95)
    assert r0["average_score/attribute"] == pytest.approx(46 / 12)  # records 0 (6), 8 (0), ten × 4
    assert r0["average_score/adversarial"] == pytest.approx(40 / 11)  # 1 scores 0, 9 missing, ten × 4
    assert r0["average_score/comparison"] == pytest.approx(44 / 12)  # 2 scores 0
    assert r0["average_score/counting"] == pytest.approx(45 / 12)  # record 3 (1), eleven × 4
    # Run 1: 95 × 3 + 5 = 290 over 96, no rating below 3.
    r1 = rep.per_run[1]
    assert r1["average_score"] == pytest.approx(290 / 96)
    assert r1["hallucination_rate"] == 0.0
    assert r1["average_score/environment"] == pytest.approx(38 / 12)  # record 5 is type 5

    assert rep.metrics["average_score"] == pytest.approx((367 / 95 + 290 / 96) / 2)
    assert rep.metrics["hallucination_rate"] == pytest.approx(2 / 95)
    assert rep.std["hallucination_rate"] == pytest.approx(2 / 95)
    assert rep.failures == {"run0": 3, "run1": 0, "total": 3}
    assert rep.unparsed == {"multiple_ratings": 1, "no_rating": 1, "total": 2}
    assert rep.missing == [{"item": "9", "run": 0, "reason": "judge_error: Timeout"}] and not rep.complete
    # the secondary figure: parsed ratings only (93 in run 0; ratings < 3: records 3 and 8)
    assert rep.excluded["average_score"] == pytest.approx((367 / 93 + 290 / 96) / 2)
    assert rep.excluded["hallucination_rate"] == pytest.approx(1 / 93)

    # The official printout of each run (2 decimals).
    assert rep.official["average_score@run0"] == 3.86  # 367/95 = 3.863
    assert rep.official["hallucination_rate@run0"] == 0.04  # 4/95 = 0.042
    assert rep.official["average_score/adversarial@run0"] == 3.64  # 40/11
    assert rep.official["average_score@run1"] == 3.02  # 290/96 = 3.0208

    assert rep.records[1]["runs"][0]["failure"] == "no_rating"
    assert rep.records[2]["runs"][0]["failure"] == "multiple_ratings"
    assert rep.records[2]["runs"][0]["official_rating"] == 0 and rep.records[2]["runs"][0]["rating"] is None
    assert rep.records[9]["runs"][0]["failure"].startswith("judge_error")
    assert rep.records[9]["runs"][0]["official_rating"] is None and rep.records[9]["score"] == 3.0
    assert rep.records[8]["runs"][0]["rating"] == 0 and rep.records[8]["runs"][0]["failure"] is None


def test_complete_run_equals_the_official_formula(bench, items):
    # with every rating answered the headline is exactly Σ/96 and #(< 3)/96, unparseable replies as 0
    preds = bench.read_predictions(FIX / "llava_fixture_responses.json", items)
    answers = {(K + str(pos), 0): RUN0.get(pos, "Rating: 4") for pos in range(96)}
    answers[(K + "9", 0)] = "Rating: 5"
    rep = bench.score(items, preds, RecordedJudge(answers), runs=1)
    assert rep.complete and rep.metrics["average_score"] == pytest.approx((6 + 1 + 5 + 0 + 4 * 90) / 96)
    assert rep.metrics["hallucination_rate"] == pytest.approx(4 / 96)
    assert round(rep.metrics["average_score"], 2) == rep.official["average_score@run0"] == 3.88  # 372/96 = 3.875


def test_types_come_from_the_file(items):
    assert mmhal.type_names(items) == TYPES


def test_predictions_round_trip(bench, items, tmp_path):
    preds = bench.read_predictions(FIX / "llava_fixture_responses.json", items)
    out = tmp_path / "responses.json"
    bench.write_predictions(out, items, preds)
    assert json.loads(out.read_text()) == json.loads((FIX / "llava_fixture_responses.json").read_text())


def test_wrong_count_and_order_are_errors(bench, items, tmp_path):
    records = json.loads((FIX / "llava_fixture_responses.json").read_text())
    path = tmp_path / "responses.json"
    path.write_text(json.dumps(records[:95]))
    with pytest.raises(HarnessError, match=r"responses.json: 95 records; MMHal-Bench has exactly 96"):
        bench.read_predictions(path, items)
    records[3], records[4] = records[4], records[3]
    path.write_text(json.dumps(records))
    with pytest.raises(HarnessError, match=r"responses.json record 3: question/image differ"):
        bench.read_predictions(path, items)
    records[3], records[4] = records[4], records[3]
    del records[7]["model_answer"]
    path.write_text(json.dumps(records))
    with pytest.raises(HarnessError, match=r"responses.json record 7: missing field 'model_answer'"):
        bench.read_predictions(path, items)


def test_load_errors(bench, tmp_path):
    with pytest.raises(HarnessError, match="response_template.json not found"):
        bench.load(tmp_path)
    (tmp_path / "test_data").mkdir()
    shutil.copy(FIX / "response_template.json", tmp_path / "test_data" / "response_template.json")
    items = bench.load(tmp_path)
    assert items[0].image == tmp_path / "test_data" / "images" / "fixture000.jpg"
    (tmp_path / "test_data" / "response_template.json").write_text("[{]")
    with pytest.raises(HarnessError, match="response_template.json:1: malformed JSON"):
        bench.load(tmp_path)


def test_protocol_and_plugin(bench):
    card = bench.protocol()
    assert card.judge_model == "gpt-4-1106-preview" and card.judge_temperature == 0.0
    assert card.judge_max_tokens is None  # the official call sends no max_tokens
    assert [(c.label, c.metric, c.lower_is_better, c.decimals, c.headline, c.order) for c in bench.columns] == [
        ("MMHal Score", "average_score", False, 2, True, 30),
        ("MMHal Rate", "hallucination_rate", True, 2, True, 30),
    ]
    assert card.prompt_version == prompts.TEMPLATE_SHA256
    assert any("gpt-4-0314" in d for d in card.deviations)
    assert (
        bench.data_sources()[0].url
        == "https://huggingface.co/datasets/Shengcao1006/MMHal-Bench/resolve/main/test_data.zip"
    )
    assert registry(entry_points=False, extra=[mmhal]).benchmark("mmhal") is MMHal
