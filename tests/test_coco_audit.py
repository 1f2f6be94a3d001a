"""The pair audit on COCO images (benchmarks/chair/audit.py): a hand-made COCO instances file whose objects are
known and hand-made pairs whose verdicts are worked out by hand give the exact shares; images the file does not
hold are counted, not audited; a source without truth says why; a bad --audit-truth is an error that names it.

NLTK's data cannot be installed here, so the auditor gets the chair tests' stand-in normaliser (NLTK's own
word tokenizer, a tag table and a lemma table: tests/test_chair.py); the synonym list, the two-word rules, the
COCO reading (pycocotools), the ground truth and CHAIR's per-caption judgement are the real code.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from benchmarks.chair.audit import CocoChairPairAuditor
from harness.audit import audit_pairs, audit_run
from harness.cli import app
from harness.errors import HarnessError
from harness.method import PreferencePair
from tests.test_chair import ORIGINAL_EXCERPT, normaliser

SHARED_SYNONYMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "chair" / "synonyms.txt"
# the excerpt of CHAIR's synonyms.txt the chair tests use, plus the two classes below need
SYNONYMS = ORIGINAL_EXCERPT + "\ncat, kitten\nfrisbee\n"
CATEGORIES = [
    {"id": 1, "name": "person"},
    {"id": 18, "name": "dog"},
    {"id": 61, "name": "cake"},
    {"id": 62, "name": "chair"},
    {"id": 67, "name": "dining table"},
]
# image 1: a person and a dog; image 2: a dining table, a cake, a chair; image 3: nothing annotated
IMAGES = {1: [1, 18, 18], 2: [67, 61, 62], 3: []}


def _name(image_id: int) -> str:
    return f"{image_id:012d}.jpg"


def _instances(path: Path) -> Path:
    anns = [
        {"id": 100 * image + k, "image_id": image, "category_id": cat, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0}
        for image, cats in IMAGES.items()
        for k, cat in enumerate(cats)
    ]
    images = [{"id": i, "file_name": _name(i), "width": 8, "height": 8} for i in IMAGES]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATEGORIES}))
    return path


def _captions(path: Path) -> Path:
    images = [{"id": i, "file_name": _name(i), "width": 8, "height": 8} for i in IMAGES]
    anns = [{"id": 1, "image_id": 2, "caption": "A man eats cake at a table."}]
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


@pytest.fixture
def truth(tmp_path):
    data = tmp_path / "chair-data"
    data.mkdir()
    (data / "synonyms.txt").write_text(SYNONYMS)
    return SimpleNamespace(instances=_instances(tmp_path / "instances_train2017.json"), data=data, root=tmp_path)


def _auditor(source: dict, truth_paths=()) -> CocoChairPairAuditor:
    auditor = CocoChairPairAuditor(normaliser=normaliser("opera"))
    assert auditor.applies(dict(source, audit_truth=[str(p) for p in truth_paths]))
    return auditor


def _pair(image: str, prompt: str, chosen: str, rejected: str) -> PreferencePair:
    return PreferencePair(image, prompt, chosen, rejected, "qa")


LLAVA = {"kind": "llava_json", "json": "/x/llava_v1_5_mix665k.json", "image_root": "/x"}
DESCRIBE = "Describe the image.\nLook at the image and answer the question in one short sentence."


def _coco(i: int) -> str:
    return f"coco/train2017/{_name(i)}"


def hand_made_pairs() -> list[PreferencePair]:
    is_dog = "Is there a dog in the image?"
    return [
        # image 1 {person, dog}: covered 2/2 vs covered 2 + 1 hallucinated (cake): 1.0 > 2/3 → correct
        _pair(_coco(1), DESCRIBE, "A man with a dog.", "A man with a dog and a cake."),
        _pair(_coco(1), DESCRIBE, "A man with a dog and a cake.", "A man with a dog."),  # inverted
        _pair(_coco(1), DESCRIBE, "A dog next to a man.", "A man and his dog."),  # the same content: tied
        _pair(_coco(2), is_dog, "No", "Yes"),  # no dog at image 2: "No" is right → correct
        _pair(_coco(1), is_dog, "No", "Yes, there is."),  # a dog at image 1 → inverted
        # image 2 {dining table, cake, chair}: 2/3 vs 3 covered + 1 hallucinated = 3/4: the coverage outweighs
        # one hallucinated dog (the synthetic world's rule) → inverted
        _pair(_coco(2), DESCRIBE, "A cake on a table.", "A cake, a table, a chair and a dog."),
        _pair(_coco(2), DESCRIBE, "A cake on a table.", "A dog."),  # 2/3 vs 0/4 → correct
        _pair(_coco(3), DESCRIBE, "An empty room.", "A dog in an empty room."),  # nothing there: 1 vs 1/2 → correct
        _pair(_coco(99), DESCRIBE, "A dog.", "A cat."),  # not in the annotation file: not audited
        _pair("gqa/images/2354786.jpg", DESCRIBE, "A dog.", "A cat."),  # not a COCO image: not audited
    ]


def test_hand_made_pairs_on_coco_images_give_the_exact_shares(truth):
    auditor = _auditor(LLAVA, [truth.instances, truth.data])
    report = audit_pairs(hand_made_pairs(), auditor)
    s = report["summary"]
    assert (s["pairs"], s["audited"]) == (10, 8)
    assert (s["precision"], s["inverted"], s["tied"]) == (50.0, 37.5, 12.5)
    verdicts = [m.get("verdict") for m in report["marks"]]
    assert verdicts == ["correct", "inverted", "tied", "correct", "inverted", "inverted", "correct", "correct"] + [
        None,
        None,
    ]
    assert [m["audited"] for m in report["marks"][8:]] == [False, False]
    # hallucinated objects: chosen 1 (the cake of pair 2), rejected 4 (cake, dog, dog, dog)
    assert (s["hallucinated_per_chosen"], s["hallucinated_per_rejected"]) == (0.125, 0.5)
    assert s["from_prior"] is None  # COCO has no co-occurrence prior here: not 0 %
    first = report["marks"][0]
    assert first["chosen"]["covered"] == 2 and list(first["rejected"]["hallucinated_objects"]) == ["cake"]
    assert s["truth"][-1] == str(truth.instances.resolve())
    lo, hi = s["precision_interval"]
    assert 0 <= lo <= 50.0 <= hi <= 100


def test_human_captions_add_to_the_truth_as_chair_does(truth):
    pair = [_pair(_coco(2), DESCRIBE, "A man at a table.", "A table.")]
    alone = audit_pairs(pair, _auditor(LLAVA, [truth.instances, truth.data]))["marks"][0]
    assert list(alone["chosen"]["hallucinated_objects"]) == ["person"] and alone["verdict"] == "inverted"  # 1/4 < 1/3
    captions = _captions(truth.root / "captions_train2017.json")
    both = audit_pairs(pair, _auditor(LLAVA, [truth.instances, captions, truth.data]))["marks"][0]
    # "A man eats cake at a table." puts a person into image 2's truth: 2/4 > 1/4
    assert both["chosen"]["hallucinated"] == 0 and both["verdict"] == "correct"


def test_a_coco_source_is_its_own_truth_and_images_match_by_coco_id(truth, monkeypatch):
    monkeypatch.chdir(truth.root)  # the chair benchmark's default data folder: data/chair
    (truth.root / "data").mkdir()
    (truth.data).rename(truth.root / "data" / "chair")
    source = {"kind": "coco", "annotations": str(truth.instances), "image_root": str(truth.root)}
    auditor = _auditor(source)
    pairs = [
        _pair(_name(1), DESCRIBE, "A man with a dog.", "A cat."),
        _pair("COCO_val2014_000000000002.jpg", DESCRIBE, "A cake.", "A dog."),  # a 2014 name, the same id
        _pair("holiday/IMG_0001.jpg", DESCRIBE, "A dog.", "A cat."),
    ]
    s = audit_pairs(pairs, auditor)["summary"]
    assert (s["pairs"], s["audited"], s["precision"]) == (3, 2, 100.0)


def _fake_run(root: Path, source: dict, pairs: list[PreferencePair]) -> Path:
    run = root / "run"
    (run / "stages").mkdir(parents=True)
    (run / "iter1").mkdir()
    (run / "manifest.json").write_text(json.dumps({"run_id": "run", "config": {"images": {"source": source}}}))
    (run / "iter1" / "pairs.jsonl").write_text("".join(json.dumps(p.to_dict()) + "\n" for p in pairs))
    (run / "stages" / "synthesize-1.done").write_text("{}")
    return run


def test_a_llava_run_audits_with_the_truth_given_and_says_why_without(truth):
    run = _fake_run(truth.root, LLAVA, hand_made_pairs())
    reg = SimpleNamespace(pair_auditors=[functools.partial(CocoChairPairAuditor, normaliser=normaliser("opera"))])
    without = audit_run(run, reg)[1]
    assert without["audited"] == 0 and "--audit-truth instances_train2017.json" in without["note"]
    s = audit_run(run, reg, truth=[truth.instances, truth.data])[1]
    assert (s["audited"], s["precision"]) == (8, 50.0)
    assert json.loads((run / "iter1" / "audit.json").read_text())["summary"]["precision"] == 50.0


def test_the_audit_command_without_truth_says_so(truth):
    run = _fake_run(truth.root, LLAVA, hand_made_pairs())
    result = CliRunner().invoke(app, ["audit", str(run)])
    assert result.exit_code == 0, result.output
    assert "no known truth" in result.output and "--audit-truth" in result.output


def test_a_bad_audit_truth_is_an_error_naming_it_and_writes_nothing(truth):
    run = _fake_run(truth.root, LLAVA, hand_made_pairs())
    captions = _captions(truth.root / "captions_train2017.json")
    cases = [
        ([truth.root / "nope.json"], "nope.json: not found"),
        ([truth.instances, truth.root / "run"], "synonyms.txt: CHAIR's synonym list not found"),
    ]
    for paths, said in cases:
        args = ["audit", str(run)] + [a for p in paths for a in ("--audit-truth", str(p))]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and said in " ".join(result.output.split()), result.output
        assert "--audit-truth" in result.output
        assert not (run / "iter1" / "audit.json").exists()
    reg = SimpleNamespace(pair_auditors=[functools.partial(CocoChairPairAuditor, normaliser=normaliser("opera"))])
    with pytest.raises(HarnessError, match="--audit-truth: no COCO instance annotations among .*captions_train2017"):
        audit_run(run, reg, truth=[captions, truth.data])
    with pytest.raises(HarnessError, match="--audit-truth .*manifest.json: neither instance annotations"):
        audit_run(run, reg, truth=[truth.instances, run / "manifest.json", truth.data])
    with pytest.raises(HarnessError, match="--audit-truth .*: no registered pair auditor audits images"):
        audit_run(_fake_run(truth.root / "folder", {"kind": "folder"}, []), reg, truth=[truth.data])
    assert not (run / "iter1" / "audit.json").exists()


def test_without_nltk_data_the_command_names_the_resource_and_the_pull(truth):
    pytest.importorskip("nltk")
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab")
        pytest.skip("NLTK data is installed here: the auditor would run")
    except LookupError:
        pass
    run = _fake_run(truth.root, LLAVA, hand_made_pairs())
    args = ["audit", str(run), "--audit-truth", str(truth.instances), "--audit-truth", str(truth.data)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "harness data pull chair" in " ".join(result.output.split()), result.output
    assert not (run / "iter1" / "audit.json").exists()


def test_evolve_checks_the_audit_truth_before_any_work(truth, tmp_path):
    from PIL import Image

    root = tmp_path / "images"
    (root / "coco" / "train2017").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "coco" / "train2017" / _name(1))
    llava = tmp_path / "llava.json"
    llava.write_text(json.dumps([{"image": _coco(1), "conversations": [{"from": "human", "value": "<image>\nHi?"}]}]))
    runs = tmp_path / "runs"
    args = ["evolve", "--method", "sena", "--images", str(llava), "--image-root", str(root), "--runs-dir", str(runs)]
    result = CliRunner().invoke(app, [*args, "--audit-truth", str(truth.instances), "--audit-truth", str(tmp_path)])
    assert result.exit_code == 2 and "CHAIR's synonym list not found" in " ".join(result.output.split())
    assert not runs.exists()  # nothing drawn, generated or written


@pytest.mark.skipif(not SHARED_SYNONYMS.is_file(), reason=f"CHAIR's synonym list not found at {SHARED_SYNONYMS}")
def test_the_real_synonym_list_maps_the_annotation_files_categories(truth):
    auditor = _auditor(LLAVA, [truth.instances, SHARED_SYNONYMS])
    report = audit_pairs(hand_made_pairs(), auditor)
    assert (report["summary"]["audited"], report["summary"]["precision"]) == (8, 50.0)
