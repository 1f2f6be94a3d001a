"""Object HalBench: the rule-based path, the LLM extraction path through a judge, the question file checks.

NLTK's data and spaCy's model cannot be installed here: the caption normalisation is the RLAIF-V variant
over the stand-ins of tests/test_chair.py (NLTK's own word tokenizer, a lemma table for WordNet), and the
spaCy analysis of extracted objects is a tag/lemma table. The vocabulary is the refined excerpt of
tests/test_chair.py; the COCO annotations are the crafted ones in tests/fixtures/chair. Everything else
(two-word rules, toilet/seat, ground truth, the judge requests and reply parsing, the totals) is the real
code, and expected values are worked out by hand in the comments.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.common.data_sources import SYNONYMS_REFINE
from benchmarks.objhal import ObjHalBenchmark
from benchmarks.objhal.data import QUESTIONS, git_blob_sha1
from benchmarks.objhal.llm import EXTRACTION_PROMPT, PROMPT_SHA256, parse_object_list
from harness.errors import HarnessError
from harness.judge.types import JudgeReply, JudgeRequest
from tests.test_chair import FIXTURES, REFINED_EXCERPT, normaliser

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "object_halbench"
PROMPTS = [
    "Provide a thorough description of the given image.",
    "What is this photo about? Please answer in great detail.",
]


def _jpeg() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def _data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "objhal"
    shutil.copytree(FIXTURES / "annotations", data / "annotations")
    (data / SYNONYMS_REFINE).write_text(REFINED_EXCERPT + "\n", encoding="utf-8")
    rows = [
        {"org_idx": i, "image_id": image_id, "question": PROMPTS[i % 2], "image": _jpeg()}
        for i, image_id in enumerate([1, 2, 3, 100])
    ]
    (data / QUESTIONS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def bench(**options) -> ObjHalBenchmark:
    return ObjHalBenchmark(questions_git_blob=None, normaliser=normaliser("rlaifv"), **options)


ANSWERS = {
    "0": "Assistant: My brother sits at a coffee table with two dogs and a hot dog.",
    "1": "An elephant.",
    "2": "A clean bathroom.",
    "3": "A passenger train.",
}


def test_rule_path_rates_equal_the_hand_computed_values(tmp_path):
    b = bench()
    items = b.load(_data_dir(tmp_path))
    assert [(i.id, i.meta["image_id"], i.prompt) for i in items][:2] == [("0", 1, PROMPTS[0]), ("1", 2, PROMPTS[1])]
    assert items[0].image.read_bytes()[:2] == b"\xff\xd8"  # the base64 image, decoded once to disk
    report = b.score(items, ANSWERS)
    # GT (crafted COCO): 1 {person, dog, dining table, cake}, 2 {elephant, person}, 3 {toilet}, 100 {train}.
    # 0: brother (person), coffee table (dining table), dog, hot dog → hot dog hallucinated (1 of 4).
    # 1: elephant. 2: no COCO object (left out of the response-level denominator). 3: train.
    m = report.metrics
    assert m["response_hall"] == pytest.approx(100 / 3)  # 1 of the 3 responses that mention an object
    assert m["CHAIRs"] == pytest.approx(25.0)  # 1 of all 4
    assert m["object_hall"] == pytest.approx(100 / 6)  # 1 of 6 mentions
    assert m["object_recall"] == pytest.approx(62.5)  # (3 + 1 + 0 + 1) / (4 + 2 + 1 + 1)
    assert m["avg_length"] == pytest.approx(5.5)  # (14 + 2 + 3 + 3) / 4 words, "Assistant:" removed
    assert report.official["Response Hall"] == 33.33 and report.official["Object Hall"] == 16.67
    assert report.official["COCO Sent Number"] == 3
    assert report.records[0]["hallucinated"] == [["hot dog", "hot dog"]]
    assert report.records[0]["answer"].startswith("My brother")
    card = b.card()
    assert card.judge_model is None and [c["metric"] for c in card.columns] == ["response_hall", "object_hall"]
    assert card.columns[0]["headline"] and card.columns[0]["order"] == 80


class ScriptedJudge:
    """Answers extraction requests from a script keyed by (item key, attempt); ``None`` is a failed call."""

    model = "scripted-judge"

    def __init__(self, script: dict[tuple[str, int], str | None]) -> None:
        self.script = script
        self.requests: list[JudgeRequest] = []

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        self.requests.extend(requests)
        replies = []
        for r in requests:
            text = self.script.get((r.key, r.attempt), self.script.get((r.key, -1)))
            replies.append(JudgeReply(r, text, error=None if text is not None else "HTTP 500"))
        return replies


# Replaces spaCy en_core_web_trf on "a <object>": (lemma, tag) per token.
SPACY_TAGS = {"a": "DT", "wooden": "JJ"}
SPACY_LEMMAS = {"dogs": "dog"}


def standin_analyse(text: str) -> list[tuple[str, str]]:
    return [(SPACY_LEMMAS.get(w, w), SPACY_TAGS.get(w, "NN")) for w in text.split()]


def test_llm_path_asks_the_judge_parses_refines_and_never_scores_a_missing_answer(tmp_path):
    b = bench(extraction="llm", judge_model="scripted-judge", max_attempts=3, analyser=standin_analyse)
    assert b.needs_judge and b.card().judge_model == "scripted-judge"
    items = b.load(_data_dir(tmp_path))
    answers = {
        "0": ANSWERS["0"],
        "1": "An elephant.",
        "2": "A clean bathroom with a toilet seat.",
        "3": "There is a passenger train.",
    }
    judge = ScriptedJudge(
        {
            # "()" is what the prompt itself asks for an empty list, and is not JSON: asked again.
            ("objhal/0", 0): "()",
            (
                "objhal/0",
                1,
            ): 'Here are the objects:\n["wooden table", "brother", "dogs", "tennis ball", "hot dog", "dog"]',
            ("objhal/2", -1): '["toilet", "seat"]',
            ("objhal/3", -1): None,  # the call fails every time: missing
        }
    )
    report = b.score(items, answers, judge, runs=1)
    # "An elephant." has 3 or fewer words: no call, no objects.
    assert sorted({(r.key, r.attempt) for r in judge.requests}) == [
        ("objhal/0", 0),
        ("objhal/0", 1),
        ("objhal/2", 0),
        ("objhal/3", 0),
    ]
    sent = judge.requests[0]
    assert sent.messages == (
        (
            "system",
            EXTRACTION_PROMPT.replace("{question}", PROMPTS[0]).replace(
                "{answer}", answers["0"].replace("Assistant:", "").strip()
            ),
        ),
    )
    assert (sent.temperature, sent.max_tokens) == (0.2, 512)
    run = report.records[0]["runs"][0]
    # wooden table → table; dogs → dog (de-duplicated with "dog"); "tennis ball" is no synonym: dropped;
    # "hot dog" is a two-word unit.
    assert run["candidates"] == ["table", "brother", "dog", "tennis ball", "hot dog"]
    assert run["mentions"] == [["table", "dining table"], ["brother", "person"], ["dog", "dog"], ["hot dog", "hot dog"]]
    assert report.records[2]["runs"][0]["mentions"] == [["toilet", "toilet"]]  # seat dropped beside a toilet
    # Scored: 0 (1 of 4 mentions wrong), 1 (no object), 2 (toilet, right); 3 is missing, not scored.
    assert report.metrics["response_hall"] == pytest.approx(50.0)
    assert report.metrics["object_hall"] == pytest.approx(20.0)
    assert report.metrics["responses"] == 3.0
    assert not report.complete and report.missing == [{"item": "3", "run": 0, "reason": "judge_error: HTTP 500"}]
    assert report.failures == {"run0": 1, "total": 1}


def test_llm_path_needs_a_judge_and_an_unparseable_reply_is_missing_after_max_attempts(tmp_path):
    b = bench(extraction="llm", max_attempts=2, analyser=standin_analyse)
    items = b.load(_data_dir(tmp_path))
    with pytest.raises(HarnessError, match="benchmark 'objhal' needs a judge"):
        b.score(items, ANSWERS)
    judge = ScriptedJudge({("objhal/0", -1): "I cannot tell.", ("objhal/3", -1): "[]"})
    answers = {**ANSWERS, "3": "A long passenger train passes."}
    report = b.score(items, answers, judge)
    assert report.unparsed == {"no_json_list": 1, "total": 1}
    assert report.missing == [{"item": "0", "run": 0, "reason": "unparseable extraction after 2 asks"}]


def test_reply_parsing_follows_the_official_rules():
    assert parse_object_list('["a", "b"]') == ["a", "b"]
    assert parse_object_list('Objects:\n["cat", "mat"]') == ["cat", "mat"]  # the last line, when '["' occurs
    assert parse_object_list("()") is None and parse_object_list("no objects") is None
    assert parse_object_list('"cat"') == ["c", "a", "t"]  # a JSON string is iterated by character, as the official
    assert parse_object_list("42") is None


def test_extraction_prompt_is_the_official_one():
    assert len(EXTRACTION_PROMPT) == 912
    assert PROMPT_SHA256 == "9d732f9b73a3cc965bee6eb163b8e5248e58bd9d382eb583e9ece59933e2b580"


def test_question_file_blob_and_bad_input(tmp_path):
    data = _data_dir(tmp_path)
    with pytest.raises(HarnessError, match=r"git blob SHA-1 [0-9a-f]{40}, expected cb8e15a81a1d"):
        ObjHalBenchmark().load(data)
    blob = git_blob_sha1(data / QUESTIONS)
    content = (data / QUESTIONS).read_bytes()
    assert blob == hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    assert len(ObjHalBenchmark(questions_git_blob=blob).load(data)) == 4

    b = bench()
    items = b.load(data)
    path = tmp_path / "answers.jsonl"
    b.write_predictions(path, items, ANSWERS)
    assert json.loads(path.read_text().splitlines()[0]) == {
        "question_id": 0,
        "image_id": 1,
        "prompt": PROMPTS[0],
        "text": ANSWERS["0"],
    }
    assert b.read_predictions(path, items) == ANSWERS

    def check(lines: list[str], pattern: str) -> None:
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(HarnessError, match=pattern):
            b.read_predictions(path, items)

    good = [json.dumps({"question_id": int(k), "text": v}) for k, v in ANSWERS.items()]
    check(good[:2] + ["[1, 2]"] + good[2:], r"answers\.jsonl:3: expected a JSON object")
    check(good + [json.dumps({"question_id": 300, "text": "x"})], r"answers\.jsonl:5: question_id 300 is not")
    check(good + [good[1]], r"answers\.jsonl:5: question_id 1 appears more than once")
    check(good[:3], r"answers\.jsonl: no answer for id 3")
    check(
        [json.dumps({"question_id": 0, "image_id": 2, "text": "x"})], r"answers\.jsonl:1: question_id 0 has image_id 2"
    )
    # Without question_id, the image id identifies the question (the 300 images are distinct).
    path.write_text("".join(json.dumps({"image_id": i, "answer": "x"}) + "\n" for i in (1, 2, 3, 100)))
    assert b.read_predictions(path, items) == {"0": "x", "1": "x", "2": "x", "3": "x"}


def test_data_sources_and_missing_coco_annotations(tmp_path):
    sources = {s.path: s for s in ObjHalBenchmark().data_sources()}
    assert sources[QUESTIONS].url.endswith(
        "/RLHF-V/RLAIF-V/83d917b2e8118ca8e7877a796d72af9bb3e6b356/eval/data/obj_halbench_300_with_image.jsonl"
    )
    assert sources[SYNONYMS_REFINE].sha256 == "681041d2958d7871ed6fa69c3108f34aa6a0a354eb53ed4c5a425e65f86bc72a"
    assert sources["annotations_trainval2014.zip"].unpack
    data = _data_dir(tmp_path)
    (data / "annotations" / "instances_val2014.json").unlink()
    b = bench()
    items = b.load(data)
    with pytest.raises(HarnessError, match=r"instances_val2014\.json: COCO annotation file not found"):
        b.score(items, ANSWERS)


@pytest.mark.skipif(not (SHARED / "synonyms_refine.txt").is_file(), reason=f"synonyms_refine.txt not at {SHARED}")
def test_real_refined_list_makes_every_multi_word_entry_a_unit():
    from benchmarks.common.coco_vocab import CocoVocabulary

    vocab = CocoVocabulary.read(SHARED / "synonyms_refine.txt", refined=True)
    assert vocab.double_words["coffee table"] == "coffee table" and vocab.double_words["remote control"]
    assert vocab.double_words["bow tie"] == "tie" and vocab.double_words["home plate"] == "home plate"
    assert vocab.mentions(["a", "remote", "control"]).classes == ["remote"]
