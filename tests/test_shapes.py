"""The shapes benchmark: items, prediction files and scores worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.shapes import (
    ShapesBenchmark,
    bench_scene,
    describe_mentions,
    metrics_from_counters,
    record_counters,
    scene_units,
    sum_counters,
)
from harness.errors import HarnessError
from harness.images.synthetic import SKEWED, make_scene
from harness.report.bootstrap import intervals, paired_test

# Scenes 0-2 of "shapes-bench": 0 = blue square + green circle, 1 = blue square, 2 = yellow square.
ANSWERS = {
    "0-circle": "Yes",  # truth yes: correct
    "0-square": "No",  # truth yes: wrong, an answer "No"
    "0-triangle": "No",  # truth no: correct (true positive)
    "1-circle": "yes",  # truth no: wrong (not exactly "Yes"/"No"); normalised "Yes" still wrong
    "1-square": "Yes",  # correct
    "1-triangle": "No.",  # truth no: wrong; normalised "No" correct
    "2-circle": "No",  # truth no: correct
    "2-square": "Yes",  # correct
    "2-triangle": "Yes",  # truth no: wrong (false negative)
    "0-describe": "There is a green circle and a red square.",  # red square hallucinated (wrong colour)
    "1-describe": "There is a blue square and a circle.",  # circle hallucinated (what the prior expects)
    "2-describe": "A yellow square. Two squares.",  # two correct mentions
}


@pytest.fixture()
def bench(tmp_path) -> ShapesBenchmark:
    return ShapesBenchmark(scenes=3, image_dir=tmp_path / "cache")


def write_preds(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_scenes_are_the_ones_the_hand_computation_assumes():
    assert [s.name for s in bench_scene(0).shapes] == ["blue square", "green circle"]
    assert [s.name for s in bench_scene(1).shapes] == ["blue square"]
    assert [s.name for s in bench_scene(2).shapes] == ["yellow square"]


def test_items_and_images_are_deterministic(tmp_path):
    a = ShapesBenchmark(scenes=3).load(tmp_path / "a")
    b = ShapesBenchmark(scenes=3).load(tmp_path / "b")
    assert [i.id for i in a] == list(ANSWERS)[:3] + ["0-describe"] + list(ANSWERS)[3:6] + ["1-describe"] + list(
        ANSWERS
    )[6:9] + ["2-describe"]
    assert a[0].image == tmp_path / "a" / "images" / "0.png"
    assert a[0].image.read_bytes() == b[0].image.read_bytes()
    assert a[0].prompt == "Is there a circle in this image?" and a[3].prompt == "Describe the image."
    assert [i.meta["truth"] for i in a if i.meta["task"] == "existence"][:3] == ["yes", "yes", "no"]
    assert not list((tmp_path / "a" / "images").glob(".*"))  # no temporary files left


def test_scores_match_the_hand_computation(bench):
    items = bench.load(None)
    report = bench.score(items, ANSWERS, None)
    # exact match: 5/9 correct; answered "No" 3 times, 2 of them right; truth "no" 5 times, 2 found.
    # AMBER-style: num counters start at 0.001, P and R rounded before F1 (epsilon 0.0001).
    assert report.metrics["Accuracy"] == round(5 / 9.001 * 100, 1) == 55.5
    assert report.metrics["Precision"] == round(2 / 3.001 * 100, 1) == 66.6
    assert report.metrics["Recall"] == round(2 / 5.001 * 100, 1) == 40.0
    assert report.metrics["F1"] == round(2 * 0.666 * 0.4 / (0.666 + 0.4 + 0.0001) * 100, 1) == 50.0
    # 6 mentions, 2 hallucinated; 3 of the 4 scene objects covered; 1 of 3 descriptions clean.
    assert report.metrics["CHAIR"] == round(2 / 6.001 * 100, 1) == 33.3
    assert report.metrics["Cover"] == round(3 / 4.001 * 100, 1) == 75.0
    assert report.metrics["Hal"] == round(100 - 1 / 3.001 * 100, 1) == 66.7
    # one hallucination names an absent kind (the circle, which the prior expects beside a square)
    assert report.metrics["CHAIRobj"] == round(1 / 6.001 * 100, 1) == 16.7
    assert report.metrics["Prior"] == round(1 / 1.001 * 100, 1) == 99.9
    assert report.metrics["Yes"] == round(4 / 9.001 * 100, 1) == 44.4
    assert report.official == report.metrics
    recs = {r["id"]: r for r in report.records}
    assert recs["0-circle"]["correct"] is True and recs["1-triangle"]["correct"] is False
    assert recs["0-describe"]["hallucinated"] == ["red square"] and recs["0-describe"]["covered"] == ["circle"]
    assert recs["0-describe"]["prior_predicted"] == [] and recs["1-describe"]["prior_predicted"] == ["circle"]
    assert [recs[f"{i}-describe"]["score"] for i in range(3)] == [pytest.approx(1 / 3), 0.5, 1.0]
    assert all(("correct" in r) != ("score" in r) for r in report.records)


def test_normalisation_is_an_option_and_official_keeps_exact_match(tmp_path):
    bench = ShapesBenchmark(scenes=3, normalize_answers=True, image_dir=tmp_path)
    report = bench.score(bench.load(None), ANSWERS, None)
    assert (report.metrics["Accuracy"], report.metrics["Precision"], report.metrics["Recall"]) == (66.7, 75.0, 60.0)
    assert report.metrics["F1"] == round(2 * 0.75 * 0.6 / (0.75 + 0.6 + 0.0001) * 100, 1) == 66.7
    assert report.official["Accuracy"] == 55.5
    assert any("normalize_answers" in d for d in bench.protocol().deviations)


def test_mentions_need_the_right_colour_and_kind():
    scene = bench_scene(0)  # blue square, green circle
    result = describe_mentions("A Blue square, a red circle, circles and a triangle.", scene)
    assert result.mentions == ["blue square", "red circle", "circle", "triangle"]
    assert result.hallucinated == [False, True, False, True]
    assert result.covered == ["square", "circle"]
    assert result.score == 2 / (2 + 2)


def test_predictions_round_trip(bench, tmp_path):
    items = bench.load(None)
    path = tmp_path / "p.jsonl"
    bench.write_predictions(path, items, ANSWERS)
    assert bench.read_predictions(path, items) == ANSWERS
    assert json.loads(path.read_text().splitlines()[0]) == {"id": "0-circle", "text": "Yes"}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"id": "9-circle", "text": "Yes"}], r"p\.jsonl:13: unknown id '9-circle'"),
        ([{"id": "0-circle", "text": "No"}], r"p\.jsonl:13: duplicated id '0-circle'"),
        (['{"id": "0-circle", "text": '], r"p\.jsonl:13: malformed JSON line"),
        ([{"id": "0-circle"}], r"p\.jsonl:13: id '0-circle': missing or non-string field 'text'"),
    ],
)
def test_bad_prediction_files_name_the_file_and_line(bench, tmp_path, rows, message):
    items = bench.load(None)
    path = write_preds(tmp_path / "p.jsonl", [{"id": k, "text": v} for k, v in ANSWERS.items()] + rows)
    with pytest.raises(HarnessError, match=message):
        bench.read_predictions(path, items)


def test_missing_predictions_are_named(bench, tmp_path):
    items = bench.load(None)
    path = write_preds(tmp_path / "p.jsonl", [{"id": k, "text": v} for k, v in ANSWERS.items() if k != "2-square"])
    with pytest.raises(HarnessError, match=r"p\.jsonl: no prediction for id 2-square"):
        bench.read_predictions(path, items)


def test_the_benchmark_breaks_the_pair_the_warm_up_scenes_skew():
    def together(scenes) -> float:  # two-shape scenes with a circle: how often the other one is a square
        with_circle = [s for s in scenes if "circle" in s.objects and s.count == 2]
        return sum("square" in s.objects for s in with_circle) / len(with_circle)

    warm = [make_scene("tiny-warmup", i, SKEWED) for i in range(2000)]
    bench = [bench_scene(i) for i in range(2000)]
    uniform = [make_scene("shapes-bench", i) for i in range(2000)]
    assert together(warm) > 0.9 and together(bench) < 0.2 and 0.45 < together(uniform) < 0.65
    # every attribute is exact: size and position words follow the box
    shape = bench_scene(0).shapes[0]
    assert shape.size in ("small", "large") and shape.position in (
        "top left",
        "top right",
        "bottom left",
        "bottom right",
    )


def test_stored_records_recompute_the_metrics_and_their_intervals(bench):
    items = bench.load(None)
    report = bench.score(items, ANSWERS, None)
    stored = json.loads(json.dumps(report.records))  # as results.json keeps them
    assert metrics_from_counters(sum_counters(record_counters(r) for r in stored)) == report.metrics
    assert len(scene_units(stored)) == 3 and bench.bootstrap_units(stored) == scene_units(stored)
    assert bench.metrics_from_counters(sum_counters(scene_units(stored))) == report.metrics
    assert set(report.intervals) == set(report.metrics)
    assert report.intervals == intervals(scene_units(stored), metrics_from_counters)  # seeded: reproducible
    for name, (low, high) in report.intervals.items():
        assert low <= high, name


def test_intervals_narrow_with_more_scenes_and_cover_the_estimate():
    def units(n: int) -> list[dict]:  # one hallucinated mention in every fourth of n scenes, 2 mentions each
        return [
            {
                "mentions": 2,
                "hallucinated": int(i % 4 == 0),
                "objects": 2,
                "covered": 2,
                "descriptions": 1,
                "hallucination_free": int(i % 4 != 0),
            }
            for i in range(n)
        ]

    small, large = intervals(units(40), metrics_from_counters), intervals(units(400), metrics_from_counters)
    assert small["CHAIR"][0] < 12.5 < small["CHAIR"][1] and large["CHAIR"][0] < 12.5 < large["CHAIR"][1]
    assert large["CHAIR"][1] - large["CHAIR"][0] < (small["CHAIR"][1] - small["CHAIR"][0]) / 2


def test_paired_test_finds_a_real_drop_and_not_a_null_one():
    before = [{"mentions": 2, "hallucinated": int(i % 3 == 0), "descriptions": 1} for i in range(300)]
    after = [{"mentions": 2, "hallucinated": int(i % 9 == 0), "descriptions": 1} for i in range(300)]
    drop = paired_test(before, after, metrics_from_counters)["CHAIR"]
    assert drop.delta == pytest.approx(-11.1, abs=0.1) and drop.ci_high < 0 and drop.p_value < 0.01
    same = paired_test(before, before, metrics_from_counters)["CHAIR"]
    assert same.delta == 0 and same.p_value == 1.0
    with pytest.raises(HarnessError, match="300 units for A but 299 for B"):
        paired_test(before, after[:-1], metrics_from_counters)
