"""AMBER's near-synonym test, as a table computed once with spaCy.

The official scorer (junyangwang0410/AMBER ``inference.py``, ``check_synonyms_word``) decides
that two words are near-synonyms when ``nlp(w1).similarity(nlp(w2)) > similarity_score``
(default 0.8) with spaCy's ``en_core_web_lg``. Both words are always AMBER vocabulary words
(keys and values of ``relation.json``, 418 strings), so every decision it can make is fixed by a
table of ``Doc.similarity`` values over the ordered vocabulary pairs. :func:`build_similarity_table`
computes that table with spaCy (imported lazily) and :class:`SimilarityTable` answers from it,
so scoring needs no spaCy at all once the table is cached.

The table keeps only the pairs whose similarity exceeds ``floor`` (default 0.5); it can answer
any threshold ≥ ``floor`` exactly, and refuses a lower one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from harness.atomic import read_json, write_json
from harness.errors import HarnessError

DEFAULT_SPACY_MODEL = "en_core_web_lg"
DEFAULT_FLOOR = 0.5
TABLE_FORMAT = "amber-word-similarity/1"
PULL_HINT = "run `harness data pull amber` (it fetches the spaCy model into <data_dir>/spacy)"


@runtime_checkable
class WordSimilarity(Protocol):
    """The official ``check_synonyms_word``: is similarity(word1, word2) strictly above threshold?"""

    def exceeds(self, word1: str, word2: str, threshold: float) -> bool: ...


@dataclass
class SimilarityTable:
    """``Doc.similarity`` values of ordered word pairs, those above ``floor`` only.

    ``source`` records how the values were made (spaCy and model name/version).
    """

    words: tuple[str, ...]
    values: dict[tuple[str, str], float]
    floor: float = DEFAULT_FLOOR
    source: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._known = frozenset(self.words)

    def similarity_above_floor(self, word1: str, word2: str) -> float | None:
        """The stored value, or None when the pair's similarity is ≤ ``floor``."""
        for word in (word1, word2):
            if word not in self._known:
                raise HarnessError(
                    f"AMBER similarity table ({self.source.get('path', 'in memory')}): word {word!r} "
                    "is not in the table; rebuild it for this relation.json"
                )
        return self.values.get((word1, word2))

    def exceeds(self, word1: str, word2: str, threshold: float) -> bool:
        if threshold < self.floor:
            raise HarnessError(
                f"AMBER similarity table ({self.source.get('path', 'in memory')}) stores only values "
                f"above {self.floor}; it cannot answer the threshold {threshold}"
            )
        value = self.similarity_above_floor(word1, word2)
        return value is not None and value > threshold

    def covers(self, words: Iterable[str]) -> bool:
        return all(word in self._known for word in words)

    def to_json(self) -> dict[str, Any]:
        nested: dict[str, dict[str, float]] = {}
        for (word1, word2), value in self.values.items():
            nested.setdefault(word1, {})[word2] = value
        return {
            "format": TABLE_FORMAT,
            "floor": self.floor,
            "source": {k: v for k, v in self.source.items() if k != "path"},
            "words": list(self.words),
            "values": nested,
        }

    def save(self, path: Path) -> Path:
        """Write the table as JSON (atomically). Floats are written with ``repr``: exact round trip."""
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> SimilarityTable:
        data = read_json(path)
        if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
            raise HarnessError(f"{path}: not an AMBER similarity table (format {TABLE_FORMAT!r} expected)")
        words = data.get("words")
        nested = data.get("values")
        floor = data.get("floor")
        if not isinstance(words, list) or not isinstance(nested, dict) or not isinstance(floor, (int, float)):
            raise HarnessError(f"{path}: similarity table lacks 'words', 'values' or 'floor'")
        values: dict[tuple[str, str], float] = {}
        for word1, row in nested.items():
            if not isinstance(row, dict):
                raise HarnessError(f"{path}: values of {word1!r} must be an object")
            for word2, value in row.items():
                if not isinstance(value, (int, float)) or not value > floor:
                    raise HarnessError(f"{path}: pair ({word1!r}, {word2!r}) has an invalid value {value!r}")
                values[(word1, word2)] = float(value)
        source = dict(data.get("source") or {})
        source["path"] = str(path)
        return cls(words=tuple(words), values=values, floor=float(floor), source=source)


