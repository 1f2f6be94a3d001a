"""CHAIR's COCO vocabulary: the synonym lists, the two-word rules and the caption → mentions step.

Written from the algorithm of the public CHAIR scorers (no code copied):

- the original, Rohrbach et al. (EMNLP 2018), LisaAnne/Hallucination ``utils/chair.py`` at
  6e4d33c4bedf, with its ``data/synonyms.txt``; OPERA's Python 3 port (shikiw/OPERA ``chair.py``
  at 61426efe4e2e, by Maxlinn) keeps the same list and rules;
- RLHF-V / RLAIF-V ``eval/eval_gpt_obj_halbench.py`` (RLHF-V/RLAIF-V at 83d917b2e811), with its
  ``eval/data/synonyms_refine.txt`` (used by Object HalBench).

Synonym file: one COCO class per line, the first entry is the class (the COCO category name),
entries separated by exactly ``", "`` after stripping the line. The original keeps each entry as
split, so the two entries written after a double space (``" motor bike"``, ``" cheesecake"``) can
never match, and ``iPhone`` never matches lower-cased text; RLAIF-V strips every entry.

Caption → mentions (:meth:`CocoVocabulary.mentions`), given the normalised tokens of a caption:

1. merge two-word units left to right: when ``token + " " + next`` is a key of the two-word table,
   emit its value and skip both, else emit the token;
2. when both ``toilet`` and ``seat`` occur in the merged list, drop every ``seat``;
3. keep the units that are vocabulary entries (exact match) and map each to its class; every
   mention is kept (two "dog"s are two mentions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

# The original two-word list (LisaAnne/Hallucination utils/chair.py; the same in OPERA's port).
ORIGINAL_DOUBLE_WORDS = (
    "motor bike",
    "motor cycle",
    "air plane",
    "traffic light",
    "street light",
    "traffic signal",
    "stop light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "suit case",
    "sports ball",
    "baseball bat",
    "baseball glove",
    "tennis racket",
    "wine glass",
    "hot dog",
    "cell phone",
    "mobile phone",
    "teddy bear",
    "hair drier",
    "potted plant",
    "bow tie",
    "laptop computer",
    "stove top oven",
    "home plate",
    "train track",
)
# "baby X"/"adult X" → X and "passenger X" → X, so that "baby" and "passenger" do not fire as person.
ANIMAL_WORDS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "animal", "cub")
VEHICLE_WORDS = ("jet", "train")
# Applied last, so they override the identity entries above.
OVERRIDES = (("bow tie", "tie"), ("toilet seat", "toilet"), ("wine glas", "wine glass"))
# RLAIF-V adds these two to its automatically collected multi-word entries.
REFINED_EXTRA_DOUBLE_WORDS = ("home plate", "train track")


def _qualifier_rules() -> dict[str, str]:
    table = {}
    for animal in ANIMAL_WORDS:
        table[f"baby {animal}"] = animal
        table[f"adult {animal}"] = animal
    for vehicle in VEHICLE_WORDS:
        table[f"passenger {vehicle}"] = vehicle
    return table


@dataclass(frozen=True)
class CaptionMentions:
    """What one caption mentions: vocabulary words, their classes (parallel), and the merged tokens."""

    words: list[str]
    classes: list[str]
    merged: list[str] = field(default_factory=list)  # after the two-word merge, before the toilet/seat rule


@dataclass(frozen=True)
class CocoVocabulary:
    """The vocabulary entries, their classes, and the two-word table of one CHAIR implementation."""

    entries: frozenset[str]
    classes: dict[str, str]  # entry → class (the first entry of its line)
    double_words: dict[str, str]
    source: str = ""

    @classmethod
    def original(cls, text: str, source: str = "synonyms.txt") -> CocoVocabulary:
        """The LisaAnne/OPERA vocabulary: entries kept as split, the fixed two-word list."""
        lines = _lines(text, source)
        table = {word: word for word in ORIGINAL_DOUBLE_WORDS}
        table.update(_qualifier_rules())
        table.update(OVERRIDES)
        return cls._build(lines, table, source)

    @classmethod
    def refined(cls, text: str, source: str = "synonyms_refine.txt") -> CocoVocabulary:
        """The RLHF-V/RLAIF-V vocabulary: entries stripped; every multi-word entry is a two-word unit."""
        lines = [[entry.strip() for entry in line] for line in _lines(text, source)]
        multi = [entry for line in lines for entry in line if len(entry.strip().split(" ")) >= 2]
        table = {word: word for word in [*multi, *REFINED_EXTRA_DOUBLE_WORDS]}
        table.update(_qualifier_rules())
        table.update(OVERRIDES)
        return cls._build(lines, table, source)

    @classmethod
    def _build(cls, lines: list[list[str]], table: dict[str, str], source: str) -> CocoVocabulary:
        classes: dict[str, str] = {}
        for line in lines:
            for entry in line:
                classes[entry] = line[0]  # a repeated entry maps to the same class again
        return cls(entries=frozenset(classes), classes=classes, double_words=table, source=source)

    @classmethod
    def read(cls, path: Path, *, refined: bool = False) -> CocoVocabulary:
        """Read a synonym file (``refined``: RLAIF-V's rules); a missing file is a HarnessError."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise HarnessError(f"{path}: synonym list not found (run `harness data pull` for the benchmark)") from None
        return cls.refined(text, str(path)) if refined else cls.original(text, str(path))

    @property
    def class_names(self) -> frozenset[str]:
        return frozenset(self.classes.values())

    def class_of_category(self, name: str, where: str) -> str:
        """The class of a COCO category name (instance annotations); unknown names are an error."""
        try:
            return self.classes[name]
        except KeyError:
            raise HarnessError(f"{where}: COCO category {name!r} is not in the synonym list {self.source}") from None

    def merge(self, tokens: Sequence[str]) -> list[str]:
        """Step 1: the left-to-right two-word merge."""
        merged: list[str] = []
        i = 0
        while i < len(tokens):
            pair = " ".join(tokens[i : i + 2])
            if pair in self.double_words:
                merged.append(self.double_words[pair])
                i += 2
            else:
                merged.append(tokens[i])
                i += 1
        return merged

    def mentions(self, tokens: Sequence[str]) -> CaptionMentions:
        """Steps 1–3 on the normalised tokens of one caption."""
        merged = self.merge(tokens)
        units = merged
        if "toilet" in units and "seat" in units:
            units = [unit for unit in units if unit != "seat"]
        words = [unit for unit in units if unit in self.entries]
        return CaptionMentions(words=words, classes=[self.classes[w] for w in words], merged=merged)

    def objects_to_mentions(self, objects: Sequence[str]) -> CaptionMentions:
        """RLAIF-V's GPT path: extracted object strings go through steps 2–3 only (no merge)."""
        units = list(objects)
        if "toilet" in units and "seat" in units:
            units = [unit for unit in units if unit != "seat"]
        words = [unit for unit in units if unit in self.entries]
        return CaptionMentions(words=words, classes=[self.classes[w] for w in words], merged=list(objects))


def _lines(text: str, source: str) -> list[list[str]]:
    lines = [raw.strip().split(", ") for raw in text.splitlines() if raw.strip()]
    if not lines:
        raise HarnessError(f"{source}: the synonym list is empty")
    return lines
