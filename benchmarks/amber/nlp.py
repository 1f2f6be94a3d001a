"""AMBER's noun extraction, with NLTK injected behind a small interface.

The official scorer (junyangwang0410/AMBER ``inference.py``, function ``extract_nouns``) runs
``nltk.word_tokenize`` → ``nltk.pos_tag`` → keeps tokens whose tag starts with ``"NN"`` →
``WordNetLemmatizer().lemmatize(token)`` (default part of speech "n"). Nothing is lowercased.
:func:`extract_nouns` is that algorithm over three injected callables; :class:`NltkNounExtractor`
wires it to NLTK itself (imported lazily, data looked up in an extra folder too).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from benchmarks.common.nltk_data import nltk_search_path
from harness.errors import HarnessError

Tokenize = Callable[[str], list[str]]
Tag = Callable[[list[str]], Sequence[tuple[str, str]]]
Lemmatize = Callable[[str], str]

PULL_HINT = "run `harness data pull amber` (it fetches the NLTK data into <data_dir>/nltk_data)"


@runtime_checkable
class NounExtractor(Protocol):
    """Turns a response into the list of (lemmatised) noun mentions, in order, duplicates kept."""

    def nouns(self, text: str) -> list[str]: ...


def extract_nouns(text: str, tokenize: Tokenize, tag: Tag, lemmatize: Lemmatize) -> list[str]:
    """AMBER's noun extraction: lemmas of the tokens whose POS tag starts with "NN".

    Order and duplicates are kept; case is kept (a sentence-initial "Trees" stays "Trees").
    """
    return [lemmatize(word) for word, pos in tag(tokenize(text)) if pos.startswith("NN")]


@dataclass
class ComposedNounExtractor:
    """:func:`extract_nouns` over any tokenizer, tagger and lemmatizer of NLTK's shapes."""

    tokenize: Tokenize
    tag: Tag
    lemmatize: Lemmatize

    def nouns(self, text: str) -> list[str]:
        return extract_nouns(text, self.tokenize, self.tag, self.lemmatize)


def _missing_resource(exc: LookupError, nltk_data: Path | None) -> HarnessError:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # NLTK colours the resource name
    match = re.search(r"Resource (\S+) not found", plain)
    name = match.group(1).strip("'\"") if match else "an NLTK data package"
    where = f" (looked in {nltk_data} and NLTK's default folders)" if nltk_data else ""
    return HarnessError(f"AMBER scorer: NLTK resource {name!r} is missing{where}; {PULL_HINT}")


class NltkNounExtractor:
    """The official extraction with NLTK: ``word_tokenize``, ``pos_tag``, ``WordNetLemmatizer``.

    Needs the NLTK data packages punkt (``punkt_tab`` for NLTK ≥ 3.8.2), averaged_perceptron_tagger
    (``averaged_perceptron_tagger_eng`` for NLTK ≥ 3.9) and wordnet. ``nltk_data`` is an extra
    folder searched first (``<data_dir>/nltk_data`` after ``harness data pull amber``). The
    official results were produced with NLTK < 3.8.2; later versions changed WordNet's
    ``morphy`` (NLTK PR #3225), which can change a few lemmas: see :attr:`nltk_version`.
    """

    def __init__(self, nltk_data: Path | None = None) -> None:
        try:
            import nltk  # noqa: F401
        except ImportError:
            raise HarnessError("AMBER scorer needs the `nltk` package: pip install nltk") from None
        self.nltk_data = Path(nltk_data) if nltk_data is not None else None
        self._lemmatizer = None

    @property
    def nltk_version(self) -> str:
        import nltk

        return nltk.__version__

    def nouns(self, text: str) -> list[str]:
        import nltk
        from nltk.stem import WordNetLemmatizer

        if self._lemmatizer is None:
            self._lemmatizer = WordNetLemmatizer()
        with nltk_search_path(self.nltk_data):
            try:
                return extract_nouns(text, nltk.word_tokenize, nltk.pos_tag, self._lemmatizer.lemmatize)
            except LookupError as exc:
                raise _missing_resource(exc, self.nltk_data) from None
