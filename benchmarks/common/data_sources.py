"""Upstream files that several benchmarks download: COCO 2014 annotations and val2014 images, RLAIF-V's synonym list.

Sources (exact commits; SHA-256 of the files as published there):

- ``synonyms_refine.txt``: RLHF-V/RLAIF-V ``eval/data/synonyms_refine.txt`` at
  83d917b2e8118ca8e7877a796d72af9bb3e6b356 (CHAIR's ``rlaifv`` variant and Object HalBench; CC BY-NC
  4.0 per its README). The same commit pins Object HalBench's question file.
- ``annotations_trainval2014.zip``: COCO 2014 annotations (CC BY 4.0), no published checksum
  (``chair``, ``objhal``).
- COCO val2014 images: a manual download (6.2 GB), only needed to generate captions (``chair``, ``pope``).
"""

from __future__ import annotations

from harness.benchmark import DataSource

RLAIFV_COMMIT = "83d917b2e8118ca8e7877a796d72af9bb3e6b356"
RAW = "https://raw.githubusercontent.com"

SYNONYMS_REFINE = "synonyms_refine.txt"
SYNONYMS_REFINE_SHA256 = "681041d2958d7871ed6fa69c3108f34aa6a0a354eb53ed4c5a425e65f86bc72a"
SYNONYMS_REFINE_URL = f"{RAW}/RLHF-V/RLAIF-V/{RLAIFV_COMMIT}/eval/data/synonyms_refine.txt"

ANNOTATIONS_ZIP = "annotations_trainval2014.zip"
ANNOTATIONS_URL = "http://images.cocodataset.org/annotations/annotations_trainval2014.zip"
VAL2014_ZIP_URL = "http://images.cocodataset.org/zips/val2014.zip"


def coco_annotations_source() -> DataSource:
    return DataSource(
        path=ANNOTATIONS_ZIP,
        url=ANNOTATIONS_URL,
        unpack=True,
        note="COCO 2014 train/val annotations (about 241 MB, CC BY 4.0); extracted to <data_dir>/annotations/. "
        "COCO publishes no checksum: the SHA-256 of the first pull is recorded in checksums.json.",
    )


def coco_val2014_images_source(what: str) -> DataSource:
    return DataSource(
        path="val2014.zip",
        manual=True,
        unpack=True,
        note=(
            f"Download {VAL2014_ZIP_URL} (about 6.2 GB, 40,504 images, Flickr terms) and save it as "
            f"<data_dir>/val2014.zip; the next `harness data pull` extracts it to <data_dir>/val2014/ "
            f"(COCO_val2014_000000xxxxxx.jpg). Or pass `--set image_root=<your val2014 folder>`. "
            f"Only generation needs the images ({what}); scoring does not."
        ),
    )
