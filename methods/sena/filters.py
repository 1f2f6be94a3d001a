"""SENA's question extraction and pair filters, as the released code applies them.

Source of the rules (behaviour, not code): WentaoTan/SENA commit 9642a7f, ``data/step2/generate_question.py``
(question extraction after p_sq) and ``data/step2/make_pair.py`` (pair filters).
Every rule is the official one, including its quirks: the ``name`` tests are
case-sensitive substring tests (they also hit "named", "names", "surname"…), ``Yes``/``No`` are
exact matches ("Yes." passes), the substring test lower-cases only the rejected answer, and spaces
count as non-alphanumeric characters.

Sentence and word splitting. The official filter calls ``nltk.sent_tokenize`` and
``nltk.word_tokenize``, which need NLTK's ``punkt_tab`` data. ``make_splitter("auto")`` uses them when
that data is installed. Otherwise (the offline default here) it falls back to NLTK's *untrained*
``PunktSentenceTokenizer`` (the same Punkt algorithm without the learned English abbreviation and
collocation lists, so "Mr. Smith" splits after "Mr.") and ``NLTKWordTokenizer`` (exactly the word
tokenizer ``word_tokenize`` applies to each sentence; it needs no data). The two differ only around
abbreviations, which matters for the repeated-sentence test on rare inputs. The tests run with the
fallback. ``make_splitter("nltk")`` insists on the data; ``make_splitter("fallback")`` never uses it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from methods.sena.prompts import QUESTION_LABEL

SPLITTERS = ("auto", "nltk", "fallback")
MAX_TOKEN_REPEATS = 30  # make_pair.py: a token occurring more than 30 times marks a degenerate answer
MAX_NON_TEXT_FRACTION = 0.5  # make_pair.py: more than half non-alphanumeric characters
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")  # generate_question.py's split of the p_sq output


@dataclass(frozen=True)
class Splitter:
    """Sentence and word tokenisation for the repeated-text filter."""

    name: str
    sentences: Callable[[str], list[str]]
    words: Callable[[str], list[str]]


def punkt_data_available() -> bool:
    """Whether NLTK's English Punkt data (``punkt_tab``, what ``sent_tokenize`` loads) is installed."""
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return True
    except LookupError:
        return False


def make_splitter(kind: str = "auto") -> Splitter:
    """``nltk`` (needs punkt_tab), ``fallback`` (untrained Punkt + NLTKWordTokenizer), or ``auto``."""
    if kind not in SPLITTERS:
        raise HarnessError(f"sena: unknown splitter {kind!r}; accepted: {', '.join(SPLITTERS)}")
    if kind == "nltk" or (kind == "auto" and punkt_data_available()):
        if not punkt_data_available():
            raise HarnessError(
                "sena: splitter=nltk needs NLTK's punkt_tab data (python -m nltk.downloader punkt_tab); "
                "use splitter=fallback or auto to run without it"
            )
        import nltk

        return Splitter("nltk-punkt", nltk.sent_tokenize, nltk.word_tokenize)
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    sent = PunktSentenceTokenizer()
    word = NLTKWordTokenizer()

    def sentences(text: str) -> list[str]:
        return sent.tokenize(text)

    def words(text: str) -> list[str]:
        return [tok for s in sent.tokenize(text) for tok in word.tokenize(s)]

    return Splitter("fallback-untrained-punkt", sentences, words)


# ---------------------------------------------------------------- question extraction (p_sq output)


def extract_questions(output: str) -> tuple[list[str], str | None]:
    """The questions of a self-questioning output, or ([], reason) when the image is dropped.

    Official rule: drop the output if it contains no ``?`` or contains ``name``; otherwise split it
    into sentences at ``[.!?]`` + whitespace, keep the sentences ending with ``?`` and remove the
    literal ``QUESTION: `` from each. Several questions per image are possible.
    """
    if "?" not in output:
        return [], "no_question_mark"
    if "name" in output:
        return [], "name"
    sentences = _SENTENCE_END.split(output)
    questions = [s.replace(QUESTION_LABEL, "") for s in sentences if s.endswith("?")]
    return questions, None if questions else "no_question_sentence"


