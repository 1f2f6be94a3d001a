"""How each published CHAIR implementation turns a caption into tokens, with NLTK injected.

Every variant lower-cases the caption and runs ``nltk.word_tokenize`` (Punkt sentence splitting,
then Treebank word splitting: a sentence-final "dog." gives "dog" and "."). Then, per variant:

- ``opera`` (shikiw/OPERA ``chair.py`` at 61426efe4e2e, Maxlinn's port; also lmms-eval's
  ``coco_cap_chair``): ``nltk.pos_tag`` on the lower-cased tokens, then
  ``WordNetLemmatizer().lemmatize(token, pos)`` with J→adjective, V→verb, N→noun, R→adverb and
  anything else → noun. Needs the NLTK data packages ``punkt_tab`` (``punkt`` before NLTK 3.8.2),
  ``averaged_perceptron_tagger_eng`` (``averaged_perceptron_tagger`` before NLTK 3.9) and ``wordnet``.
- ``original`` (LisaAnne/Hallucination ``utils/chair.py`` at 6e4d33c4bedf): ``singularize`` of the
  ``pattern`` library (``pattern.en``) on every token. Needs ``punkt`` data and the ``pattern``
  package (CLiPS Pattern 3.6 in the original), which is not on PyPI for current Pythons: without
  it this variant stops with an error, it never falls back to another normalisation.
- ``rlaifv`` (RLHF-V/RLAIF-V ``eval/eval_gpt_obj_halbench.py`` at 83d917b2e811): noun-only
  ``WordNetLemmatizer().lemmatize(token)``, no tagging. Needs ``punkt_tab`` and ``wordnet``.

A missing NLTK resource is a HarnessError naming the resource, the variant and the command that
fetches it; the tokenizer is never replaced by a Punkt-free one (that would keep "dog." whole and
change the numbers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common.nltk_data import nltk_search_path
from harness.errors import HarnessError

Tokenize = Callable[[str], list[str]]
Tag = Callable[[list[str]], Sequence[tuple[str, str]]]
Lemmatize = Callable[[str, str], str]  # (word, wordnet pos: "n", "v", "a", "r") → lemma
Singularize = Callable[[str], str]

VARIANTS = ("opera", "original", "rlaifv")
# What each variant needs from NLTK's data (newer package names first) and from other packages.
NLTK_NEEDS = {
    "opera": (
        "punkt_tab (punkt before NLTK 3.8.2)",
        "averaged_perceptron_tagger_eng (averaged_perceptron_tagger before NLTK 3.9)",
        "wordnet",
    ),
    "original": ("punkt_tab (punkt before NLTK 3.8.2)",),
    "rlaifv": ("punkt_tab (punkt before NLTK 3.8.2)", "wordnet"),
}
OTHER_NEEDS = {"original": ("the `pattern` package (pattern.en.singularize)",)}


def wordnet_pos(tag: str) -> str:
    """OPERA's tag → WordNet part of speech: J→a, V→v, N→n, R→r, anything else → n."""
    for prefix, pos in (("J", "a"), ("V", "v"), ("N", "n"), ("R", "r")):
        if tag.startswith(prefix):
            return pos
    return "n"


@dataclass
class Normaliser:
    """One variant's caption → tokens step, over injected NLTK-shaped callables."""

    variant: str
    tokenize: Tokenize
    tag: Tag | None = None
    lemmatize: Lemmatize | None = None
    singularize: Singularize | None = None

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise HarnessError(f"CHAIR variant {self.variant!r} unknown; choose one of {', '.join(VARIANTS)}")
        needed = {"opera": ("tag", "lemmatize"), "original": ("singularize",), "rlaifv": ("lemmatize",)}
        for name in needed[self.variant]:
            if getattr(self, name) is None:
                raise HarnessError(f"CHAIR variant {self.variant!r} needs a {name} function")

    def __call__(self, caption: str) -> list[str]:
        tokens = self.tokenize(caption.lower())
        if self.variant == "opera":
            assert self.tag is not None and self.lemmatize is not None
            return [self.lemmatize(word, wordnet_pos(tag)) for word, tag in self.tag(tokens)]
        if self.variant == "original":
            assert self.singularize is not None
            return [self.singularize(word) for word in tokens]
        assert self.lemmatize is not None
        return [self.lemmatize(word, "n") for word in tokens]


