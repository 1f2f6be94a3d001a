"""`harness data pull povid`: POVID's released stage-1 preference data (HF
YiyangAiLab/POVID_preference_data_for_VLLMs) fetched through the povid plugin's declared data source, against a
loopback server serving a tiny POVID-format file."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

import pytest
from PIL import Image
from typer.testing import CliRunner

from harness.cli import app
from harness.images.sources import open_source
from methods.povid import load_stage1_pairs
from methods.povid.data import FILE, stage1_data_source
from methods.povid.method import Povid, PovidConfig
from tests.http_fixture_server import FixtureServer

pytestmark = pytest.mark.timeout(60)

IMAGES = ("COCO_train2014_000000353952.jpg", "COCO_train2014_000000000009.jpg")


def _row(image: str, truth: str, hallucinated: str) -> dict:
    question = {"from": "human", "value": "<image>\nDescribe this image in detail."}
    return {
        "id": image.removesuffix(".jpg"),
        "image": image,
        "conversations": [question, {"from": "gpt", "value": truth}],
        "rejected_conversations": [question, {"from": "gpt", "value": hallucinated}],
    }


TINY = json.dumps(
    [
        _row(IMAGES[0], "A horse stands on a street among eleven people.", "A horse and a carriage on a street."),
        _row(IMAGES[1], "A plate holds broccoli and rice.", "A plate holds broccoli, rice and a fork."),
    ],
    indent=1,
).encode()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def served(monkeypatch):
    """A loopback server holding the tiny file at the release's URL path; the povid source pointed at it with the
    tiny file's checksum (the real one is the release's, tested below)."""
    with FixtureServer() as srv:
        real = stage1_data_source()
        path = "/" + real.url.split("huggingface.co/", 1)[1]
        srv.files[path] = TINY
        local = replace(real, url=srv.url(path), sha256=hashlib.sha256(TINY).hexdigest())
        monkeypatch.setattr(Povid, "data_sources", classmethod(lambda cls: [local]))
        yield srv, path


def test_declared_source_is_the_pinned_release_with_its_published_checksum():
    src = Povid.data_sources()[0]
    assert src.path == FILE == "POVID_preference_data_for_VLLMs_version_1.json"
    assert re.fullmatch(
        r"https://huggingface\.co/datasets/YiyangAiLab/POVID_preference_data_for_VLLMs/resolve/[0-9a-f]{40}/" + FILE,
        src.url,
    )
    assert re.fullmatch(r"[0-9a-f]{64}", src.sha256) and not src.manual and not src.unpack
    shown = _flat(CliRunner().invoke(app, ["methods", "povid"], env={"COLUMNS": "250"}).output)
    assert f"harness data pull povid` writes data/povid/{FILE}" in shown
    assert f"--images data/povid/{FILE} --image-root" in shown and f"--set stage1_file=data/povid/{FILE}" in shown


def test_pull_writes_the_file_resuming_a_cut_download_and_it_loads_as_stage1_pairs(tmp_path, served):
    srv, path = served
    srv.cut_after[path] = (100, 1)  # the first GET closes after 100 bytes: the pull resumes from there
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["data", "pull", "povid", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    target = data / FILE
    assert target.read_bytes() == TINY and not (data / (FILE + ".part")).exists()
    assert srv.seen(path)[1].headers.get("range") == "bytes=100-"
    recorded = json.loads((data / "checksums.json").read_text())["files"][FILE]
    assert recorded["sha256"] == hashlib.sha256(TINY).hexdigest()
    check = CliRunner().invoke(app, ["data", "check", "povid", "--data-dir", str(data)])
    assert check.exit_code == 0 and "present" in check.output

    pairs = load_stage1_pairs(str(target))
    assert pairs[IMAGES[0]] == [
        (
            "Describe this image in detail.",
            "A horse stands on a street among eleven people.",
            "A horse and a carriage on a street.",
        )
    ]
    assert sorted(pairs) == sorted(IMAGES)
    # as a run uses it: --images the pulled file, --image-root the folder its image paths are relative to
    root = tmp_path / "train2014"
    root.mkdir()
    for name in IMAGES:
        Image.new("RGB", (8, 8), "gray").save(root / name)
    source = open_source(str(target), image_root=str(root))
    assert sorted(ref.id for ref in source.refs()) == sorted(IMAGES)
    Povid(PovidConfig(stage1_file=str(target))).check_images(source)  # raises if an image were missing


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_download_that_is_not_the_release_is_refused_and_nothing_is_left(tmp_path, served, damage):
    srv, path = served
    srv.files[path] = TINY[: len(TINY) // 2] if damage == "truncated" else TINY.replace(b"horse", b"zebra")
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["data", "pull", "povid", "--data-dir", str(data)])
    out = _flat(result.output)
    assert result.exit_code == 2, result.output
    assert "checksum mismatch" in out and FILE in out and hashlib.sha256(TINY).hexdigest() in out
    assert not (data / FILE).exists() and not (data / (FILE + ".part")).exists()


def test_an_unknown_name_says_what_can_be_pulled(tmp_path):
    result = CliRunner().invoke(app, ["data", "pull", "nosuch", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "methods with data: povid" in _flat(result.output) and "pope" in result.output
    assert not any(tmp_path.iterdir())
