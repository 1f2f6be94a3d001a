"""NLTK's data packages: where ``harness data pull`` fetches them from, and how a scorer makes NLTK look there.

The packages come from the nltk_data repository; a benchmark lists the ones its scorer needs
(``chair``, ``objhal``, ``amber``) and the scorer searches ``<data_dir>/nltk_data`` first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from harness.benchmark import DataSource

NLTK_DATA_BASE = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages"
# (folder, package): the *_tab / *_eng packages are what NLTK >= 3.8.2 / >= 3.9 load; the others older NLTK.
NLTK_PACKAGES = (
    ("tokenizers", "punkt"),
    ("tokenizers", "punkt_tab"),
    ("taggers", "averaged_perceptron_tagger"),
    ("taggers", "averaged_perceptron_tagger_eng"),
    ("corpora", "wordnet"),
)


def nltk_sources(packages: tuple[tuple[str, str], ...] = NLTK_PACKAGES) -> list[DataSource]:
    return [
        DataSource(
            path=f"nltk_data/{folder}/{package}.zip",
            url=f"{NLTK_DATA_BASE}/{folder}/{package}.zip",
            unpack=True,
            note=f"NLTK data package {package!r} (the scorer searches <data_dir>/nltk_data first).",
        )
        for folder, package in packages
    ]


@contextlib.contextmanager
def nltk_search_path(extra: Path | None) -> Iterator[None]:
    """Let NLTK also look in ``extra`` for the duration of the block (restored afterwards)."""
    import nltk

    if extra is None or str(extra) in nltk.data.path:
        yield
        return
    nltk.data.path.insert(0, str(extra))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            nltk.data.path.remove(str(extra))
