"""MM-Vet: golden scores from recorded judge replies (retry ladder included), worked out by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import benchmarks.mmvet as mmvet
import benchmarks.mmvet.prompts as prompts
from benchmarks.mmvet import MMVet, grading_query, parse_correctness
from harness.errors import HarnessError
from harness.plugins import registry
from tests.judged_bench_fakes import Failed, RecordedJudge

FIX = Path(__file__).parent / "fixtures" / "mmvet"
K = "mmvet/"

RECORDED = {
    # run 0
    (K + "v1_0", 0, 0): "1.0",
    (K + "v1_1", 0, 0): "0.5",
    (K + "v1_2", 0, 0): "The",  # unparseable → retry 1 (T=0.0, with the suffix)
    (K + "v1_2", 0, 1): "0.8",
    (K + "v1_3", 0, 0): "1.5",  # out of range → retries 1..5, all bad
    (K + "v1_3", 0, 1): "x",
    (K + "v1_3", 0, 2): "y",
    (K + "v1_3", 0, 3): "z",
    (K + "v1_3", 0, 4): "w",
    (K + "v1_3", 0, 5): "1.0",  # the 5th retry's reply is never parsed → 0.0 officially
    # run 1
    (K + "v1_0", 1, 0): "0.0",
    (K + "v1_1", 1, 0): Failed("APIConnectionError"),
    (K + "v1_2", 1, 0): "0.6\n",
    (K + "v1_3", 1, 0): "nan",
    (K + "v1_3", 1, 1): "1 .",
}


@pytest.fixture()
def bench() -> MMVet:
    return MMVet()


@pytest.fixture()
def items(bench):
    return bench.load(FIX)


def test_prompt_is_verbatim_with_the_spec_hash():
    assert hashlib.sha256(prompts.FEW_SHOT_PROMPT.encode()).hexdigest() == prompts.FEW_SHOT_PROMPT_SHA256
    assert prompts.FEW_SHOT_PROMPT_SHA256 == "d1b3e0a5b4e72c888b77164489d705bba4dd149934fff564dfba6443d81afe3f"
    assert len(prompts.FEW_SHOT_PROMPT) == 2290


def test_parser_matches_the_official_rules():
    assert parse_correctness("0.5") == 0.5
    assert parse_correctness("1") == 1.0
    assert parse_correctness("0.6\n") == 0.6
    assert parse_correctness("0.4 because") == 0.4
    assert parse_correctness(" 0.4") is None  # first token is empty
    assert parse_correctness("1.5") is None and parse_correctness("-0.1") is None
    assert parse_correctness("nan") is None and parse_correctness(None) is None
    assert parse_correctness("Correct") is None


def test_query_layout(items):
    q = grading_query(items[1].prompt, items[1].meta["answer"], "x = -1 or x = -5")
    assert q == prompts.FEW_SHOT_PROMPT + "\nWhat is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | "
    assert grading_query("Q", "a<OR>b", "p", retry=True).endswith(
        "\nQ | a <OR> b | p | \nPredict the correctness of the answer (digit): "
    )


def test_golden_two_runs_with_retries(bench, items):
    preds = bench.read_predictions(FIX / "llava_fixture.json", items)
    judge = RecordedJudge(RECORDED)
    rep = bench.score(items, preds, judge, runs=2)

    # The ladder for v1_3 in run 0: six calls, temperatures 0, 0, 0.5, 1.0, 1.5, 2.0, suffix from attempt 1.
    ladder = [r for r in judge.requests if r.key == K + "v1_3" and r.run_index == 0]
    assert [r.attempt for r in ladder] == [0, 1, 2, 3, 4, 5]
    assert [r.temperature for r in ladder] == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert all(r.max_tokens == 3 and len(r.messages) == 1 and r.messages[0][0] == "user" for r in ladder)
    assert not ladder[0].messages[0][1].endswith("(digit): ")
    assert all(r.messages[0][1].endswith("(digit): ") for r in ladder[1:])
    # a failed call ends the sample's ladder
    assert [r.attempt for r in judge.requests if r.key == K + "v1_1" and r.run_index == 1] == [0]

    # The headline is the official number. Run 0: v1_0=1.0, v1_1=0.5, v1_2=0.8, and v1_3 scores 0.0 after
    # its 5 retries (counted as unparsed) → total 2.3/4.
    r0 = rep.per_run[0]
    assert r0["total"] == pytest.approx(2.3 / 4 * 100)
    assert r0["rec"] == pytest.approx(90.0) and r0["ocr"] == pytest.approx(25.0)
    assert r0["math"] == pytest.approx(50.0) and r0["know"] == pytest.approx(80.0)
    assert r0["combo/math_ocr"] == pytest.approx(50.0) and r0["combo/ocr"] == 0.0
    # Run 1: v1_1's call failed (never answered: left out): v1_0=0.0, v1_2=0.6, v1_3=1.0 after a "nan".
    r1 = rep.per_run[1]
    assert r1["total"] == pytest.approx(1.6 / 3 * 100)
    assert r1["rec"] == pytest.approx(30.0) and r1["ocr"] == pytest.approx(100.0)
    assert "math" not in r1
    assert rep.metrics["total"] == pytest.approx((57.5 + 160 / 3) / 2)
    assert rep.std["total"] == pytest.approx((57.5 - 160 / 3) / 2)
    assert rep.metrics["math"] == pytest.approx(50.0) and rep.std["math"] == 0.0
    assert rep.failures == {"run0": 1, "run1": 1, "total": 2}
    assert rep.unparsed == {"unparseable_after_5_retries": 1, "total": 1}
    assert rep.missing == [{"item": "v1_1", "run": 1, "reason": "judge_error: APIConnectionError"}]
    # the secondary figure leaves v1_3 of run 0 out: 2.3/3 and 1.6/3
    assert rep.excluded["total"] == pytest.approx(65.0)

    # The official printout (numpy rounding to 1 decimal): totals 57.49999999999999 and 53.33 → 55.4.
    assert rep.official["total"] == 55.4 == round(rep.metrics["total"], 1)
    assert rep.official["std"] == 2.1
    assert rep.official["total@run0"] == 57.5 and rep.official["total@run1"] == 53.3
    assert rep.official["ocr"] == 62.5  # 25 and 100
    assert rep.official["math"] == 50.0  # run 0 only
    assert rep.official["rec"] == 60.0  # 90, 30

    rec = rep.records[3]["runs"][0]
    assert rec["score"] == 0.0 and rec["parsed_score"] is None
    assert rec["failure"] == "unparseable_after_5_retries"
    assert [a["content"] for a in rec["attempts"]] == ["1.5", "x", "y", "z", "w", "1.0"]
    assert rep.records[3]["runs"][1]["score"] == 1.0 and rep.records[3]["score"] == 0.5
    assert rep.records[1]["runs"][1]["score"] is None and rep.records[1]["score"] == 0.5


def test_complete_run_equals_the_official_script(bench, items):
    # every sample answered: total = 100 · Σ / n with the exhausted ladder's 0.0, as the official script
    preds = bench.read_predictions(FIX / "llava_fixture.json", items)
    answers = {k: v for k, v in RECORDED.items() if k[1] == 0}
    rep = bench.score(items, preds, RecordedJudge(answers), runs=1)
    assert rep.complete and rep.metrics["total"] == pytest.approx(57.5)
    assert rep.official["total"] == 57.5 and rep.official["std"] == 0.0


def test_predictions_round_trip(bench, items, tmp_path):
    preds = bench.read_predictions(FIX / "llava_fixture.json", items)
    out = tmp_path / "model.json"
    bench.write_predictions(out, items, preds)
    assert json.loads(out.read_text()) == json.loads((FIX / "llava_fixture.json").read_text())


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"v1_0": "a", "v1_0": "b", "v1_1": "", "v1_2": "", "v1_3": ""}', "duplicated key 'v1_0'"),
        ('{"v1_0": "a", "v1_1": "", "v1_2": "", "v1_3": "", "v1_9": ""}', "unknown id 'v1_9'"),
        ('{"v1_0": "a", "v1_1": ""}', "no prediction for id v1_2, v1_3"),
        ('{"v1_0": 3, "v1_1": "", "v1_2": "", "v1_3": ""}', "id v1_0: the prediction must be a string"),
        ('{"v1_0": "a",', "malformed JSON"),
    ],
)
def test_bad_predictions(bench, items, tmp_path, text, message):
    path = tmp_path / "model.json"
    path.write_text(text)
    with pytest.raises(HarnessError, match="model.json") as err:
        bench.read_predictions(path, items)
    assert message in str(err.value)


def test_load_finds_the_unpacked_release_and_names_bad_ids(bench, tmp_path):
    (tmp_path / "mm-vet").mkdir()
    data = json.loads((FIX / "mm-vet.json").read_text())
    (tmp_path / "mm-vet" / "mm-vet.json").write_text(json.dumps(data))
    assert [i.id for i in bench.load(tmp_path)] == ["v1_0", "v1_1", "v1_2", "v1_3"]
    del data["v1_2"]["capability"]
    (tmp_path / "mm-vet" / "mm-vet.json").write_text(json.dumps(data))
    with pytest.raises(HarnessError, match=r"mm-vet.json id v1_2: missing field 'capability'"):
        bench.load(tmp_path)
    with pytest.raises(HarnessError, match="mm-vet.json not found"):
        bench.load(tmp_path / "nowhere")


def test_protocol_and_plugin(bench):
    card = bench.protocol()
    assert card.judge_model == "gpt-4-1106-preview"
    assert (card.judge_temperature, card.judge_max_tokens) == (0.0, 3)
    assert [(c.label, c.metric, c.lower_is_better, c.decimals, c.headline, c.order) for c in bench.columns] == [
        ("MM-Vet", "total", False, 1, True, 20)
    ]
    assert card.prompt_version == prompts.FEW_SHOT_PROMPT_SHA256
    assert any("gpt-4-0613" in d for d in card.deviations)
    assert bench.data_sources()[0].url == "https://github.com/yuweihao/MM-Vet/releases/download/v1/mm-vet.zip"
    assert registry(entry_points=False, extra=[mmvet]).benchmark("mmvet") is MMVet