# ---------------------------------------------------------------- pair filters (make_pair.py)


def has_repeated_text(text: str, splitter: Splitter) -> bool:
    """A sentence occurring twice, or a token occurring more than 30 times."""
    seen: set[str] = set()
    for sentence in splitter.sentences(text):
        if sentence in seen:
            return True
        seen.add(sentence)
    return any(n > MAX_TOKEN_REPEATS for n in Counter(splitter.words(text)).values())


def _is_alnum_ascii(ch: str) -> bool:
    return "A" <= ch <= "Z" or "a" <= ch <= "z" or "0" <= ch <= "9"


def mostly_non_text(text: str) -> bool:
    """More than half the characters are not ASCII letters or digits (spaces count), or the text is empty."""
    if not text:
        return True
    return sum(1 for ch in text if not _is_alnum_ascii(ch)) / len(text) > MAX_NON_TEXT_FRACTION


def clean_answer(text: str) -> str:
    """make_pair.py's normalisation: remove ``</s>`` and newlines."""
    return text.replace("</s>", "").replace("\n", "")


@dataclass
class Candidate:
    """One candidate pair before filtering: raw chosen and rejected answers of one question."""

    question: str  # the stored training question (prompt + answer-format suffix)
    chosen: str
    rejected: str
    kind: str  # "des" or "gen"
    meta: dict[str, Any] = field(default_factory=dict)


# (counter name, what it keeps) in the official order; each name counts what remains after it
FILTER_STEPS = (
    ("filter.question_without_name", "the question does not contain 'name'"),
    ("filter.chosen_not_repetitive", "the chosen answer has no repeated sentence and no token > 30 times"),
    ("filter.rejected_not_repetitive", "the rejected answer has no repeated sentence and no token > 30 times"),
    ("filter.mostly_text", "neither answer is empty or more than half non-alphanumeric"),
    ("filter.answers_differ", "the raw answers differ"),
    ("filter.not_yes_no", "neither cleaned answer is exactly 'Yes' or 'No'"),
    ("filter.rejected_not_in_chosen", "the lower-cased rejected answer is not a substring of the chosen one"),
)


def rejection_reason(c: Candidate, splitter: Splitter) -> tuple[str | None, str, str]:
    """(the name of the first filter that drops ``c`` or None, cleaned chosen, cleaned rejected)."""
    if "name" in c.question:
        return FILTER_STEPS[0][0], "", ""
    if has_repeated_text(c.chosen, splitter):
        return FILTER_STEPS[1][0], "", ""
    if has_repeated_text(c.rejected, splitter):
        return FILTER_STEPS[2][0], "", ""
    if mostly_non_text(c.chosen) or mostly_non_text(c.rejected):
        return FILTER_STEPS[3][0], "", ""
    if c.chosen == c.rejected:
        return FILTER_STEPS[4][0], "", ""
    chosen, rejected = clean_answer(c.chosen), clean_answer(c.rejected)
    if chosen in ("Yes", "No") or rejected in ("Yes", "No"):
        return FILTER_STEPS[5][0], chosen, rejected
    if rejected.lower() in chosen:
        return FILTER_STEPS[6][0], chosen, rejected
    return None, chosen, rejected


def filter_pairs(
    candidates: Sequence[Candidate], splitter: Splitter
) -> tuple[list[tuple[Candidate, str, str]], dict[str, int]]:
    """Apply the filters in order. Returns the kept (candidate, chosen, rejected) with cleaned answers,
    and the number remaining after each filter (an ordered dict)."""
    dropped: Counter[str] = Counter()
    kept = []
    for c in candidates:
        reason, chosen, rejected = rejection_reason(c, splitter)
        if reason is None:
            kept.append((c, chosen, rejected))
        else:
            dropped[reason] += 1
    counts: dict[str, int] = {}
    remaining = len(candidates)
    for name, _ in FILTER_STEPS:
        remaining -= dropped[name]
        counts[name] = remaining
    return kept, counts
