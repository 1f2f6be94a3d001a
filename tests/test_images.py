"""Image sources and seeded, disjoint sampling."""

import json

import pytest
from PIL import Image

from harness.errors import HarnessError
from harness.images import CocoSource, FolderSource, LlavaJsonSource, SyntheticSource, open_source, sample_iterations
from harness.images.synthetic import make_scene


def _write_images(folder, n, size=(20, 12)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        Image.new("RGB", size, (i * 10 % 255, 0, 0)).save(sub / f"img{i:03d}.png")


def test_sampling_is_disjoint_and_reproducible():
    src = SyntheticSource("train", size=500)
    a = sample_iterations(src, 3, 40, seed=1)
    b = sample_iterations(src, 3, 40, seed=1)
    ids = [[r.id for r in it] for it in a.iterations]
    assert ids == [[r.id for r in it] for it in b.iterations]
    flat = [i for it in ids for i in it]
    assert len(flat) == len(set(flat)) == 120
    c = sample_iterations(src, 3, 40, seed=2)
    assert [r.id for r in c.iterations[0]] != ids[0]


def test_synthetic_scenes_are_deterministic_and_namespaced():
    assert make_scene("train", 3) == make_scene("train", 3)
    assert make_scene("train", 3).render().tobytes() == make_scene("train", 3).render().tobytes()
    assert make_scene("train", 3) != make_scene("shapes-bench", 3)


def test_folder_source_is_recursive_and_skips_corrupt_files(tmp_path):
    _write_images(tmp_path / "imgs", 10)
    (tmp_path / "imgs" / "a" / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "imgs" / "notes.txt").write_text("ignored")
    src = FolderSource(tmp_path / "imgs")
    assert len(src.refs()) == 11
    split = sample_iterations(src, 2, 5, seed=0)
    assert sum(len(it) for it in split.iterations) == 10
    assert [s[0] for s in split.skipped] == ["a/broken.png"]


def test_too_few_readable_images_is_a_clear_error(tmp_path):
    _write_images(tmp_path / "imgs", 3)
    with pytest.raises(HarnessError, match="need 6"):
        sample_iterations(FolderSource(tmp_path / "imgs"), 2, 3, seed=0)


def test_empty_and_missing_folders_name_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="empty"):
        FolderSource(tmp_path / "empty")
    with pytest.raises(HarnessError, match="nope"):
        open_source(str(tmp_path / "nope"))


def test_llava_json_source_keeps_questions(tmp_path):
    _write_images(tmp_path / "root", 2)
    entries = [
        {
            "id": "1",
            "image": "b/img000.png",
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is red?"},
                {"from": "gpt", "value": "x"},
                {"from": "human", "value": "And more?"},
                {"from": "gpt", "value": "y"},
            ],
        },
        {"id": "2", "conversations": [{"from": "human", "value": "text only"}]},
    ]
    (tmp_path / "llava.json").write_text(json.dumps(entries))
    src = open_source(str(tmp_path / "llava.json"), image_root=str(tmp_path / "root"))
    assert isinstance(src, LlavaJsonSource)
    (ref,) = src.refs()
    assert ref.questions == ("What is red?", "And more?")
    assert src.open(ref).size == (20, 12)


def test_coco_source_through_pycocotools(tmp_path):
    _write_images(tmp_path / "root", 3)
    ann = {
        "images": [
            {"id": 7, "file_name": "a/img001.png", "height": 12, "width": 20},
            {"id": 3, "file_name": "b/img000.png", "height": 12, "width": 20},
        ],
        "annotations": [],
        "categories": [],
    }
    (tmp_path / "instances.json").write_text(json.dumps(ann))
    src = open_source(str(tmp_path / "instances.json"), image_root=str(tmp_path / "root"))
    assert isinstance(src, CocoSource)
    assert [r.id for r in src.refs()] == ["b/img000.png", "a/img001.png"]  # sorted by COCO image id


def test_json_source_needs_image_root(tmp_path):
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(HarnessError, match="--image-root"):
        open_source(str(tmp_path / "x.json"))
