"""AMBER's discriminative task: yes/no questions, "No" is the positive class.

As in the official scorer (junyangwang0410/AMBER ``inference.py`` at 534babf6bbfc), a response
counts only when it is exactly ``"Yes"`` or ``"No"`` (case-sensitive, nothing around it); any
other string is wrong and is not an answer "No". Each annotation type feeds one counter bucket:
``as`` attribute-state, ``an`` attribute-number, ``aa`` attribute-action, ``ha`` existence
(type ``discriminative-hallucination``), ``asso`` everything else (both relation types).

The ``shapes`` benchmark scores its existence questions with the same counters.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping

BUCKETS: dict[str, str] = {
    "discriminative-attribute-state": "as",
    "discriminative-attribute-number": "an",
    "discriminative-attribute-action": "aa",
    "discriminative-hallucination": "ha",
}
RELATION_BUCKET = "asso"

# The official --evaluation_type dimension each bucket belongs to.
BUCKET_DIMENSION = {"as": "da", "an": "da", "aa": "da", "ha": "de", RELATION_BUCKET: "dr"}


def bucket_of(kind: str) -> str:
    """The counter prefix of an annotation type (anything unlisted goes to the relation bucket)."""
    return BUCKETS.get(kind, RELATION_BUCKET)


def is_correct(truth: str, response: str) -> bool:
    return (truth == "yes" and response == "Yes") or (truth != "yes" and response == "No")


def count_answer(counters: MutableMapping[str, float], kind: str, truth: str, response: str) -> bool:
    """Add one yes/no answer to the official counters; returns whether it is correct."""
    bucket = bucket_of(kind)

    def add(name: str) -> None:
        counters[name] += 1
        counters[f"{bucket}_{name}"] += 1

    add("qa_correct_num")
    if truth == "yes":
        if response == "Yes":
            add("qa_correct_score")
    else:
        add("qa_no_num")
        if response == "No":
            add("qa_correct_score")
            add("qa_no_score")
    if response == "No":
        add("qa_ans_no_num")
        if truth == "no":
            add("qa_ans_no_score")
    return is_correct(truth, response)


_LEADING_YES_NO = re.compile(r"\s*(yes|no)\b", re.IGNORECASE)


def normalize_yes_no(response: str) -> str:
    """Optional (non-official) clean-up: a response opening with the word yes/no (any case,
    e.g. "yes", "Yes.", "No, there is not") becomes exactly "Yes"/"No"; others are unchanged."""
    match = _LEADING_YES_NO.match(response)
    if not match:
        return response
    return "Yes" if match.group(1).lower() == "yes" else "No"
