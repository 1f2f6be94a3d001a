"""CHAIR's ground truth per COCO image, read with pycocotools.

As in the original scorer (LisaAnne/Hallucination ``utils/chair.py``; the same in OPERA's port and in
RLAIF-V's Object HalBench scorer), an image's ground-truth classes are

- the class of every instance annotation's category (``instances_{val,train}2014.json``), through
  the synonym list, together with
- every class that the scorer's own caption → mentions step finds in the image's human reference
  captions (``captions_{val,train}2014.json``).

The official scripts load train and val together and stop if any of the four files is missing.
COCO 2014 image ids are disjoint between train and val, so the train files change nothing for a val
image: here the val files are read first and the train files only for ids not found in val. An id
found in neither is an error naming it (the official code would score it against an empty set).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable
from pathlib import Path

from benchmarks.common.coco_vocab import CaptionMentions, CocoVocabulary
from harness.errors import HarnessError

SPLITS = ("val", "train")
ANNOTATIONS_ZIP_URL = "http://images.cocodataset.org/annotations/annotations_trainval2014.zip"


def annotation_files(annotation_dir: Path, split: str) -> tuple[Path, Path]:
    return (Path(annotation_dir) / f"instances_{split}2014.json", Path(annotation_dir) / f"captions_{split}2014.json")


def _load_coco(path: Path):
    from pycocotools.coco import COCO

    if not path.is_file():
        raise HarnessError(
            f"{path}: COCO annotation file not found; run `harness data pull` for the benchmark "
            f"(it fetches {ANNOTATIONS_ZIP_URL} and extracts annotations/)"
        )
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            return COCO(str(path))
    except (ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path}: not a readable COCO annotation file ({type(exc).__name__}: {exc})") from None


def instance_classes(instances, image_id: int, vocab: CocoVocabulary, where: Path | str) -> set[str]:
    """The classes of one image's instance annotations (a pycocotools ``COCO`` of an instances file), each
    category name through the synonym list; an unknown category id or name is an error naming ``where``."""
    names = {cat["id"]: cat["name"] for cat in instances.dataset.get("categories", [])}
    classes: set[str] = set()
    for ann in instances.imgToAnns.get(image_id, []):
        name = names.get(ann["category_id"])
        if name is None:
            raise HarnessError(
                f"{where}: annotation {ann.get('id')} of image {image_id} has an unknown category_id {ann['category_id']}"
            )
        classes.add(vocab.class_of_category(name, str(where)))
    return classes


def ground_truth(
    annotation_dir: Path,
    image_ids: Iterable[int],
    vocab: CocoVocabulary,
    caption_mentions: Callable[[str], CaptionMentions],
) -> dict[int, set[str]]:
    """The ground-truth classes of each image id (see the module doc). Missing files or ids are errors."""
    wanted = sorted(set(int(i) for i in image_ids))
    found: dict[int, set[str]] = {}
    for split in SPLITS:
        todo = [i for i in wanted if i not in found]
        if not todo:
            break
        instances_path, captions_path = annotation_files(annotation_dir, split)
        instances = _load_coco(instances_path)
        captions = _load_coco(captions_path)
        here = [i for i in todo if i in instances.imgs or i in captions.imgs]
        for image_id in here:
            classes = instance_classes(instances, image_id, vocab, instances_path)
            for ann in captions.imgToAnns.get(image_id, []):
                classes.update(caption_mentions(ann["caption"]).classes)
            found[image_id] = classes
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        files = ", ".join(str(p) for split in SPLITS for p in annotation_files(annotation_dir, split))
        raise HarnessError(f"COCO image id {shown} not found in the 2014 annotations ({files})")
    return found
