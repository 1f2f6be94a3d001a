"""POPE's question/label files (COCO split), the versions that exist, and how they are read.

POPE (Li et al., EMNLP 2023; RUCAIBox/POPE, MIT). ``output/coco/coco_pope_{split}.json`` holds one
JSON object per line (JSON Lines despite the extension): ``question_id``, ``image`` (a COCO val2014
file name), ``text`` (the question) and ``label`` (``"yes"``/``"no"``).

Versions (file SHA-256 at each commit):

- ``llava``: RUCAIBox/POPE at e3e39262c85a6a83f26cf5094022a782cb0df58d (2023-08-10), the commit
  LLaVA-1.5's ``docs/Evaluation.md`` links to and the files its published POPE numbers were scored
  against: random has 2,910 questions, popular and adversarial 3,000 (8,910 in all).
- ``current``: RUCAIBox/POPE at 3df3ba1b110ecce25696989577fad583b67d4239 (HEAD, 2024-03-25):
  3,000 per split; 90 random negatives were inserted later, so random's lines shift, and the
  "imange" typos are fixed.

Item ids are LLaVA-1.5's question ids (``playground/data/eval/pope/llava_pope_test.jsonl``):
``offset + question_id`` with offsets 0 (adversarial), 10,000,000 (random), 20,000,000 (popular),
in that order, so LLaVA's own answer files are read as they are. An answer row may instead carry
POPE's own per-split ``question_id`` (1..3000 in each ``coco_pope_<split>.json``) with its split
given: a ``category`` field (the name LLaVA's question file uses) or ``split`` field on the row, or
the benchmark option ``split`` for a file holding one split (``answer_key``; docs/data.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.common.jsonl import int_field, iter_jsonl
from harness.errors import HarnessError

POPE_REPO = "RUCAIBox/POPE"
SPLITS = ("adversarial", "random", "popular")  # LLaVA's question-file order
ID_OFFSET = {"adversarial": 0, "random": 10_000_000, "popular": 20_000_000}


@dataclass(frozen=True)
class PopeVersion:
    name: str
    commit: str
    folder: str  # where its files go under the data directory
    sha256: dict[str, str]
    questions: dict[str, int]
    note: str

    def path(self, split: str) -> str:
        return f"{self.folder}/coco_pope_{split}.json"

    def url(self, split: str) -> str:
        return f"https://raw.githubusercontent.com/{POPE_REPO}/{self.commit}/output/coco/coco_pope_{split}.json"


VERSIONS = {
    "llava": PopeVersion(
        name="llava",
        commit="e3e39262c85a6a83f26cf5094022a782cb0df58d",
        folder="coco_llava_pinned_e3e3926",
        sha256={
            "random": "c16b65d2df6d70bb0814c8a4375833d39cdb09928fd936d3fc546491efa37f35",
            "popular": "5b16653023bf4f64d57eb0d168259de6627f5cde7538b85ebed3cc33034aa6cc",
            "adversarial": "1d8f0906a9b50c05640f6f23abfac97523be2a1bed28f7eadc63b811699b2d26",
        },
        questions={"adversarial": 3000, "random": 2910, "popular": 3000},
        note="the version LLaVA-1.5 pins (docs/Evaluation.md) and was scored against",
    ),
    "current": PopeVersion(
        name="current",
        commit="3df3ba1b110ecce25696989577fad583b67d4239",
        folder="coco",
        sha256={
            "random": "ac25245170b975a5bdf9080b23fd431dfe6be458bc038259c1f4f09a6bef7994",
            "popular": "72c1a8ad45d0c13514f5f22598261df41d3b533854d29682e924db50ed8aa753",
            "adversarial": "420b3407db1fa9f1187a805dca41cb7b97fd91504e6c2179706188c107fb8ef8",
        },
        questions={"adversarial": 3000, "random": 3000, "popular": 3000},
        note="POPE's current HEAD (3,000 random questions; not what LLaVA-1.5's numbers used)",
    ),
}


def split_of(item_id: int) -> str | None:
    """The split a LLaVA-scheme id belongs to (None: outside every split's range)."""
    for split, offset in sorted(ID_OFFSET.items(), key=lambda kv: -kv[1]):
        if offset < item_id < offset + 10_000_000:
            return split
    return None


def answer_key(question_id: int, given: str | None, where: str) -> str:
    """The item id of an answer row: ``question_id`` in LLaVA's scheme (the split read from the id), or POPE's
    per-split id (below 10,000,000) mapped with the split ``given`` by the row or the ``split`` option. A split
    that contradicts a LLaVA-scheme id is an error naming the line."""
    if given is not None and given not in SPLITS:
        raise HarnessError(f"{where}: split {given!r} unknown; POPE's splits: {', '.join(SPLITS)}")
    in_id = split_of(question_id)
    if question_id >= 10_000_000 or given is None:  # LLaVA's scheme (adversarial's offset is 0: both schemes agree)
        if given is not None and in_id is not None and in_id != given:
            raise HarnessError(
                f"{where}: question_id {question_id} is a {in_id} id in LLaVA's scheme, but the row's split is {given!r}"
            )
        return str(question_id)
    return str(ID_OFFSET[given] + question_id)


@dataclass(frozen=True)
class PopeQuestion:
    split: str
    question_id: int
    image: str
    text: str
    label: str  # "yes" | "no"

    @property
    def item_id(self) -> str:
        return str(ID_OFFSET[self.split] + self.question_id)


def read_label_file(path: Path, split: str) -> list[PopeQuestion]:
    """One split's questions in file order; bad lines and duplicated ids name the file and line."""
    questions: list[PopeQuestion] = []
    seen: set[int] = set()
    for lineno, row in iter_jsonl(path, f"POPE {split} question/label file (`harness data pull pope`)"):
        where = f"{path}:{lineno}"
        qid = int_field(row, "question_id", where)
        if not 0 < qid < 10_000_000:
            raise HarnessError(f"{where}: question_id {qid} outside 1..9999999")
        if qid in seen:
            raise HarnessError(f"{where}: question_id {qid} appears twice")
        seen.add(qid)
        for key in ("image", "text"):
            if not isinstance(row.get(key), str):
                raise HarnessError(f"{where}: question_id {qid}: missing or non-string field {key!r}")
        if row.get("label") not in ("yes", "no"):
            raise HarnessError(f"{where}: question_id {qid}: label must be 'yes' or 'no', got {row.get('label')!r}")
        questions.append(PopeQuestion(split, qid, row["image"], row["text"], row["label"]))
    if not questions:
        raise HarnessError(f"{path}: no questions")
    return questions
