"""POPE: LLaVA-1.5-13B's published answers give the published figure; the official parser's edge cases;
bad prediction files; `harness data pull pope` against a loopback server.

The real files are in ../shared/data/pope (tests that need them skip without it); tests/fixtures/pope
holds a few crafted questions in the same format.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import pytest

from benchmarks.pope import SUFFIXES, PopeBenchmark
from benchmarks.pope.data import VERSIONS
from benchmarks.pope.parse import lmms_eval_answer, official_answer, split_metrics, vlmevalkit_answer
from harness.data.pull import check, pull
from harness.errors import HarnessError
from tests.http_fixture_server import FixtureServer

POPE_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pope"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "pope"
needs_pope = pytest.mark.skipif(
    not (POPE_SHARED / "llava" / "llava-v1.5-13b_answers.jsonl").is_file(),
    reason=f"POPE files not found at {POPE_SHARED}",
)


# --------------------------------------------------------------------------- the published number


@needs_pope
def test_llava_15_13b_answers_give_the_published_pope_split_by_split():
    bench = PopeBenchmark()
    items = bench.load(POPE_SHARED)
    assert len(items) == 8910
    preds = bench.read_predictions(POPE_SHARED / "llava" / "llava-v1.5-13b_answers.jsonl", items)
    report = bench.score(items, preds)
    m = report.metrics
    # Spec table (official parser, e3e3926 label files): TP/FP/TN/FN and F1 per split.
    expected = {
        "adversarial": (1182, 117, 1383, 318, 0.8445873526),
        "popular": (1182, 59, 1441, 318, 0.8624589566),
        "random": (1182, 31, 1379, 318, 0.8713601180),
    }
    for split, (tp, fp, tn, fn, f1) in expected.items():
        assert (m[f"{split}/TP"], m[f"{split}/FP"], m[f"{split}/TN"], m[f"{split}/FN"]) == (tp, fp, tn, fn)
        assert report.official[f"{split}/F1"] == pytest.approx(f1, abs=5e-11)
    assert round(m["adversarial/Accuracy"], 1) == 85.5 and round(m["popular/Accuracy"], 1) == 87.4
    assert round(m["random/Precision"], 1) == 97.4 and round(m["random/Yes-ratio"], 1) == 41.7
    assert m["F1"] == pytest.approx(85.94688, abs=1e-5)
    assert f"{m['F1']:.1f}" == "85.9"  # LLaVA-1.5-13B in LLaVA's MODEL_ZOO.md
    assert report.unparsed == {}


@needs_pope
def test_current_pope_files_refuse_llavas_answers_instead_of_misaligning():
    bench = PopeBenchmark("current")
    items = bench.load(POPE_SHARED)
    assert len(items) == 9000
    with pytest.raises(HarnessError, match=r"llava-v1\.5-13b_answers\.jsonl: no answer for id 10002911"):
        bench.read_predictions(POPE_SHARED / "llava" / "llava-v1.5-13b_answers.jsonl", items)


@needs_pope
def test_items_match_llavas_question_file_line_for_line():
    items = PopeBenchmark().load(POPE_SHARED)
    rows = [json.loads(line) for line in (POPE_SHARED / "llava" / "llava_pope_test.jsonl").open()]
    assert [(str(r["question_id"]), r["text"], r["category"]) for r in rows] == [
        (i.id, i.prompt, i.meta["split"]) for i in items
    ]


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("No.", "no"),
        ("no.", "no"),
        ("  no", "no"),
        ("There is not a dog.", "no"),
        ("Yes, but no cat", "no"),
        ("NO", "yes"),
        ("No!", "yes"),
        ("No\nThere is a dog.", "yes"),
        ("No,there", "yes"),
        ("Not really", "yes"),
        ("none", "yes"),
        ("nothing", "yes"),
        ("isn't", "yes"),
        ("I don't know", "yes"),
        ("N/A", "yes"),
        ("", "yes"),
        ("Yes, there is a dog. No cats.", "yes"),
        ("There is a dog. No.", "yes"),
        ("...No", "yes"),
        ("Yes", "yes"),
        ("No", "no"),
        ("No\tthere", "yes"),
        ("No, there is not.", "no"),
    ],
)
def test_official_parser_edge_cases_from_the_spec(answer, expected):
    assert official_answer(answer) == expected


def test_optional_parsers():
    assert [lmms_eval_answer(a) for a in ("Yes", " no ", "No.", "yes, a dog")] == ["yes", "no", None, None]
    assert [vlmevalkit_answer(a) for a in ("Yes.", "No, there is none.", "yes or no", "maybe", "NO!")] == [
        "yes",
        "no",
        None,
        None,
        "no",
    ]


def test_split_metrics_formulas_and_zero_denominators():
    m = split_metrics(["yes", "no", "no", "yes"], ["yes", "no", "yes", "no"])
    assert (m["TP"], m["FP"], m["TN"], m["FN"]) == (1, 1, 1, 1)
    assert m["F1"] == m["Accuracy"] == m["Precision"] == m["Recall"] == m["Yes-ratio"] == 0.5
    none_yes = split_metrics(["no", "no"], ["yes", "no"])  # official: ZeroDivisionError; here 0 with the counts
    assert none_yes["Precision"] == 0.0 and none_yes["F1"] == 0.0 and none_yes["TP"] + none_yes["FP"] == 0
    unparsed = split_metrics([None, "yes"], ["yes", "yes"])
    assert unparsed["Accuracy"] == 0.5 and unparsed["unparsed"] == 1 and unparsed["Yes-ratio"] == 0.5


# --------------------------------------------------------------------------- the crafted files

ANSWERS = {
    # adversarial: TP, TN, FN ("not"), FP ("NO" is case-sensitive, read as yes)
    "1": "Yes",
    "2": "No.",
    "3": "There is not a dog.",
    "4": "NO",
    # random: TP, TN, TP
    "10000001": "Yes, there is.",
    "10000002": "no",
    "10000003": "Yes",
    # popular: FN, TN, FN, TN (no yes prediction at all)
    "20000001": "No",
    "20000002": "No",
    "20000003": "No",
    "20000004": "No",
}


def test_crafted_split_scores_and_the_mean_headline():
    bench = PopeBenchmark()
    items = bench.load(FIXTURE)
    assert [i.id for i in items][:5] == ["1", "2", "3", "4", "10000001"]
    assert items[0].prompt == "Is there a snowboard in the image?" + SUFFIXES["llava"]
    assert items[0].image == FIXTURE / "val2014" / "COCO_val2014_000000310196.jpg"
    report = bench.score(items, ANSWERS)
    m = report.metrics
    # F1: adversarial 0.5, random 1.0, popular 0 (no yes prediction) → mean 0.5.
    assert m["adversarial/F1"] == pytest.approx(50.0) and m["random/F1"] == pytest.approx(100.0)
    assert m["popular/F1"] == 0.0 and m["popular/TP"] + m["popular/FP"] == 0
    assert m["F1"] == pytest.approx(50.0)
    assert m["Accuracy"] == pytest.approx(100 * (0.5 + 1 + 0.5) / 3)
    assert m["Yes-ratio"] == pytest.approx(100 * (0.5 + 2 / 3 + 0) / 3)
    assert [r["correct"] for r in report.records[:4]] == [True, True, False, False]


def test_prompt_suffix_and_version_are_named_choices_in_the_card():
    bench = PopeBenchmark(prompt_suffix="none")
    assert bench.load(FIXTURE)[0].prompt == "Is there a snowboard in the image?"
    card = bench.card()
    assert card.prompt_version == "suffix 'none': ''"
    assert any("prompt suffix 'none'" in d for d in card.deviations)
    assert [c["metric"] for c in card.columns] == ["F1", "Accuracy", "Yes-ratio"]
    assert card.columns[0]["headline"] and card.columns[0]["order"] == 60
    assert "e3e39262c85a" in PopeBenchmark().card().data_version
    with pytest.raises(HarnessError, match="prompt_suffix 'short' unknown"):
        PopeBenchmark(prompt_suffix="short")


def test_bad_prediction_lines_name_the_file_and_line(tmp_path):
    bench = PopeBenchmark()
    items = bench.load(FIXTURE)
    path = tmp_path / "answers.jsonl"
    bench.write_predictions(path, items, ANSWERS)
    assert bench.read_predictions(path, items) == ANSWERS
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"question_id": 1, "prompt": items[0].prompt, "text": "Yes", "metadata": {}}

    def check_error(lines: list[str], pattern: str) -> None:
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(HarnessError, match=pattern):
            bench.read_predictions(path, items)

    good = [json.dumps({"question_id": int(k), "text": v}) for k, v in ANSWERS.items()]
    check_error(good[:3] + ["{oops"] + good[3:], r"answers\.jsonl:4: malformed JSON line")
    check_error(
        good + [json.dumps({"question_id": 10000004, "text": "Yes"})],
        r"answers\.jsonl:12: question_id 10000004 is not a POPE question",
    )
    check_error(good + [good[0]], r"answers\.jsonl:12: question_id 1 appears more than once")
    check_error(good[1:], r"answers\.jsonl: no answer for id 1\b")
    check_error([json.dumps({"question_id": 1, "answer": 3})] + good[1:], r"answers\.jsonl:1: question_id 1: missing")
    check_error([json.dumps({"text": "Yes"})], r"answers\.jsonl:1: missing or non-integer field 'question_id'")


def test_bad_label_file_names_the_file_and_line(tmp_path):
    data = tmp_path / "pope"
    folder = data / VERSIONS["llava"].folder
    folder.mkdir(parents=True)
    for split in ("adversarial", "random", "popular"):
        (folder / f"coco_pope_{split}.json").write_text((FIXTURE / VERSIONS["llava"].path(split)).read_text())
    target = folder / "coco_pope_random.json"
    target.write_text(target.read_text() + json.dumps({"question_id": 1, "image": "x.jpg", "text": "?", "label": "no"}))
    with pytest.raises(HarnessError, match=r"coco_pope_random\.json:4: question_id 1 appears twice"):
        PopeBenchmark().load(data)
    target.write_text((FIXTURE / VERSIONS["llava"].path("random")).read_text())
    (folder / "coco_pope_popular.json").unlink()
    with pytest.raises(HarnessError, match=r"coco_pope_popular\.json: POPE popular question/label file .*not found"):
        PopeBenchmark().load(data)


def test_harness_eval_scores_a_prediction_file_and_writes_nothing_on_bad_input(tmp_path):
    from harness.evaluate import evaluate

    preds = tmp_path / "answers.jsonl"
    preds.write_text(
        "".join(json.dumps({"question_id": int(k), "text": v}) + "\n" for k, v in ANSWERS.items())
        + json.dumps({"question_id": 3, "text": "Yes"})
        + "\n"
    )
    out = tmp_path / "res" / "results.json"
    with pytest.raises(HarnessError, match=r"answers\.jsonl:12: question_id 3 appears more than once"):
        evaluate("pope", data_dir=FIXTURE, predictions=preds, out=out, own_data=True)  # crafted data: own data
    assert not out.exists() and not out.with_name("results.partial.json").exists()
    preds.write_text("".join(json.dumps({"question_id": int(k), "text": v}) + "\n" for k, v in ANSWERS.items()))
    results = evaluate("pope", data_dir=FIXTURE, predictions=preds, out=out, own_data=True)
    assert results.metrics["F1"] == pytest.approx(50.0)
    assert results.protocol["data_version"].startswith("own data (--own-data), not pope's release")
    stored = json.loads(out.read_text())
    assert stored["protocol"]["benchmark"] == "pope" and stored["metrics"]["F1"] == pytest.approx(50.0)


# --------------------------------------------------------------------------- harness data pull pope


@needs_pope
def test_data_pull_fetches_verifies_and_resumes_against_a_loopback_server(tmp_path):
    real = {
        VERSIONS["llava"].path(s): POPE_SHARED / "coco_llava_pinned_e3e3926" / f"coco_pope_{s}.json"
        for s in VERSIONS["llava"].sha256
    }
    real.update(
        {VERSIONS["current"].path(s): POPE_SHARED / "coco" / f"coco_pope_{s}.json" for s in VERSIONS["current"].sha256}
    )
    sources = PopeBenchmark().data_sources()
    manual = [s for s in sources if s.manual]
    assert [s.path for s in manual] == ["val2014.zip"] and "images.cocodataset.org/zips/val2014.zip" in manual[0].note
    files = {urlparse(s.url).path: real[s.path].read_bytes() for s in sources if not s.manual}
    for s in sources:
        if not s.manual:  # the checksums in the code are the files' own
            assert hashlib.sha256(real[s.path].read_bytes()).hexdigest() == s.sha256
            assert s.url.startswith("https://raw.githubusercontent.com/RUCAIBox/POPE/")
    with FixtureServer(files) as srv:
        local = [replace(s, url=srv.url(urlparse(s.url).path)) if not s.manual else s for s in sources]
        cut = urlparse(local[0].url).path
        srv.cut_after[cut] = (100_000, 1)
        with pytest.raises(HarnessError):
            pull(local, tmp_path, retries=0, progress=False, retry_wait=0.0, timeout=10.0)
        report = pull(local, tmp_path, retries=0, progress=False, retry_wait=0.0, timeout=10.0)
        first = [e for e in report.entries if e.path == local[0].path][0]
        assert first.status == "downloaded" and first.resumed_from == 100_000
        assert srv.seen(cut)[1].headers.get("range") == "bytes=100000-"
    state = check(local, tmp_path)
    assert [e.status for e in state.entries if not e.manual] == ["present"] * 6
    items = PopeBenchmark().load(tmp_path)
    assert len(items) == 8910
