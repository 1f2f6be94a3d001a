"""AMBER's generative task: one description scored against its truth and hallu objects.

Reproduces the per-response loop of the official scorer (junyangwang0410/AMBER ``inference.py``
at 534babf6bbfc), step for step, because the order of the checks decides which object a noun
credits:

1. object mentions = the response's nouns that are AMBER vocabulary words (order, duplicates kept);
2. for the truth objects and, separately, the hallu objects, a "slot" list is built: all their
   associated words (relation.json, object by object) first, then the objects themselves; a
   parallel list holds, for each associated word, the index of the object it came from, and for
   the object positions a coverage flag (0 at start);
3. per mention: a global safe word → skipped; an exact truth slot → credit the **first** exact
   slot (an associated word credits its owner object, an object position credits itself), not
   hallucinated; otherwise an exact hallu slot is credited, then the first hallu slot whose
   similarity exceeds the threshold, then the first similar truth slot (credited, not
   hallucinated); a mention that matched no truth slot is hallucinated.

The coverage flags are the last ``len(objects)`` entries of the parallel list; as in the
official, they are read with ``[-n:]`` (so an empty object list would read the whole list).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from benchmarks.amber.nlp import NounExtractor
from benchmarks.amber.similarity import WordSimilarity


@dataclass
class DescriptionScore:
    """The outcome for one generative response."""

    mentions: list[str]  # vocabulary nouns, in order (the CHAIR denominator)
    hallucinated: list[int]  # 1 per mention judged hallucinated, else 0
    truth_flags: list[int]  # coverage flags read as the official reads them (normally one per truth object)
    hallu_flags: list[int]  # the same for the hallu objects (Cog)

    @property
    def hallucination_free(self) -> bool:
        return sum(self.hallucinated) == 0


class _Slots:
    """Associated words of each object, then the objects; owners/flags in a parallel list."""

    def __init__(self, objects: Sequence[str], relation: Mapping[str, Sequence[str]]) -> None:
        self.words: list[str] = []
        self.marks: list[int] = []  # owner index (association part) or coverage flag (object part)
        for owner, obj in enumerate(objects):
            associated = list(relation[obj])
            self.words.extend(associated)
            self.marks.extend([owner] * len(associated))
        self.words.extend(objects)
        self.marks.extend([0] * len(objects))
        self.n_objects = len(objects)

    def credit(self, position: int) -> None:
        """Set the coverage flag that slot ``position`` stands for."""
        first_object = len(self.marks) - self.n_objects
        if position < first_object:
            self.marks[first_object + self.marks[position]] = 1
        else:
            self.marks[position] = 1

    def credit_first_exact(self, noun: str) -> bool:
        for position, word in enumerate(self.words):
            if word == noun:
                self.credit(position)
                return True
        return False

    def credit_first_similar(self, noun: str, similarity: WordSimilarity, threshold: float) -> bool:
        for position, word in enumerate(self.words):
            if similarity.exceeds(noun, word, threshold):
                self.credit(position)
                return True
        return False

    def flags(self) -> list[int]:
        return self.marks[-self.n_objects :]


def score_description(
    response: str,
    truth: Sequence[str],
    hallu: Sequence[str],
    *,
    relation: Mapping[str, Sequence[str]],
    vocabulary: Collection[str],
    safe_words: Collection[str],
    extractor: NounExtractor,
    similarity: WordSimilarity,
    threshold: float = 0.8,
) -> DescriptionScore:
    """Score one description exactly as the official per-response loop does."""
    mentions = [noun for noun in extractor.nouns(response) if noun in vocabulary]
    truth_slots = _Slots(truth, relation)
    hallu_slots = _Slots(hallu, relation)
    hallucinated = [0] * len(mentions)
    for index, noun in enumerate(mentions):
        if noun in safe_words:
            continue
        if truth_slots.credit_first_exact(noun):
            continue
        hallu_slots.credit_first_exact(noun)
        hallu_slots.credit_first_similar(noun, similarity, threshold)
        if truth_slots.credit_first_similar(noun, similarity, threshold):
            continue
        hallucinated[index] = 1
    return DescriptionScore(
        mentions=mentions,
        hallucinated=hallucinated,
        truth_flags=truth_slots.flags(),
        hallu_flags=hallu_slots.flags(),
    )
