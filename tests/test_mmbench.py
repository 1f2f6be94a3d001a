"""MMBench (dev, EN): loading, prompts, predictions I/O, extraction rules, CircularEval, scores.

The fixture (tests/fixtures/mmbench_dev_tiny, written by tests/fixtures/mmbench_make_fixture.py)
holds six questions with their rotated copies. With the predictions in
tests/fixtures/mmbench_predictions.tsv and the recorded extractor replies in
tests/fixtures/mmbench_judge_replies.json, the outcomes worked out by hand are:

  q  category / l2                         rows  what happens                               run0 run1
  1  image_emotion / coarse_perception        4  all letters right by rule                    1    1
  2  image_emotion / coarse_perception        2  copy 1000002 says B, answer A: group fails   0    0
  3  spatial_relationship / relation_reas.    3  text match + letter + "A or B" to the judge  1    0
                                                  (run0 judge "A" = answer, run1 "B")
  4  ocr / finegrained (instance-level)       4  3000004 to the judge, which says "Z"          0    0
  5  spatial_relationship / relation_reas.    2  row 5 to the judge. run0: three unreadable     0*   -
                                                  replies -> the official random letter (seed
                                                  0 draws Z: miss). run1: two unreadable replies,
                                                  then a failed call -> never answered: missing
  6  celebrity_recognition / coarse_perc.     4  all letters right by rule                    1    1

  run0: overall 3/6 = 50; coarse 2/3; relation 1/2; instance-level 0/1
  run1: overall 2/5 = 40 (q5 left out); coarse 2/3; relation 0/1; instance-level 0/1
"""

from __future__ import annotations

import base64
import io
import json
import random
import shutil
from pathlib import Path

import pytest
from PIL import Image

import benchmarks.mmbench.circular as mmbench_circular
import benchmarks.mmbench.extract as mmbench_extract
from benchmarks import mmbench
from benchmarks.mmbench import MMBenchBenchmark, llava_prompt
from benchmarks.mmbench.circular import Row, evaluate_group
from benchmarks.mmbench.extract import infer, judge_prompt, template_sha256
from harness.errors import HarnessError
from harness.judge.types import JudgeReply
from harness.plugins import registry
from tests.judged_bench_fakes import Failed, RecordedJudge

FIXTURES = Path(__file__).parent / "fixtures"
TSV = "MMBench_DEV_EN.tsv"
SUFFIX = "Answer with the option's letter from the given choices directly."


