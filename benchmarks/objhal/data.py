"""Object HalBench's question file: where it comes from, how it is checked and read.

``eval/data/obj_halbench_300_with_image.jsonl`` of RLHF-V/RLAIF-V at
83d917b2e8118ca8e7877a796d72af9bb3e6b356 (the same git blob, cb8e15a81a1ddf720f306fda0decefb1ed80c31f,
as RLHF-V/RLHF-V at 8daac8a8f30d; dataset licence CC BY-NC 4.0 per both READMEs): 300 lines, each
with ``image_id`` (a COCO id), ``question`` (one of the benchmark's 8 prompts) and ``image`` (a
base64 JPEG) or ``image_path``. No SHA-256 of it is published, so ``load`` checks the git blob
SHA-1 instead (``git hash-object``), which the repositories' trees record.

Item ids are line indices from 0, the ``question_id`` RLAIF-V's LLaVA-1.5 script
(``muffin/eval/llava15_chair.py``) writes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common.data_sources import RLAIFV_COMMIT
from benchmarks.common.jsonl import int_field, iter_jsonl
from harness.atomic import write_bytes
from harness.errors import HarnessError

QUESTIONS = "obj_halbench_300_with_image.jsonl"
QUESTIONS_URL = f"https://raw.githubusercontent.com/RLHF-V/RLAIF-V/{RLAIFV_COMMIT}/eval/data/{QUESTIONS}"
QUESTIONS_GIT_BLOB = "cb8e15a81a1ddf720f306fda0decefb1ed80c31f"
IMAGE_DIR = "images"


def git_blob_sha1(path: Path) -> str:
    """What ``git hash-object`` prints for the file: SHA-1 of ``b"blob <size>\\0" + content``."""
    size = path.stat().st_size
    digest = hashlib.sha1(f"blob {size}\0".encode())
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ObjHalQuestion:
    index: int
    image_id: int
    question: str
    image: Path


def read_questions(
    path: Path, image_dir: Path, *, expected_blob: str | None = QUESTIONS_GIT_BLOB
) -> list[ObjHalQuestion]:
    """The questions in file order; base64 images are written once to ``image_dir/<index>.jpg``.

    ``expected_blob``: the git blob SHA-1 the file must have (None: not checked, for other copies).
    """
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: Object HalBench question file not found (`harness data pull objhal`)")
    if expected_blob is not None:
        blob = git_blob_sha1(path)
        if blob != expected_blob:
            raise HarnessError(
                f"{path}: git blob SHA-1 {blob}, expected {expected_blob} (RLHF-V/RLAIF-V@"
                f"{RLAIFV_COMMIT[:12]}); delete it and run `harness data pull objhal` again"
            )
    questions: list[ObjHalQuestion] = []
    for index, (lineno, row) in enumerate(iter_jsonl(path, "Object HalBench question file")):
        where = f"{path}:{lineno}"
        image_id = int_field(row, "image_id", where)
        question = row.get("question")
        if not isinstance(question, str):
            raise HarnessError(f"{where}: image_id {image_id}: missing or non-string field 'question'")
        if isinstance(row.get("image"), str):
            image = Path(image_dir) / f"{index}.jpg"
            if not image.is_file():
                try:
                    data = base64.b64decode(row["image"], validate=False)
                except (binascii.Error, ValueError) as exc:
                    raise HarnessError(f"{where}: image_id {image_id}: field 'image' is not base64 ({exc})") from None
                write_bytes(image, data)
        elif isinstance(row.get("image_path"), str):
            image = Path(row["image_path"])
            if not image.is_absolute():
                image = path.parent / image
        else:
            raise HarnessError(f"{where}: image_id {image_id}: neither 'image' (base64) nor 'image_path'")
        questions.append(ObjHalQuestion(index=index, image_id=image_id, question=question, image=image))
    if not questions:
        raise HarnessError(f"{path}: no questions")
    return questions
