"""Benchmark data are the release before they are scored under its name (a fixture or a truncated file is
refused, exit 2, unless the user says it is their own data), and POPE answer files are read in either id scheme.

The real POPE files are in ../shared/data/pope (tests that need them skip without it); tests/fixtures/pope holds a
few crafted questions in the release's format.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.pope import PopeBenchmark
from benchmarks.pope.data import VERSIONS
from harness.benchmark import DataSource
from harness.cli import app
from harness.data.pull import release_mismatches
from harness.errors import HarnessError
from tests.test_pope import ANSWERS, FIXTURE, POPE_SHARED, needs_pope

PINNED = POPE_SHARED / "coco_llava_pinned_e3e3926"
LLAVA_ANSWERS = POPE_SHARED / "llava" / "llava-v1.5-13b_answers.jsonl"
SPLIT_F1 = {"adversarial": 84.45873526, "popular": 86.24589566, "random": 87.13601180}  # LLaVA-1.5-13B, spec


def _write_answers(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _eval(*args: str):
    return CliRunner().invoke(app, ["eval", "--bench", "pope", *args], terminal_width=200)


# --------------------------------------------------------------------------- checksums before scoring


def test_a_fixture_is_refused_under_the_releases_name_and_accepted_as_own_data(tmp_path):
    answers = _write_answers(
        tmp_path / "answers.jsonl", [{"question_id": int(k), "text": v} for k, v in ANSWERS.items()]
    )
    out = tmp_path / "res" / "results.json"
    args = ["--data-dir", str(FIXTURE), "--predictions", str(answers), "--out", str(out)]
    refused = _eval(*args)
    assert refused.exit_code == 2
    text = " ".join(refused.output.split())
    assert "not pope's release data" in text and "coco_pope_random.json" in text and "--own-data" in text
    assert not out.parent.exists()  # nothing written, not even a lock or a partial
    own = _eval(*args, "--own-data")
    assert own.exit_code == 0, own.output
    protocol = json.loads(out.read_text())["protocol"]
    assert protocol["data_version"].startswith("own data (--own-data), not pope's release")
    assert "e3e39262c85a" not in protocol["data_version"] and protocol["reference_numbers"] == {}
    assert any("own data" in d for d in protocol["deviations"])


@needs_pope
def test_a_truncated_release_file_is_refused_and_the_release_is_scored_as_itself(tmp_path):
    data = tmp_path / "pope"
    shutil.copytree(PINNED, data / VERSIONS["llava"].folder)
    out = tmp_path / "res" / "results.json"
    ok = _eval("--data-dir", str(data), "--predictions", str(LLAVA_ANSWERS), "--out", str(out))
    assert ok.exit_code == 0, ok.output
    stored = json.loads(out.read_text())
    assert "e3e39262c85a" in stored["protocol"]["data_version"] and f"{stored['metrics']['F1']:.1f}" == "85.9"
    target = data / VERSIONS["llava"].path("random")
    target.write_bytes(target.read_bytes()[:-2000])  # cut short: still whole JSON lines up to the cut
    again = _eval("--data-dir", str(data), "--predictions", str(LLAVA_ANSWERS), "--out", str(tmp_path / "b"))
    assert again.exit_code == 2
    assert "coco_pope_random.json (differs from the published checksum" in " ".join(again.output.split())
    assert not (tmp_path / "b").exists()


def test_a_file_without_a_published_checksum_is_checked_against_the_one_recorded_at_pull(tmp_path):
    (tmp_path / "words.txt").write_text("cat\ndog\n")
    (tmp_path / "placed.txt").write_text("anything\n")
    sha = hashlib.sha256(b"cat\ndog\n").hexdigest()
    (tmp_path / "checksums.json").write_text(json.dumps({"version": 1, "files": {"words.txt": {"sha256": sha}}}))
    sources = [
        DataSource(path="words.txt", url="https://example.org/words.txt"),  # pulled: recorded
        DataSource(path="placed.txt", url="https://example.org/placed.txt"),  # never pulled: not judged
        DataSource(path="absent.txt", url="https://example.org/absent.txt", sha256="0" * 64),  # absent: load's business
    ]
    assert release_mismatches(sources, tmp_path) == []
    (tmp_path / "words.txt").write_text("cat\n")
    (bad,) = release_mismatches(sources, tmp_path)
    assert bad.path == "words.txt" and bad.expected == f"sha256:{sha}" and "last pull" in bad.detail


# --------------------------------------------------------------------------- POPE answer ids


def test_pope_answers_with_popes_own_ids_and_the_split_per_row_or_given(tmp_path):
    bench = PopeBenchmark()
    items = bench.load(FIXTURE)
    offsets = {"1": "adversarial", "10": "random", "20": "popular"}
    rows = []
    for key, text in ANSWERS.items():
        split = "adversarial" if len(key) < 8 else offsets[key[:2]]
        rows.append({"question_id": int(key) % 10_000_000, "category": split, "text": text})
    per_row = _write_answers(tmp_path / "a.jsonl", rows)
    assert bench.read_predictions(per_row, items) == ANSWERS  # the split on each row, as LLaVA's question file
    contradicting = _write_answers(
        tmp_path / "b.jsonl", [{"question_id": 10000001, "category": "popular", "text": "Yes"}]
    )
    with pytest.raises(HarnessError, match=r"b\.jsonl:1: question_id 10000001 is a random id .* split is 'popular'"):
        bench.read_predictions(contradicting, items)
    # one split's answers with POPE's ids: the split given by --set split=random
    random_rows = [{"question_id": r["question_id"], "text": r["text"]} for r in rows if r["category"] == "random"]
    one = _write_answers(tmp_path / "random.jsonl", random_rows)
    with pytest.raises(HarnessError, match=r"no answer for id .*needs its split: --set split=NAME"):
        bench.read_predictions(one, items)  # read as adversarial ids without the split
    only = PopeBenchmark(split="random")
    random_items = only.load(FIXTURE)
    assert [i.id for i in random_items] == ["10000001", "10000002", "10000003"]
    preds = only.read_predictions(one, random_items)
    report = only.score(random_items, preds)
    assert report.metrics["F1"] == pytest.approx(100.0) == report.metrics["random/F1"]
    card = only.card()
    assert "the random split only" in card.data_version and card.reference_numbers == {}
    assert any("not the mean over the three splits" in d for d in card.deviations)
    with pytest.raises(HarnessError, match="split 'dev' unknown"):
        PopeBenchmark(split="dev")


@needs_pope
def test_llavas_answers_split_into_per_split_files_score_the_published_split_f1(tmp_path):
    rows = [json.loads(line) for line in LLAVA_ANSWERS.open()]
    data = tmp_path / "pope"
    shutil.copytree(PINNED, data / VERSIONS["llava"].folder)
    for split, offset in (("adversarial", 0), ("random", 10_000_000), ("popular", 20_000_000)):
        mine = [
            dict(r, question_id=r["question_id"] - offset) for r in rows if offset < r["question_id"] < offset + 10**7
        ]
        path = _write_answers(tmp_path / f"{split}.jsonl", mine)
        out = tmp_path / split / "results.json"
        result = _eval(
            "--data-dir", str(data), "--predictions", str(path), "--set", f"split={split}", "--out", str(out)
        )
        assert result.exit_code == 0, result.output
        stored = json.loads(out.read_text())
        assert stored["metrics"]["F1"] == pytest.approx(SPLIT_F1[split], abs=1e-6)
        assert f"the {split} split only" in stored["protocol"]["data_version"]
