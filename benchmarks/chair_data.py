"""Where CHAIR's files come from, and line-checked JSONL reading (also used by ``objhal`` and ``pope``;
the NLTK packages also by ``amber``).

Sources (exact commits; SHA-256 of the files as published there):

- ``synonyms.txt``: LisaAnne/Hallucination ``data/synonyms.txt`` at
  6e4d33c4bedf6dfcd24c61bf527f40714717be47 (BSD 2-Clause per that repository's README).
- ``synonyms_refine.txt``: RLHF-V/RLAIF-V ``eval/data/synonyms_refine.txt`` at
  83d917b2e8118ca8e7877a796d72af9bb3e6b356 (the ``rlaifv`` variant; CC BY-NC 4.0 per its README).
- ``opera_llava15_greedy.jsonl``: shikiw/OPERA ``log/chair_eval_results/llava-1.5/greedy.jsonl`` at
  61426efe4e2e53207f32d9112a86ba5f8364d1d9 (MIT): OPERA's LLaVA-1.5-7B greedy captions. Its 500
  ``image_id``s are the de-facto CHAIR image list (OPERA's sampling, a shuffled ``os.listdir``,
  cannot be re-created; its authors point to these files, OPERA issues #19 and #37).
- ``annotations_trainval2014.zip``: COCO 2014 annotations (CC BY 4.0), no published checksum.
- COCO val2014 images: a manual download (6.2 GB), only needed to generate captions.
- NLTK data packages from the nltk_data repository (what the variants need: benchmarks/chair_nlp.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.benchmark import DataSource
from harness.errors import HarnessError

LISAANNE_COMMIT = "6e4d33c4bedf6dfcd24c61bf527f40714717be47"
OPERA_COMMIT = "61426efe4e2e53207f32d9112a86ba5f8364d1d9"
RLAIFV_COMMIT = "83d917b2e8118ca8e7877a796d72af9bb3e6b356"
RAW = "https://raw.githubusercontent.com"

SYNONYMS = "synonyms.txt"
SYNONYMS_SHA256 = "b685537b36fe21b791c87151b96a991ceb582edff19f3da204dcc7a7905502f2"
SYNONYMS_URL = f"{RAW}/LisaAnne/Hallucination/{LISAANNE_COMMIT}/data/synonyms.txt"
SYNONYMS_REFINE = "synonyms_refine.txt"
SYNONYMS_REFINE_SHA256 = "681041d2958d7871ed6fa69c3108f34aa6a0a354eb53ed4c5a425e65f86bc72a"
SYNONYMS_REFINE_URL = f"{RAW}/RLHF-V/RLAIF-V/{RLAIFV_COMMIT}/eval/data/synonyms_refine.txt"
IMAGE_LIST = "opera_llava15_greedy.jsonl"
IMAGE_LIST_SHA256 = "3d70bbefa95f1894a09e97e83f2a40531be39b12db50f4e2386c5bfc99842fdd"
IMAGE_LIST_URL = f"{RAW}/shikiw/OPERA/{OPERA_COMMIT}/log/chair_eval_results/llava-1.5/greedy.jsonl"

ANNOTATIONS_ZIP = "annotations_trainval2014.zip"
ANNOTATIONS_URL = "http://images.cocodataset.org/annotations/annotations_trainval2014.zip"
VAL2014_ZIP_URL = "http://images.cocodataset.org/zips/val2014.zip"
NLTK_DATA_BASE = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages"
# (folder, package): the *_tab / *_eng packages are what NLTK >= 3.8.2 / >= 3.9 load; the others older NLTK.
NLTK_PACKAGES = (
    ("tokenizers", "punkt"),
    ("tokenizers", "punkt_tab"),
    ("taggers", "averaged_perceptron_tagger"),
    ("taggers", "averaged_perceptron_tagger_eng"),
    ("corpora", "wordnet"),
)


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


def nltk_sources(packages: tuple[tuple[str, str], ...] = NLTK_PACKAGES) -> list[DataSource]:
    return [
        DataSource(
            path=f"nltk_data/{folder}/{package}.zip",
            url=f"{NLTK_DATA_BASE}/{folder}/{package}.zip",
            unpack=True,
            note=f"NLTK data package {package!r} (the scorer searches <data_dir>/nltk_data first).",
        )
        for folder, package in packages
    ]


def iter_jsonl(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a missing file or a bad line is a HarnessError."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: {what} not found")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{path}:{lineno}: malformed JSON line ({exc.msg})") from None
            if not isinstance(row, dict):
                raise HarnessError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def int_field(row: dict[str, Any], key: str, where: str) -> int:
    """An integer field (an int, or a string of digits); anything else is a HarnessError."""
    value = row.get(key)
    if isinstance(value, bool) or value is None:
        raise HarnessError(f"{where}: missing or non-integer field {key!r} ({value!r})")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise HarnessError(f"{where}: field {key!r} must be an integer, got {value!r}")


def keyed_predictions(
    path: Path, items, rows: Iterable[tuple[str, str, str]], id_name: str, what: str
) -> dict[str, str]:
    """``{key: text}`` from ``rows`` of (where, key, text), each already checked by the benchmark's reader;
    a key seen twice, or an item without a row, is a HarnessError naming the line or the ids."""
    predictions: dict[str, str] = {}
    for where, key, text in rows:
        if key in predictions:
            raise HarnessError(f"{where}: {id_name} {key} appears more than once")
        predictions[key] = text
    missing = [item.id for item in items if item.id not in predictions]
    if missing:
        raise missing_ids_error(path, missing, what)
    return predictions


def missing_ids_error(path: Path, missing: list[str], what: str = "prediction") -> HarnessError:
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return HarnessError(f"{path}: no {what} for id {shown}")


def read_image_list(path: Path) -> list[int]:
    """The image ids of OPERA's caption file, in file order; duplicates are an error."""
    ids: list[int] = []
    seen: set[int] = set()
    for lineno, row in iter_jsonl(path, "CHAIR image list (OPERA's LLaVA-1.5 captions; `harness data pull chair`)"):
        image_id = int_field(row, "image_id", f"{path}:{lineno}")
        if image_id in seen:
            raise HarnessError(f"{path}:{lineno}: image_id {image_id} appears twice")
        seen.add(image_id)
        ids.append(image_id)
    if not ids:
        raise HarnessError(f"{path}: no image ids")
    return ids
