"""Questions a method writes itself: whether each reads as a question, and what a method reports about them.

A question is *well-formed* when it starts with a question word, ends with its one ``?`` and carries no
format label of the prompts (``QUESTION``, ``Improved``): the check ``perf/tiny_abilities.py`` measures
the tiny model's self-questioning with (docs/proving-ground.md). A method that writes its own questions
reports ``question_counts`` in its stats (``stats["questions"]``) and marks each pair whose prompt is one
of them with ``provenance["question_well_formed"]`` (harness/method.py ``PreferenceSet``); the
leaderboard's pair table shows both shares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

QUESTION_WORDS = (
    "What",
    "Which",
    "How",
    "Is",
    "Are",
    "Where",
    "Does",
    "Do",
    "Can",
    "Who",
    "Why",
    "When",
    "Whose",
    "Was",
    "Were",
    "Did",
    "Could",
    "Would",
    "Should",
    "Will",
    "Has",
    "Have",
)
WELL_FORMED = re.compile(rf"^({'|'.join(QUESTION_WORDS)})\b[^?]*\?$")
LABELS = ("QUESTION", "Improved")  # format labels of the methods' prompts that a model may echo


def well_formed(question: str) -> bool:
    """A question word first, one ``?`` at the end, no format label (see the module doc)."""
    return bool(WELL_FORMED.match(question.strip())) and not any(label in question for label in LABELS)


def question_counts(questions: Iterable[str]) -> dict[str, int]:
    """``{"generated": n, "well_formed": m}`` of a method's own questions, for ``stats["questions"]``."""
    found = list(questions)
    return {"generated": len(found), "well_formed": sum(map(well_formed, found))}
