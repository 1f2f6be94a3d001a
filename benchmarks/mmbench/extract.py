"""MMBench answer extraction: VLMEvalKit's rules (2024 behaviour) and its judge prompt.

The rules reproduce ``can_infer`` of open-compass/VLMEvalKit ``vlmeval/utils/matching_util.py``
as it stood in 2024 (snapshot f628ed15d66e, the last before 2024-11-30):

1. option match: a reply containing "Failed to obtain answer via API" gives no option; a reply
   containing one of the refusal phrases gives "Z"; otherwise the characters ``.()[],:;!*#{}``
   become spaces, the text is split on whitespace, and if exactly one valid option letter is a
   token that letter wins; if none is and "Z" is a token, "Z"; otherwise no option.
2. text match (only when 1 gave nothing): if exactly one option's lower-cased text is a
   substring of the lower-cased reply, its letter; otherwise nothing.

The later rule changes (2025-08: the letter must be among the last tokens and long replies skip
the text match; 2026-06: an "answer is X" regex) are not reproduced: SENA's numbers predate them.
The "A might be a quantifier" rejection only runs when VLMEvalKit's env ``VERBOSE`` is set, so it
is off here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

# The judge (extractor) prompt, verbatim. Source: open-compass/VLMEvalKit,
# vlmeval/dataset/utils/multiple_choice.py, function ``build_prompt`` (snapshot f628ed15d66e;
# the same text in later snapshots). Three ``{}`` slots: question, option string, prediction.
# 764 characters, SHA-256 133b2beaa0ce149aab95c6d01d4629f034e8861c723fc302ab3853a41e690c86
# (checked by tests/test_mmbench.py).
JUDGE_TEMPLATE = (
    "You are an AI assistant who will help me to match "
    "an answer with several options of a single-choice question. "
    "You are provided with a question, several options, and an answer, "
    "and you need to find which option is most similar to the answer. "
    "If the meaning of all options are significantly different from the answer, output Z. "
    "Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)
JUDGE_TEMPLATE_SHA256 = "133b2beaa0ce149aab95c6d01d4629f034e8861c723fc302ab3853a41e690c86"

# VLMEvalKit's OpenAI wrapper returns this text when every API retry failed.
API_FAILURE_MARKER = "Failed to obtain answer via API"

# Replies that mean "the model refused": extracted as "Z" (never a valid option).
REFUSAL_PHRASES = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)

_PUNCTUATION = ".()[],:;!*#{}"


def template_sha256() -> str:
    """SHA-256 of the judge template as UTF-8 (the protocol card's prompt_version)."""
    return hashlib.sha256(JUDGE_TEMPLATE.encode("utf-8")).hexdigest()


def option_match(answer: str, letters: list[str]) -> tuple[str | None, str]:
    """Rule 1 (``can_infer_option``). Returns (letter or "Z" or None, the rule that decided)."""
    if API_FAILURE_MARKER in answer:
        return None, "api_failure_text"
    for phrase in REFUSAL_PHRASES:
        if phrase in answer:
            return "Z", "refusal"
    spaced = answer
    for ch in _PUNCTUATION:
        spaced = spaced.replace(ch, " ")
    tokens = spaced.split()
    present = [letter for letter in letters if letter in tokens]
    if len(present) == 1:
        return present[0], "option_letter"
    if not present and "Z" in tokens:
        return "Z", "lone_z"
    return None, "ambiguous_letters" if present else "no_letter"


def text_match(answer: str, choices: Mapping[str, str]) -> str | None:
    """Rule 2 (``can_infer_text``): the one option whose lower-cased text occurs in the answer."""
    lowered = answer.lower()
    hits = [letter for letter, text in choices.items() if str(text).lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def infer(answer: object, choices: Mapping[str, str]) -> tuple[str | None, str]:
    """VLMEvalKit's ``can_infer``: option match, else text match.

    ``answer`` is cast with ``str`` as the official code does (a missing prediction is "nan").
    ``choices`` maps each valid letter (options that are not NaN, in order) to its text.
    Returns (letter, "Z" or None; the rule that decided: ``option_letter``, ``lone_z``,
    ``refusal``, ``option_text``; or why none did: ``ambiguous`` (several letters),
    ``no_match``, ``api_failure_text``).
    """
    text = str(answer)
    letter, rule = option_match(text, list(choices))
    if letter is not None:
        return letter, rule
    by_text = text_match(text, choices)
    if by_text is not None:
        return by_text, "option_text"
    if rule == "api_failure_text":
        return None, rule
    return None, "ambiguous" if rule == "ambiguous_letters" else "no_match"


def option_string(choices: Mapping[str, str]) -> str:
    """The ``{options}`` slot of the judge prompt (VLMEvalKit ``build_option_str``)."""
    return "There are several options: \n" + "".join(f"{letter}. {text}\n" for letter, text in choices.items())


def judge_prompt(question: str, choices: Mapping[str, str], prediction: str) -> str:
    """The user message sent to the extractor: the template filled with question, options, answer."""
    return JUDGE_TEMPLATE.format(question, option_string(choices), prediction)
