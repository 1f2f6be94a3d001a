"""LLaVA-Bench (In-the-Wild): golden scores from recorded judge replies, worked out by hand."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

import benchmarks.llava_wild as llava_wild
import benchmarks.llava_wild.prompts as prompts
from benchmarks.llava_wild import LlavaWild, parse_review
from harness.errors import HarnessError
from harness.plugins import registry
from tests.judged_bench_fakes import Failed, RecordedJudge

FIX = Path(__file__).parent / "fixtures" / "llava_wild"
K = "llava_wild/"

# Run 0: q2 unparseable (three tokens on the first line). Run 1: q1 call fails, q4 unparseable.
RECORDED = {
    (K + "0", 0): "8 9\nAssistant 2 names the bridge less precisely.",
    (K + "1", 0): "7,6\nBoth are fine.",
    (K + "2", 0): "Score: 8 7\nThe reply starts with a word.",
    (K + "3", 0): "9 7",
    (K + "4", 0): "10 8.5\n",
    (K + "0", 1): "8 8\nEqual.",
    (K + "1", 1): Failed("RateLimitError: quota"),
    (K + "2", 1): "6 5",
    (K + "3", 1): "8 7.5",
    (K + "4", 1): "9  9\nTwo spaces make three tokens.",
}


@pytest.fixture()
def bench() -> LlavaWild:
    return LlavaWild()


@pytest.fixture()
def items(bench):
    return bench.load(FIX)


def test_rule_prompt_is_verbatim_with_the_spec_hash():
    assert hashlib.sha256(prompts.RULE_PROMPT.encode()).hexdigest() == prompts.RULE_SHA256
    assert prompts.RULE_SHA256 == "2ce22b562d6008864970ea863ac8a4d385ea6f2e64ab1313a23f825202a9529d"
    assert len(prompts.RULE_PROMPT) == 872


def test_parser_matches_the_official_rules():
    assert parse_review("8 9\nbecause") == [8.0, 9.0]
    assert parse_review("7,6") == [7.0, 6.0]
    assert parse_review("7, 6") is None  # "7  6" → three tokens
    assert parse_review("Score: 8 7") is None
    assert parse_review("8.5 x") is None  # float() fails
    assert parse_review("") is None
    assert parse_review("-1 -1") == [-1.0, -1.0]


def test_load_reads_the_official_files(items):
    assert [i.id for i in items] == ["0", "1", "2", "3", "4"]
    assert items[2].meta["category"] == "complex"
    assert items[2].meta["reference"] == "It is a comforting meal, likely lunch or dinner."
    assert items[0].image == FIX / "images" / "001.jpg"
    assert items[0].prompt == "What is the name of this famous sight in the photo?"


def test_judge_request_is_the_official_review(bench, items):
    preds = bench.read_predictions(FIX / "answers_model.jsonl", items)
    judge = RecordedJudge(RECORDED)
    bench.score(items, preds, judge, runs=1)
    req = judge.requests[0]
    assert req.temperature == 0.2 and req.max_tokens == 1024 and req.run_index == 0
    assert req.messages[0] == (
        "system",
        "You are a helpful and precise assistant for checking the quality of the answer.",
    )
    expected = (
        "[Context]\nA stone bridge over a river at dusk.\nLamps are lit along the railing.\n\n"
        "[Question]\nWhat is the name of this famous sight in the photo?\n\n"
        "[Assistant 1]\nIt is the Charles Bridge in Prague.\n\n[End of Assistant 1]\n\n"
        "[Assistant 2]\nThis is a bridge in a European city.\n\n[End of Assistant 2]\n\n"
        "[System]\n" + prompts.RULE_PROMPT + "\n\n"
    )
    assert req.messages[1] == ("user", expected)


def test_golden_two_runs(bench, items):
    preds = bench.read_predictions(FIX / "answers_model.jsonl", items)
    rep = bench.score(items, preds, RecordedJudge(RECORDED), runs=2)

    # The headline is the official summary's number: unparseable reviews stay in the means as [-1, -1].
    # Run 0, all five answered: reference (8+7-1+9+10)/5 = 6.6, model (9+6-1+7+8.5)/5 = 5.9.
    run0 = 5.9 / 6.6 * 100
    # Run 1: q1's call failed (never answered: left out); q4 unparseable → [-1, -1]:
    # reference (8+6+8-1)/4 = 5.25, model (8+5+7.5-1)/4 = 4.875.
    run1 = 4.875 / 5.25 * 100
    assert rep.per_run[0]["relative_score"] == pytest.approx(run0, abs=1e-12)
    assert rep.per_run[1]["relative_score"] == pytest.approx(run1, abs=1e-12)
    assert rep.metrics["relative_score"] == pytest.approx((run0 + run1) / 2, abs=1e-12)
    assert rep.std["relative_score"] == pytest.approx(abs(run0 - run1) / 2, abs=1e-12)
    assert rep.per_run[0]["reference_score"] == pytest.approx(66.0)
    assert rep.per_run[0]["model_score"] == pytest.approx(59.0)
    # the official printout, 1 decimal per run: 89.4 (run 0), and 92.9 for the 4 answered reviews of run 1
    assert rep.official["relative_score@run0"] == 89.4 == round(rep.per_run[0]["relative_score"], 1)
    assert rep.official["relative_score@run1"] == 92.9
    assert rep.official["relative_score/complex@run0"] == 83.3  # q2 [-1,-1], q4 [10, 8.5] → (4.5, 3.75)
    # categories, run 0: conv q0,q3 → 8.5/8.0; detail q1 → 7/6
    assert rep.per_run[0]["relative_score/conv"] == pytest.approx(8.0 / 8.5 * 100)
    assert rep.per_run[0]["relative_score/detail"] == pytest.approx(6 / 7 * 100)
    # run 1 has no answered detail item: the category is averaged over run 0 only
    assert "relative_score/detail" not in rep.per_run[1]
    assert rep.metrics["relative_score/detail"] == pytest.approx(6 / 7 * 100)

    # Never answered: listed, not scored. Answered but unparseable: counted by kind.
    assert rep.missing == [{"item": "1", "run": 1, "reason": "judge_error: RateLimitError: quota"}]
    assert not rep.complete
    assert rep.unparsed == {"first_line_not_two_scores": 2, "total": 2}
    assert rep.failures == {"run0": 1, "run1": 2, "total": 3}
    # The secondary figure leaves the [-1, -1] reviews out: run 0 q0,q1,q3,q4 → 7.625 / 8.5;
    # run 1 q0,q2,q3 → 6.833 / 7.333 (means rounded to 3 decimals, as the official formula).
    assert rep.excluded["relative_score"] == pytest.approx((7.625 / 8.5 + 6.833 / 7.333) * 50, abs=1e-12)

    rec = rep.records[2]
    assert rec["runs"][0]["failure"] == "first_line_not_two_scores" and rec["runs"][0]["tuple"] == [-1.0, -1.0]
    assert rec["runs"][1]["tuple"] == [6.0, 5.0] and rec["score"] == pytest.approx((-1 + 5) / 2)
    assert rep.records[1]["runs"][1]["failure"].startswith("judge_error") and rep.records[1]["runs"][1]["tuple"] is None
    assert rep.records[1]["score"] == 6.0  # run 0 only
    assert rep.records[0]["runs"][0]["review"].startswith("8 9")


def _official_prompt(context: str, question: str, reference: str, answer: str) -> str:
    """The review prompt as the spec lays it out for eval_gpt_review_bench.py (role "Assistant")."""
    return (
        f"[Context]\n{context}\n\n[Question]\n{question}\n\n"
        f"[Assistant 1]\n{reference}\n\n[End of Assistant 1]\n\n"
        f"[Assistant 2]\n{answer}\n\n[End of Assistant 2]\n\n"
        f"[System]\n{prompts.RULE_PROMPT}\n\n"
    )


def test_string_caption_is_used_as_is(bench, items):
    # image 002's caption is a string in the fixture, as in the released context.jsonl
    item = items[2]
    assert item.meta["caption"] == "A bowl of ramen with an egg and scallions."
    assert bench.judge_content(item, "To eat.") == _official_prompt(
        "A bowl of ramen with an egg and scallions.",
        "What might be the purpose of this dish?",
        "It is a comforting meal, likely lunch or dinner.",
        "To eat.",
    )


def test_list_caption_is_joined_with_newlines(bench, items):
    item = items[1]  # image 001: a list of two captions
    assert bench.judge_content(item, "A bridge.") == _official_prompt(
        "A stone bridge over a river at dusk.\nLamps are lit along the railing.",
        "Describe this photo in detail.",
        item.meta["reference"],
        "A bridge.",
    )


def test_a_context_file_mixing_string_and_list_captions_scores(bench, items):
    # the fixture mixes both forms; every request carries the official context for its form
    preds = bench.read_predictions(FIX / "answers_model.jsonl", items)
    judge = RecordedJudge({}, default="7 7")
    rep = bench.score(items, preds, judge, runs=1)
    contexts = [r.messages[1][1].split("\n\n[Question]")[0] for r in judge.requests]
    bridge = "[Context]\nA stone bridge over a river at dusk.\nLamps are lit along the railing."
    car = "[Context]\nA red car on a wet street.\nIt has just rained."
    assert contexts == [bridge, bridge, "[Context]\nA bowl of ramen with an egg and scallions.", car, car]
    assert rep.metrics["relative_score"] == 100.0 and rep.complete


def test_predictions_round_trip(bench, items, tmp_path):
    preds = bench.read_predictions(FIX / "answers_model.jsonl", items)
    out = tmp_path / "answers.jsonl"
    bench.write_predictions(out, items, preds)
    assert bench.read_predictions(out, items) == preds


@pytest.mark.parametrize(
    "line, message",
    [
        (
            '{"question_id": 0, "text": "a", "answer_id": "x"}\n{"question_id": 0, "text": "b", "answer_id": "y"}',
            ":2: duplicated question_id 0",
        ),
        ('{"question_id": 99, "text": "a", "answer_id": "x"}', ":1: unknown question_id 99"),
        ('{"question_id": 0, "text": "a"}', ":1: missing field 'answer_id'"),
        ('{"question_id": 0, "text": "a", "answer_id": "x"}\n{not json', ":2: malformed JSON line"),
        ('{"question_id": 0, "text": "a", "answer_id": "x"}', "no answer for question_id 1, 2, 3, 4"),
    ],
)
def test_bad_predictions_name_file_and_line(bench, items, tmp_path, line, message):
    path = tmp_path / "answers.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(HarnessError, match="answers.jsonl") as err:
        bench.read_predictions(path, items)
    assert message in str(err.value)


def test_bad_data_files(bench, tmp_path):
    data = tmp_path / "bench"
    shutil.copytree(FIX, data)
    (data / "answers_gpt4.jsonl").unlink()
    with pytest.raises(HarnessError, match="answers_gpt4.jsonl: file not found"):
        bench.load(data)
    lines = (FIX / "answers_gpt4.jsonl").read_text().splitlines()
    (data / "answers_gpt4.jsonl").write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    with pytest.raises(HarnessError, match=r"answers_gpt4.jsonl:1: reference for question_id 1"):
        bench.load(data)
    shutil.copy(FIX / "answers_gpt4.jsonl", data / "answers_gpt4.jsonl")
    q = (FIX / "questions.jsonl").read_text().replace('"category": "detail"', '"category": "ocr"')
    (data / "questions.jsonl").write_text(q)
    with pytest.raises(HarnessError, match=r"questions.jsonl:2: unknown category 'ocr'"):
        bench.load(data)


def test_protocol_and_plugin(bench):
    card = bench.protocol()
    assert card.judge_model == "gpt-4-1106-preview"
    assert not any(d.startswith("judge substituted") for d in card.deviations)
    assert (
        LlavaWild(judge_model="gpt-4o-2024-11-20")
        .protocol()
        .deviations[0]
        .startswith("judge substituted: gpt-4o-2024-11-20 instead of the protocol's gpt-4-1106-preview")
    )
    assert [(c.label, c.metric, c.lower_is_better, c.decimals, c.headline, c.order) for c in bench.columns] == [
        ("LLaVA^W", "relative_score", False, 1, True, 10)
    ]
    assert (card.judge_temperature, card.judge_max_tokens) == (0.2, 1024)
    assert card.prompt_version == prompts.RULE_SHA256
    assert card.generation["max_new_tokens"] == 1024 and card.generation["do_sample"] is False
    assert any("gpt-4-0314" in d for d in card.deviations)
    urls = [s.url for s in bench.data_sources()]
    assert "https://huggingface.co/datasets/liuhaotian/llava-bench-in-the-wild/resolve/main/questions.jsonl" in urls
    assert len(urls) == 3 + 24
    assert registry(entry_points=False, extra=[llava_wild]).benchmark("llava_wild") is LlavaWild


def test_score_needs_a_judge(bench, items):
    with pytest.raises(HarnessError, match="needs a judge"):
        bench.score(items, {i.id: "x" for i in items}, None)