class BatchRecordingJudge(RecordedJudge):
    """RecordedJudge that also keeps the size of every batch (wave) it receives."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    def judge(self, requests):
        self.batches.append(len(requests))
        return super().judge(requests)


def recorded_judge() -> BatchRecordingJudge:
    data = json.loads((FIXTURES / "mmbench_judge_replies.json").read_text(encoding="utf-8"))
    answers = {
        (r["key"], r["run_index"], r["attempt"]): (Failed(r["error"]) if "error" in r else r["text"])
        for r in data["replies"]
    }
    return BatchRecordingJudge(answers, model="recorded-gpt")


@pytest.fixture
def data_dir(tmp_path) -> Path:
    target = tmp_path / "mmbench"
    shutil.copytree(FIXTURES / "mmbench_dev_tiny", target)
    return target


@pytest.fixture
def bench() -> MMBenchBenchmark:
    return MMBenchBenchmark()


@pytest.fixture
def items(bench, data_dir):
    return bench.load(data_dir)


@pytest.fixture
def preds(bench, items):
    return bench.read_predictions(FIXTURES / "mmbench_predictions.tsv", items)


# --------------------------------------------------------------------------- registration, card
def test_plugin_registers_and_card_names_protocol(bench):
    reg = registry(entry_points=False, extra=[mmbench])
    assert reg.benchmark("mmbench") is MMBenchBenchmark
    card = bench.protocol()
    assert card.judge_model == "gpt-4-1106-preview"
    assert (card.judge_temperature, card.judge_max_tokens) == (0.0, 1024)
    assert [(c.label, c.metric, c.lower_is_better, c.decimals, c.headline, c.order) for c in bench.columns] == [
        ("MMBench", "overall", False, 1, True, 50)
    ]
    assert template_sha256() in card.prompt_version
    assert "b6caf1133a01c6bb705cf753bb527ed8" in card.data_version
    assert card.generation["suffix"] == SUFFIX and card.generation["max_new_tokens"] == 1024
    assert any("random letter" in d and "random_fallback_seed" in d for d in card.deviations)
    assert any("gpt-3.5-turbo-0125" in d for d in card.deviations)
    (source,) = bench.data_sources()
    assert source.md5 == "b6caf1133a01c6bb705cf753bb527ed8"
    assert source.url.endswith("/utils/benchmarks/MMBench/MMBench_DEV_EN.tsv")
    assert MMBenchBenchmark(judge_model="gpt-4o-mini").protocol().judge_model == "gpt-4o-mini"


def test_judge_template_is_verbatim():
    assert len(mmbench_extract.JUDGE_TEMPLATE) == 764
    assert template_sha256() == mmbench_extract.JUDGE_TEMPLATE_SHA256
    prompt = judge_prompt("What is it", {"A": "cat", "B": "dog"}, "a puppy")
    assert prompt.endswith(
        "Example 3: \nQuestion: What is it?\nOptions: There are several options: \n"
        "A. cat\nB. dog\n\nAnswer: a puppy\nYour output: "
    )


# --------------------------------------------------------------------------- load
def test_load_reads_rows_copies_prompts_and_images(items, data_dir):
    assert len(items) == 19
    by_id = {item.id: item for item in items}
    # every group's rows are adjacent, main question first
    assert [i.id for i in items[:6]] == ["1", "1000001", "2000001", "3000001", "2", "1000002"]
    copy = by_id["1000001"].meta
    assert copy["g_index"] == 1 and copy["answer"] == "D"
    assert copy["choices"] == {"A": "sad", "B": "angry", "C": "surprised", "D": "happy"}
    assert copy["group"] == [1, 1000001, 2000001, 3000001]
    assert by_id["2"].meta["choices"] == {"A": "yes", "B": "no"}  # C and D are NaN
    # LLaVA-1.5 model_vqa_mmbench.py --single-pred-prompt layout
    assert by_id["3"].prompt == (
        "The image shows a kitchen table.\nWhere is the apple relative to the box?\n"
        "A. left of the box\nB. right of the box\nC. on top of the box\n" + SUFFIX
    )
    assert by_id["1000002"].prompt == "Is the person smiling?\nA. no\nB. yes\n" + SUFFIX
    # images: decoded once into data_dir/images, copies share the main row's file
    assert by_id["1000001"].image == by_id["1"].image == data_dir / "images" / "1.png"
    assert by_id["1000005"].image == data_dir / "images" / "1000005.jpg"  # legacy row: its own image
    with Image.open(by_id["4"].image) as img:
        assert img.size == (2, 2) and img.convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    stamp = by_id["1"].image.stat().st_mtime_ns
    again = MMBenchBenchmark().load(data_dir)
    assert again[0].image.stat().st_mtime_ns == stamp  # cached, not rewritten
    assert not list((data_dir / "images").glob(".*.tmp"))


def test_llava_prompt_stops_at_first_missing_option():
    assert llava_prompt("Q", float("nan"), {"A": "x", "B": "none", "C": "z", "D": None}) == "Q\nA. x\n" + SUFFIX


def _write_tsv(data_dir: Path, edit) -> None:
    path = data_dir / TSV
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda ls: ls + [ls[1] + "\textra"], "malformed TSV"),
        (lambda ls: ls + [ls[5]], "index 2 appears twice"),
        (lambda ls: [ls[0]] + [ls[1].replace("1\t", "x1\t", 1)] + ls[2:], "index 'x1' is not an integer"),
        (
            lambda ls: [ls[0]] + [l for l in ls[1:] if not l.startswith("2\t")],
            "circular copy without its main question 2",
        ),
        (
            lambda ls: [ls[0]] + [ls[1].replace("\tA\timage_emotion", "\tE\timage_emotion")] + ls[2:],
            "index 1: answer 'E' is not one of the options",
        ),
        (lambda ls: [l.replace("\tdev\t1", "\tdev\t99") for l in ls], "index 1000001: image refers to index '99'"),
        (lambda ls: [ls[0].replace("\tcategory\t", "\tkind\t")] + ls[1:], "missing column(s) category"),
    ],
)
def test_load_errors_name_file_and_row(bench, data_dir, edit, message):
    _write_tsv(data_dir, edit)
    with pytest.raises(HarnessError, match="MMBench_DEV_EN.tsv") as err:
        bench.load(data_dir)
    assert message in str(err.value)


def test_load_missing_file(bench, tmp_path):
    with pytest.raises(HarnessError, match=r"MMBench_DEV_EN.tsv: file not found"):
        bench.load(tmp_path)


def test_load_bad_base64_image(bench, data_dir):
    _write_tsv(data_dir, lambda ls: [ls[0]] + [ls[1].rsplit("\t", 1)[0] + "\t" + "!" * 80] + ls[2:])
    with pytest.raises(HarnessError, match="index 1: image column is not a base64 image"):
        bench.load(data_dir)


# --------------------------------------------------------------------------- predictions
def test_predictions_round_trip_tsv_and_llava_jsonl(bench, items, preds, tmp_path):
    assert preds["2000001"] == "(C) angry" and len(preds) == 19
    tricky = dict(preds, **{"1": 'line one\nline\ttwo "quoted"'})
    for name in ("out.tsv", "answers.jsonl"):
        bench.write_predictions(tmp_path / name, items, tricky)
        assert bench.read_predictions(tmp_path / name, items) == tricky
    header = (tmp_path / "out.tsv").read_text(encoding="utf-8").splitlines()[0].split("\t")
    assert header[0] == "index" and header[-1] == "prediction" and "image" not in header


def test_empty_prediction_reads_as_nan_like_the_official_scorer(bench, items, tmp_path):
    path = tmp_path / "p.tsv"
    bench.write_predictions(path, items, {item.id: "A" for item in items} | {"6": ""})
    assert bench.read_predictions(path, items)["6"] == "nan"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda ls: ls + [ls[3]], "index 2000001 has a second prediction"),
        (lambda ls: ls[:-1], "no prediction for 1 item(s): index 3000006"),
        (lambda ls: ls + ["7\tWhat?\t\ta\tb\t\t\tA\tocr\tocr\tdev\tA"], "unknown index 7"),
        (lambda ls: ls + ["abc\tWhat?\t\ta\tb\t\t\tA\tocr\tocr\tdev\tA"], "data row 20: index 'abc' is not an integer"),
        (lambda ls: [ls[0], ls[1].replace("What emotion", "Which emotion")] + ls[2:], "question differs"),
    ],
)
def test_prediction_errors_name_file_and_index(bench, items, tmp_path, edit, message):
    lines = (FIXTURES / "mmbench_predictions.tsv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "bad.tsv"
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="bad.tsv") as err:
        bench.read_predictions(path, items)
    assert message in str(err.value)


def test_llava_jsonl_errors(bench, items, tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"question_id": 1, "text": "A"}\n{"question_id": 1, "text": "B"}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"answers.jsonl:2: index 1 has a second prediction"):
        bench.read_predictions(path, items)
    path.write_text('{"question_id": 1, "text": "A", "round_id": 2}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"answers.jsonl:1: round_id 2"):
        bench.read_predictions(path, items)
    with pytest.raises(HarnessError, match="nope.tsv: file not found"):
        bench.read_predictions(tmp_path / "nope.tsv", items)


# --------------------------------------------------------------------------- extraction rules
FOUR = {"A": "happy", "B": "sad", "C": "angry", "D": "surprised"}
TWO = {"A": "the cup", "B": "the plate"}


@pytest.mark.parametrize(
    "answer, choices, expected, rule",
    [
        # option letter forms
        ("A", FOUR, "A", "option_letter"),
        ("(B)", FOUR, "B", "option_letter"),
        ("C.", FOUR, "C", "option_letter"),
        ("[D]", FOUR, "D", "option_letter"),
        ("**B**: sad", FOUR, "B", "option_letter"),
        ("The answer is C", FOUR, "C", "option_letter"),
        ("A cat", FOUR, "A", "option_letter"),  # "A might be a quantifier" check is off (VERBOSE unset)
        ("The correct option is D, surprised.", FOUR, "D", "option_letter"),
        # a letter that is not a valid option is not an answer; lower case is not a letter
        ("D", TWO, None, "no_match"),
        ("b", TWO, None, "no_match"),
        # ambiguous: two letters, or two option texts
        ("A or B", FOUR, None, "ambiguous"),
        ("Either A. happy or C. angry", FOUR, None, "ambiguous"),
        ("the cup or the plate", TWO, None, "no_match"),
        # option text match (only when no letter decides), case-insensitive substring
        ("I would say Happy", FOUR, "A", "option_text"),
        ("It is the plate.", TWO, "B", "option_text"),
        # Z: a lone Z token, or a refusal phrase
        ("Z", FOUR, "Z", "lone_z"),
        ("Sorry, I can't help with images of people yet.", FOUR, "Z", "refusal"),
        ("Cannot determine the answer: A", FOUR, "Z", "refusal"),
        ("A and Z", FOUR, "A", "option_letter"),
        # the API failure marker gives no option, but the text match still runs (as in VLMEvalKit)
        ("Failed to obtain answer via API", FOUR, None, "api_failure_text"),
        ("Failed to obtain answer via API: sad", FOUR, "B", "option_text"),
        # answers that need the judge
        ("Neither object is close", TWO, None, "no_match"),
        (float("nan"), TWO, None, "no_match"),  # str() -> "nan"
    ],
)
def test_extraction_rules(answer, choices, expected, rule):
    assert infer(answer, choices) == (expected, rule)


# --------------------------------------------------------------------------- CircularEval groups
def _group(predictions: list[str]) -> list[Row]:
    options = ["happy", "sad", "angry", "surprised"]
    rows = []
    for k, pred in enumerate(predictions):
        rotated = options[k:] + options[:k]
        rows.append(
            Row(
                index=k * 1_000_000 + 7,
                answer="ABCD"[(0 - k) % 4],
                question="Emotion?",
                choices=dict(zip("ABCD", rotated)),
                prediction=pred,
            )
        )
    return rows


def _drive(gen, replies: list[str | None]):
    """Run a group generator, answering its requests in order; returns (result, requests)."""
    requests = []
    try:
        request = next(gen)
        for text in replies:
            requests.append(request)
            reply = JudgeReply(request, text, error=None if text is not None else "boom")
            request = gen.send(reply)
        raise AssertionError(f"group asked for more than {len(replies)} replies")
    except StopIteration as stop:
        return stop.value, requests


def test_one_failed_rotated_copy_fails_the_group_without_judge_calls():
    result, requests = _drive(evaluate_group(_group(["A", "D", "B", "B"]), 0, has_judge=True), [])
    assert (result.hit, result.status, requests) == (0, "rule_miss", [])
    ok, _ = _drive(evaluate_group(_group(["A", "D", "C", "B"]), 0, has_judge=True), [])
    assert (ok.hit, ok.status) == (1, "rule_hit")


def test_rule_miss_wins_over_rows_that_need_the_judge():
    # row 0 needs the judge, row 3 is wrong by rule: the official prefetch fails the group first
    result, requests = _drive(evaluate_group(_group(["hmm", "D", "C", "A"]), 0, has_judge=True), [])
    assert (result.hit, result.status, requests) == (0, "rule_miss", [])


def test_judge_rows_in_order_stop_at_first_wrong_letter():
    result, requests = _drive(evaluate_group(_group(["hmm", "D", "hmm", "hmm"]), 0, has_judge=True), ["A", "B"])
    # row 0 -> A (right), row 2000007 -> B (answer C): stop, row 3000007 never asked
    assert [r.key for r in requests] == ["mmbench/7/extract", "mmbench/2000007/extract"]
    assert (result.hit, result.status) == (0, "judge_miss")
    assert all(r.temperature == 0.0 and r.max_tokens == 1024 and r.messages[0][0] == "user" for r in requests)


def test_three_unreadable_answers_then_the_official_random_letter():
    result, requests = _drive(evaluate_group(_group(["hmm", "D", "C", "B"]), 2, has_judge=True), ["", "no idea", "A B"])
    assert [(r.attempt, r.run_index) for r in requests] == [(0, 2), (1, 2), (2, 2)]
    assert len({r.cache_key("m") for r in requests}) == 3
    assert result.unparsed == ["no_match", "no_match", "ambiguous"]
    letter = random.Random("mmbench/0/2/7").choice(["A", "B", "C", "D", "Z"])  # seed 0, run 2, row 7
    assert result.rows[0]["source"] == "random" and result.rows[0]["extracted"] == letter
    assert (result.hit, result.status) == ((1, "random_hit") if letter == "A" else (0, "random_miss"))
    nojudge, requests = _drive(evaluate_group(_group(["hmm", "D", "C", "B"]), 0, has_judge=False), [])
    assert (nojudge.hit, nojudge.status, requests) == (0, "no_judge", [])


def test_a_call_never_answered_leaves_the_group_undecided():
    result, requests = _drive(evaluate_group(_group(["hmm", "D", "C", "B"]), 0, has_judge=True), ["x", None])
    assert len(requests) == 2  # no third attempt, no random letter
    assert (result.hit, result.status, result.missing) == (None, "missing", True)
    assert result.missing_reason == "judge_error: boom" and result.unparsed == ["no_match"]


def test_random_fallback_is_seeded():
    outcomes = set()
    for seed in range(12):
        a, _ = _drive(
            evaluate_group(_group(["hmm", "D", "C", "B"]), 0, has_judge=True, random_seed=seed), ["?", "?", "?"]
        )
        b, _ = _drive(
            evaluate_group(_group(["hmm", "D", "C", "B"]), 0, has_judge=True, random_seed=seed), ["?", "?", "?"]
        )
        assert (a.hit, a.rows[0]["extracted"]) == (b.hit, b.rows[0]["extracted"])
        assert a.rows[0]["source"] == "random" and a.rows[0]["extracted"] in {"A", "B", "C", "D", "Z"}
        assert a.guessed and a.status in ("random_hit", "random_miss")
        outcomes.add(a.hit)
    assert outcomes == {0, 1}  # some seeds guess right, some wrong


# --------------------------------------------------------------------------- scores by hand
def test_scores_with_recorded_judge_two_runs(bench, items, preds):
    judge = recorded_judge()
    report = bench.score(items, preds, judge, runs=2)
    run0, run1 = report.per_run
    assert run0["overall"] == pytest.approx(50.0)
    assert run1["overall"] == pytest.approx(40.0)  # q5 never got its extraction: left out of run 1
    assert run0["l2-category/coarse_perception"] == pytest.approx(100 * 2 / 3)
    assert run0["l2-category/relation_reasoning"] == pytest.approx(50.0)
    assert run1["l2-category/relation_reasoning"] == pytest.approx(0.0)
    assert run0["l2-category/finegrained_perception (instance-level)"] == 0.0
    assert run0["category/image_emotion"] == pytest.approx(50.0)
    assert run0["category/celebrity_recognition"] == pytest.approx(100.0)
    assert run0["category/ocr"] == 0.0
    assert run0["category/spatial_relationship"] == pytest.approx(50.0)
    assert report.metrics["overall"] == pytest.approx(45.0)
    assert report.std["overall"] == pytest.approx(5.0)  # population std of 2 runs
    assert report.metrics["category/spatial_relationship"] == pytest.approx(25.0)
    assert report.std["category/spatial_relationship"] == pytest.approx(25.0)
    assert report.std["category/ocr"] == 0.0

    by_id = {r["id"]: r for r in report.records}
    assert [by_id[q]["hit"] for q in "123456"] == [[1, 1], [0, 0], [1, 0], [0, 0], [0, None], [1, 1]]
    assert by_id["2"]["status"] == ["rule_miss", "rule_miss"]
    assert by_id["3"]["status"] == ["judge_hit", "judge_miss"]
    assert by_id["4"]["status"] == ["judge_miss", "judge_miss"]
    assert by_id["5"]["status"] == ["random_miss", "missing"]
    row5 = by_id["5"]["runs"][0][0]
    assert [a["outcome"] for a in row5["judge"]] == ["no_match", "no_match", "ambiguous"]
    assert (row5["source"], row5["extracted"]) == ("random", "Z")  # seed 0 draws Z; the answer is B
    assert [a["outcome"] for a in by_id["5"]["runs"][1][0]["judge"]] == [
        "api_failure_text",
        "no_match",
        "never_answered",
    ]
    assert report.failures == {"run0": 3, "run1": 3, "total": 6, "no_judge": 0}
    assert report.unparsed == {"ambiguous": 1, "api_failure_text": 1, "no_match": 3, "total": 5}
    assert report.missing == [{"item": "5", "run": 1, "reason": "judge_error: RateLimitError: 429"}]
    assert not report.complete and report.official == {}
    assert [by_id[q]["correct"] for q in "123456"] == [True, False, None, False, False, True]
    # the secondary figure leaves the randomly decided q5 out of run 0: 3/5, and run 1: 2/5
    assert report.excluded["overall"] == pytest.approx(50.0)

    # only rows the rules cannot resolve reach the judge; waves: 3+3 first tries, then two retries
    asked = sorted({r.key for r in judge.requests})
    assert asked == ["mmbench/2000003/extract", "mmbench/3000004/extract", "mmbench/5/extract"]
    assert len(judge.requests) == 10 and judge.batches == [6, 2, 2]
    (ambiguous,) = [r for r in judge.requests if r.key == "mmbench/2000003/extract" and r.run_index == 0]
    assert ambiguous.messages == (
        (
            "user",
            judge_prompt(
                "Where is the apple relative to the box?",
                {"A": "on top of the box", "B": "left of the box", "C": "right of the box"},
                "A or B",
            ),
        ),
    )


def test_scores_without_judge_count_the_groups_that_need_it(bench, items, preds):
    report = bench.score(items, preds, None)
    assert report.metrics["overall"] == pytest.approx(100 * 2 / 6)  # only q1 and q6 pass
    assert report.metrics["l2-category/relation_reasoning"] == 0.0
    assert report.failures["run0"] == 0 and report.failures["no_judge"] == 3 and report.complete
    assert {r["id"]: r["status"][0] for r in report.records}["3"] == "no_judge"
    assert report.std["overall"] == 0.0 and len(report.per_run) == 1


def test_random_fallback_seed_changes_only_the_guessed_rows(items, preds):
    default = MMBenchBenchmark().score(items, preds, recorded_judge(), runs=2)
    lucky = MMBenchBenchmark(random_fallback_seed=1).score(items, preds, recorded_judge(), runs=2)
    assert default.per_run[0]["overall"] == pytest.approx(50.0)
    assert lucky.per_run[0]["overall"] == pytest.approx(100 * 4 / 6)  # seed 1 draws B for row 5: a hit
    assert lucky.per_run[1] == default.per_run[1] and lucky.excluded == default.excluded
    again = MMBenchBenchmark(random_fallback_seed=1).score(items, preds, recorded_judge(), runs=2)
    assert again.metrics == lucky.metrics
    assert any("random_fallback_seed=1" in d for d in MMBenchBenchmark(random_fallback_seed=1).protocol().deviations)
    with pytest.raises(HarnessError, match="random_fallback_seed"):
        MMBenchBenchmark(random_fallback_seed="x")


def test_score_refuses_incomplete_groups_and_unknown_ids(bench, items, preds):
    partial = [item for item in items if item.id != "2000003"]
    with pytest.raises(HarnessError, match="question 3 lacks its circular copies 2000003"):
        bench.score(partial, {k: v for k, v in preds.items() if k != "2000003"}, None)
    with pytest.raises(HarnessError, match="no prediction for index 6"):
        bench.score(items, {k: v for k, v in preds.items() if k != "6"}, None)
    with pytest.raises(HarnessError, match="unknown index 8"):
        bench.score(items, preds | {"8": "A"}, None)


def test_judge_reply_count_mismatch_is_an_error(bench, items, preds):
    class Short:
        model = "short"

        def judge(self, requests):
            return []

    with pytest.raises(HarnessError, match="0 replies for 3 requests"):
        bench.score(items, preds, Short())


def test_group_rows_orders_and_checks_main():
    rows = [Row(1000004, "A", "q", {"A": "x", "B": "y"}, "A"), Row(4, "B", "q", {"A": "y", "B": "x"}, "B")]
    assert [r.index for r in mmbench_circular.group_rows(rows)[0]] == [4, 1000004]
    with pytest.raises(HarnessError, match="circular copy 1000009 has no main question 9"):
        mmbench_circular.group_rows([Row(1000009, "A", "q", {"A": "x", "B": "y"}, "A")])


def test_image_bytes_kept_as_released(items, data_dir):
    tsv = (data_dir / TSV).read_text(encoding="utf-8").splitlines()
    b64 = tsv[1].rsplit("\t", 1)[1]
    assert (data_dir / "images" / "1.png").read_bytes() == base64.b64decode(b64)
    with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
        assert img.format == "PNG"