class NltkTools:
    """NLTK's tokenizer, tagger and WordNet lemmatizer, looking first in ``nltk_data``.

    ``benchmark`` and ``variant`` only go into error messages (which name the command that
    fetches the data: ``harness data pull <benchmark>``).
    """

    def __init__(self, nltk_data: Path | None, *, benchmark: str, variant: str) -> None:
        try:
            import nltk  # noqa: F401
        except ImportError:
            raise HarnessError(f"{benchmark} scorer needs the `nltk` package: pip install nltk") from None
        self.nltk_data = Path(nltk_data) if nltk_data is not None else None
        self.benchmark = benchmark
        self.variant = variant
        self._lemmatizer = None

    @property
    def nltk_version(self) -> str:
        import nltk

        return nltk.__version__

    def _missing(self, exc: LookupError) -> HarnessError:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
        match = re.search(r"Resource (\S+) not found", plain)
        name = match.group(1).strip("'\"") if match else "an NLTK data package"
        where = f" (looked in {self.nltk_data} and NLTK's default folders)" if self.nltk_data else ""
        needs = ", ".join(NLTK_NEEDS.get(self.variant, ()))
        return HarnessError(
            f"{self.benchmark} scorer, variant {self.variant!r}: NLTK resource {name!r} is missing"
            f"{where}; this variant needs {needs}. Run `harness data pull {self.benchmark}` "
            "(it fetches them into <data_dir>/nltk_data)"
        )

    def _call(self, fn: Callable, *args):
        with nltk_search_path(self.nltk_data):
            try:
                return fn(*args)
            except LookupError as exc:
                raise self._missing(exc) from None

    def tokenize(self, text: str) -> list[str]:
        import nltk

        return self._call(nltk.word_tokenize, text)

    def tag(self, tokens: list[str]) -> list[tuple[str, str]]:
        import nltk

        return self._call(nltk.pos_tag, tokens)

    def lemmatize(self, word: str, pos: str) -> str:
        if self._lemmatizer is None:
            from nltk.stem import WordNetLemmatizer

            self._lemmatizer = WordNetLemmatizer()
        return self._call(self._lemmatizer.lemmatize, word, pos)


def pattern_singularize() -> Singularize:
    """``pattern.en.singularize``, or a HarnessError saying the original variant needs it."""
    try:
        from pattern.en import singularize  # type: ignore[import-not-found]
    except Exception as exc:  # ImportError, or the package's own import-time failures
        raise HarnessError(
            "CHAIR variant 'original' needs the `pattern` package (pattern.en.singularize, CLiPS Pattern 3.6 as "
            f"in LisaAnne/Hallucination), which could not be imported ({type(exc).__name__}: {exc}). Install it, "
            "or choose variant 'opera' (the default) or 'rlaifv'; no other singulariser is substituted."
        ) from None
    return singularize


def nltk_normaliser(variant: str, nltk_data: Path | None, *, benchmark: str) -> Normaliser:
    """The variant's normaliser wired to NLTK (and pattern for ``original``)."""
    if variant not in VARIANTS:
        raise HarnessError(f"{benchmark}: CHAIR variant {variant!r} unknown; choose one of {', '.join(VARIANTS)}")
    tools = NltkTools(nltk_data, benchmark=benchmark, variant=variant)
    if variant == "original":
        return Normaliser(variant, tools.tokenize, singularize=pattern_singularize())
    return Normaliser(variant, tools.tokenize, tag=tools.tag, lemmatize=tools.lemmatize)