class _Doc(Protocol):
    def similarity(self, other: Any) -> float: ...


def build_similarity_table(
    words: Iterable[str],
    nlp: Callable[[str], _Doc],
    *,
    floor: float = DEFAULT_FLOOR,
    source: Mapping[str, str] | None = None,
) -> SimilarityTable:
    """Compute ``nlp(w1).similarity(nlp(w2))`` for every ordered pair of ``words``.

    ``nlp`` is a loaded spaCy pipeline (or anything with the same call shape). Each word is
    processed once; spaCy's warnings about empty vectors are silenced here, as the official
    script silences ``UserWarning``.
    """
    unique = list(dict.fromkeys(words))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        docs = [nlp(word) for word in unique]
        values: dict[tuple[str, str], float] = {}
        for word1, doc1 in zip(unique, docs):
            for word2, doc2 in zip(unique, docs):
                value = float(doc1.similarity(doc2))
                if math.isnan(value):
                    raise HarnessError(f"similarity of {word1!r} and {word2!r} is NaN")
                if value > floor:
                    values[(word1, word2)] = value
    return SimilarityTable(words=tuple(unique), values=values, floor=floor, source=dict(source or {}))


def load_spacy_model(model: str = DEFAULT_SPACY_MODEL, search_dir: Path | None = None) -> Any:
    """Load a spaCy pipeline: an installed package named ``model``, else an unpacked model folder
    under ``search_dir`` (``<data_dir>/spacy/<model>/<model>-<version>/config.cfg``)."""
    try:
        import spacy
    except ImportError:
        raise HarnessError(
            f"AMBER similarity table is not built yet and needs spaCy with {model}: "
            f"pip install 'spacy>=3.7,<3.8', then {PULL_HINT}"
        ) from None
    try:
        return spacy.load(model)
    except OSError:
        pass
    if search_dir is not None and Path(search_dir).is_dir():
        for config in sorted(Path(search_dir).rglob("config.cfg")):
            if config.parent.name.startswith(f"{model}-") or config.parent.name == model:
                return spacy.load(config.parent)
    where = f" (nor under {search_dir})" if search_dir is not None else ""
    raise HarnessError(f"spaCy model {model!r} is not installed{where}; {PULL_HINT}")


def spacy_source(nlp: Any, model: str) -> dict[str, str]:
    """Provenance of a table built with a spaCy pipeline."""
    import spacy

    meta = getattr(nlp, "meta", {}) or {}
    return {
        "builder": "spacy Doc.similarity",
        "spacy_version": spacy.__version__,
        "model": str(meta.get("lang", "")) + "_" + str(meta.get("name", "")) if meta.get("name") else model,
        "model_version": str(meta.get("version", "unknown")),
    }


def cached_similarity_table(
    cache_path: Path,
    words: Iterable[str],
    *,
    model: str = DEFAULT_SPACY_MODEL,
    search_dir: Path | None = None,
    floor: float = DEFAULT_FLOOR,
) -> SimilarityTable:
    """The table at ``cache_path`` if it covers ``words``; otherwise build it with spaCy and save it."""
    words = list(words)
    if Path(cache_path).is_file():
        table = SimilarityTable.load(cache_path)
        if table.covers(words) and table.floor <= floor:
            return table
    nlp = load_spacy_model(model, search_dir)
    table = build_similarity_table(words, nlp, floor=floor, source=spacy_source(nlp, model))
    try:
        table.save(cache_path)
    except OSError as exc:
        raise HarnessError(
            f"{cache_path}: cannot write the AMBER similarity table ({exc.strerror}); "
            "choose a writable cache path (AmberBenchmark(similarity_cache=...))"
        ) from None
    table.source["path"] = str(cache_path)
    return table
