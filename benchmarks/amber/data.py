"""AMBER's official release files: where they come from and how they are read.

The files are those of the public repository junyangwang0410/AMBER (Apache-2.0), read at the
snapshot :data:`AMBER_COMMIT`; the data files have not changed since the initial commit. The
layout under a benchmark data directory mirrors the repository (``data/annotations.json``,
``data/query/query_all.json`` …) plus ``images/`` for the 1,004 images.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.atomic import read_json
from harness.errors import HarnessError

AMBER_REPO = "junyangwang0410/AMBER"
AMBER_COMMIT = "534babf6bbfcce2e735c26289dedfb21cef3c939"  # 2024-01-15; data as of 2023-12-18
RAW_BASE = f"https://raw.githubusercontent.com/{AMBER_REPO}/{AMBER_COMMIT}"

# SHA-256 of the official files (verified on the files of the snapshot above).
FILE_SHA256: dict[str, str] = {
    "data/annotations.json": "db22a436c4836fbb295e60b4e80d519573077579fb7032f01b193c1bd022b797",
    "data/relation.json": "c4c1491e9bbc3209abc1888c12a1bf8413bdbab8a0d8be04b990a2e7680cf23e",
    "data/safe_words.txt": "f92cf1123f4578a2630832fac3e6ac4de36212ea55859d3bed4fd233723f4043",
    "data/metrics.txt": "2fbe2ee584d10e7ce0a568a4902d3d2296727d45f761bf091dd35c4e4b5bc6ac",
    "data/query/query_all.json": "127680ae61f7d4a92d2f7f07a8deaec07f0689b194d2c7c0f41ead7bd2c5bcf5",
    "data/query/query_generative.json": "b7e4c36596126ee36d2c3922638b7fa98743c26efda78fea2315f4425258d087",
    "data/query/query_discriminative.json": "1502887ac020f4bb7ea564af4e37bddcb030d61b78490d00f9da492a2307abb8",
    "data/query/query_discriminative-attribute.json": "35c0fe71290789c5eb198e9a3f5732533bcb35f1d963b57539aab5d1b41dd827",
    "data/query/query_discriminative-existence.json": "657cce3b3ccd02303998d7d27d1ce06bd210a7a55aa6c888b1b86d5a9dfd9849",
    "data/query/query_discriminative-relation.json": "36e08860653a1562acb657c250604c3d4e26f8a5f99a376fd53c67f9242be20f",
}

# The official `--evaluation_type` choices and the query file the AMBER README pairs with each.
QUERY_FILES: dict[str, str] = {
    "a": "query_all.json",
    "g": "query_generative.json",
    "d": "query_discriminative.json",
    "de": "query_discriminative-existence.json",
    "da": "query_discriminative-attribute.json",
    "dr": "query_discriminative-relation.json",
}

GENERATIVE = "generative"
DISCRIMINATIVE_TYPES = (
    "discriminative-attribute-state",
    "discriminative-attribute-number",
    "discriminative-attribute-action",
    "discriminative-hallucination",
    "discriminative-relation",
    "relation",
)


@dataclass
class AmberData:
    """Everything the official scorer reads, as it reads it."""

    root: Path  # the folder holding annotations.json, relation.json, … (the repo's `data/`)
    annotations: list[dict[str, Any]]  # annotations[id - 1]
    relation: dict[str, list[str]]  # object word → associated words, in file order
    safe_words: list[str]  # data/safe_words.txt, one word per line
    counters: dict[str, int | float]  # data/metrics.txt: the initial value of every counter
    vocabulary: list[str] = field(default_factory=list)  # every key and value of `relation`

    def annotation(self, item_id: int) -> dict[str, Any]:
        """The annotation of an official id (1-based, as the official indexes ``annotations[id-1]``)."""
        if not 1 <= item_id <= len(self.annotations):
            raise HarnessError(f"{self.root / 'annotations.json'}: no annotation for id {item_id}")
        return self.annotations[item_id - 1]


def data_root(data_dir: Path) -> Path:
    """The folder holding the official files: ``data_dir/data`` (repo layout) or ``data_dir`` itself."""
    data_dir = Path(data_dir)
    if (data_dir / "data" / "annotations.json").is_file():
        return data_dir / "data"
    if (data_dir / "annotations.json").is_file():
        return data_dir
    raise HarnessError(
        f"{data_dir / 'data' / 'annotations.json'}: AMBER annotations not found; "
        "run `harness data pull amber` (or copy the repository's data/ folder there)"
    )


def vocabulary(relation: Mapping[str, list[str]]) -> list[str]:
    """Every word the official treats as an object word: each key, then its associated words.

    Order of first appearance, duplicates dropped (the official keeps a list with duplicates;
    membership is all it is used for).
    """
    seen: dict[str, None] = {}
    for key, values in relation.items():
        seen.setdefault(key, None)
        for value in values:
            seen.setdefault(value, None)
    return list(seen)


def read_safe_words(path: Path) -> list[str]:
    """One word per line, the text before the first newline kept as is (no stripping)."""
    if not path.is_file():
        raise HarnessError(f"{path}: file not found; run `harness data pull amber`")
    with path.open(encoding="utf-8") as fh:
        return [line.split("\n")[0] for line in fh]


def read_counters(path: Path) -> dict[str, int | float]:
    """``name=value`` lines; lines without exactly one ``=`` are ignored, as the official does."""
    if not path.is_file():
        raise HarnessError(f"{path}: file not found; run `harness data pull amber`")
    counters: dict[str, int | float] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.strip().split("=")
        if len(parts) != 2:
            continue
        try:
            value = ast.literal_eval(parts[1].strip())
        except (ValueError, SyntaxError):
            raise HarnessError(f"{path}:{lineno}: counter value is not a number: {parts[1].strip()!r}") from None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise HarnessError(f"{path}:{lineno}: counter value is not a number: {parts[1].strip()!r}")
        counters[parts[0].strip()] = value
    return counters


def read_relation(path: Path) -> dict[str, list[str]]:
    relation = read_json(path)
    if not isinstance(relation, dict):
        raise HarnessError(f"{path}: expected a JSON object (word → list of associated words)")
    for key, values in relation.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise HarnessError(f"{path}: entry {key!r} is not a list of words")
    return relation


def read_annotations(path: Path, relation: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    annotations = read_json(path)
    if not isinstance(annotations, list):
        raise HarnessError(f"{path}: expected a JSON list of annotation records")
    for position, record in enumerate(annotations):
        where = f"{path}: record {position} (id {position + 1})"
        if not isinstance(record, dict) or record.get("id") != position + 1:
            raise HarnessError(f"{where}: expected a record with id {position + 1}")
        kind = record.get("type")
        if kind == GENERATIVE:
            for key in ("truth", "hallu"):
                words = record.get(key)
                if not isinstance(words, list):
                    raise HarnessError(f"{where}: '{key}' must be a list of object words")
                for word in words:
                    if word not in relation:
                        raise HarnessError(f"{where}: object {word!r} has no entry in relation.json")
        elif kind in DISCRIMINATIVE_TYPES:
            if record.get("truth") not in ("yes", "no"):
                raise HarnessError(f'{where}: \'truth\' must be "yes" or "no"')
        else:
            raise HarnessError(f"{where}: unknown type {kind!r}")
    return annotations


def read_queries(path: Path, annotations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A query file: a JSON list of ``{id, image, query}``; ids must have an annotation."""
    queries = read_json(path)
    if not isinstance(queries, list):
        raise HarnessError(f"{path}: expected a JSON list of {{id, image, query}} records")
    seen: set[int] = set()
    for position, record in enumerate(queries):
        if not isinstance(record, dict):
            raise HarnessError(f"{path}: record {position} is not an object")
        item_id = record.get("id")
        if not isinstance(item_id, int) or isinstance(item_id, bool) or not 1 <= item_id <= len(annotations):
            raise HarnessError(f"{path}: record {position}: id {item_id!r} has no annotation")
        if item_id in seen:
            raise HarnessError(f"{path}: id {item_id} appears twice")
        seen.add(item_id)
        if not isinstance(record.get("image"), str) or not isinstance(record.get("query"), str):
            raise HarnessError(f"{path}: id {item_id}: 'image' and 'query' must be strings")
    return queries


def load_amber_data(data_dir: Path) -> AmberData:
    """Read annotations, relation table, safe words and counter template under ``data_dir``."""
    root = data_root(data_dir)
    relation = read_relation(root / "relation.json")
    return AmberData(
        root=root,
        annotations=read_annotations(root / "annotations.json", relation),
        relation=relation,
        safe_words=read_safe_words(root / "safe_words.txt"),
        counters=read_counters(root / "metrics.txt"),
        vocabulary=vocabulary(relation),
    )
