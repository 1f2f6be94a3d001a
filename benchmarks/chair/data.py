"""Where CHAIR's own files come from.

Sources (exact commits; SHA-256 of the files as published there):

- ``synonyms.txt``: LisaAnne/Hallucination ``data/synonyms.txt`` at
  6e4d33c4bedf6dfcd24c61bf527f40714717be47 (BSD 2-Clause per that repository's README).
- ``opera_llava15_greedy.jsonl``: shikiw/OPERA ``log/chair_eval_results/llava-1.5/greedy.jsonl`` at
  61426efe4e2e53207f32d9112a86ba5f8364d1d9 (MIT): OPERA's LLaVA-1.5-7B greedy captions. Its 500
  ``image_id``s are the de-facto CHAIR image list (OPERA's sampling, a shuffled ``os.listdir``,
  cannot be re-created; its authors point to these files, OPERA issues #19 and #37).

The files CHAIR shares with other benchmarks are in benchmarks/common/data_sources.py
(``synonyms_refine.txt`` for the ``rlaifv`` variant, the COCO 2014 annotations, the COCO val2014
images) and benchmarks/common/nltk_data.py (the NLTK data packages; what the variants need:
benchmarks/common/caption_normalisers.py).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common.data_sources import RAW
from benchmarks.common.jsonl import int_field, iter_jsonl
from harness.errors import HarnessError

LISAANNE_COMMIT = "6e4d33c4bedf6dfcd24c61bf527f40714717be47"
OPERA_COMMIT = "61426efe4e2e53207f32d9112a86ba5f8364d1d9"

SYNONYMS = "synonyms.txt"
SYNONYMS_SHA256 = "b685537b36fe21b791c87151b96a991ceb582edff19f3da204dcc7a7905502f2"
SYNONYMS_URL = f"{RAW}/LisaAnne/Hallucination/{LISAANNE_COMMIT}/data/synonyms.txt"
IMAGE_LIST = "opera_llava15_greedy.jsonl"
IMAGE_LIST_SHA256 = "3d70bbefa95f1894a09e97e83f2a40531be39b12db50f4e2386c5bfc99842fdd"
IMAGE_LIST_URL = f"{RAW}/shikiw/OPERA/{OPERA_COMMIT}/log/chair_eval_results/llava-1.5/greedy.jsonl"


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
