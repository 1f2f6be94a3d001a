"""AMBER (Wang et al., 2023): an LLM-free hallucination benchmark, scored as its official code does.

Official scorer: junyangwang0410/AMBER ``inference.py`` at 534babf6bbfc (rule-based; NLTK noun
extraction + spaCy ``en_core_web_lg`` near-synonyms). Generative task (ids 1–1004, "Describe
this image."): CHAIR, Cover, Hal, Cog. Discriminative task (ids 1005–15220, exact "Yes"/"No"):
Accuracy, Precision, Recall, F1 overall and per existence / attribute (state, number, action) /
relation. AMBER Score = ½·(100 − CHAIR + F1) (AMBER paper; the script does not print it).

The official ``--evaluation_type`` (a, g, d, de, da, dr) is the constructor's ``evaluation_type``:
it selects the query file ``load`` reads and the sections ``score`` reports.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.amber.data import (
    AMBER_COMMIT,
    AMBER_REPO,
    FILE_SHA256,
    GENERATIVE,
    QUERY_FILES,
    RAW_BASE,
    AmberData,
    load_amber_data,
    read_queries,
)
from benchmarks.amber.generative import score_description
from benchmarks.amber.nlp import NltkNounExtractor, NounExtractor
from benchmarks.amber.scoring import EVALUATION_DIMENSIONS, amber_score, official_metrics
from benchmarks.amber.similarity import DEFAULT_FLOOR, DEFAULT_SPACY_MODEL, WordSimilarity, cached_similarity_table
from benchmarks.common.nltk_data import nltk_sources
from benchmarks.common.yes_no import BUCKET_DIMENSION, bucket_of, count_answer, normalize_yes_no
from harness.atomic import read_json, write_json
from harness.benchmark import BenchItem, Benchmark, DataSource, LeaderboardColumn, ProtocolCard, ScoreReport
from harness.errors import HarnessError
from harness.judge.types import Judge
from harness.plugins import hookimpl

SPACY_MODEL_VERSION = "3.7.1"  # the en_core_web_lg release current when AMBER was published (Nov 2023)
IMAGES_DRIVE_ID = "1MaCHgtupcZUjf007anNl4_MV0o4DjXvl"
INFERENCE_PY_SHA256 = "011de2a7d9a9c35b3f6854d3e746c46bd44521bd1e165266bd719ecd132e9e71"


def _dimension(annotation: dict[str, Any]) -> str:
    if annotation["type"] == GENERATIVE:
        return "g"
    return BUCKET_DIMENSION[bucket_of(annotation["type"])]


class AmberBenchmark(Benchmark):
    """AMBER with the official scorer's counters, order of checks and rounding."""

    name = "amber"
    predictions_filename = "predictions.json"  # the official prediction format's file type
    description = "AMBER hallucination benchmark: CHAIR/Cover/Hal/Cog and yes/no Acc/P/R/F1, rule-based (no judge)"
    needs_judge = False
    columns = (
        LeaderboardColumn("AMBER CHAIR", "CHAIR", True, 1, True, 40),
        LeaderboardColumn("Cover", "Cover", False, 1, False, 40),
        LeaderboardColumn("Hal", "Hal", True, 1, False, 40),
        LeaderboardColumn("Cog", "Cog", True, 1, False, 40),
        LeaderboardColumn("AMBER Accuracy", "Accuracy", False, 1, False, 40),
        LeaderboardColumn("F1", "F1", False, 1, True, 40),
    )
    # shown by `harness eval --help` and `harness benchmarks amber`
    option_help = {
        "evaluation_type": "a (all, default), g (generative), d (all yes/no), de (existence), "
        "da (attribute), dr (relation): the official inference.py --evaluation_type"
    }

    def __init__(
        self,
        evaluation_type: str = "a",
        *,
        similarity_score: float = 0.8,
        spacy_model: str = DEFAULT_SPACY_MODEL,
        noun_extractor: NounExtractor | None = None,
        word_similarity: WordSimilarity | None = None,
        similarity_cache: Path | None = None,
        normalize_answers: bool = False,
    ) -> None:
        """``evaluation_type``: the official flag (a, g, d, de, da, dr). ``similarity_score``: the
        official near-synonym threshold. ``noun_extractor``/``word_similarity``: replace NLTK and
        the spaCy similarity table (default: NLTK with ``<data_dir>/nltk_data``, and the table
        cached at ``similarity_cache`` or ``<data_dir>/cache/similarity-<model>.json``, built
        with spaCy on first use). ``normalize_answers``: map "yes"/"Yes."/"No, …" to exactly
        "Yes"/"No" before scoring (not official; the official numbers stay in ``official``)."""
        if evaluation_type not in EVALUATION_DIMENSIONS:
            raise HarnessError(
                f"AMBER option evaluation_type (--set evaluation_type=...): {evaluation_type!r} unknown; choose "
                f"one of {', '.join(EVALUATION_DIMENSIONS)} (as inference.py --evaluation_type)"
            )
        self.evaluation_type = evaluation_type
        self.similarity_score = similarity_score
        self.spacy_model = spacy_model
        self.noun_extractor = noun_extractor
        self.word_similarity = word_similarity
        self.similarity_cache = similarity_cache
        self.normalize_answers = normalize_answers
        self._data: AmberData | None = None
        self._data_dir: Path | None = None

    # ----------------------------------------------------------------- protocol and data
    def protocol(self) -> ProtocolCard:
        query_file = f"data/query/{QUERY_FILES[self.evaluation_type]}"
        deviations = [
            "Neither AMBER nor SENA publish LLaVA-1.5 inference settings for AMBER; generation follows "
            "LLaVA-1.5 model_vqa.py (greedy, max_new_tokens 1024, conv vicuna_v1, query text without suffix).",
            "Near-synonyms come from a cached table of spaCy Doc.similarity values over AMBER's 418 vocabulary "
            "words (exact for thresholds >= its floor); the en_core_web_lg version the AMBER authors used is "
            f"unknown, {SPACY_MODEL_VERSION} is pinned and recorded in the table.",
            "The official results predate NLTK 3.8.2, whose WordNet morphy change (NLTK PR #3225) can alter "
            "a few lemmas; the NLTK version in use is what it is.",
            "A prediction file with a duplicated, unknown or missing id is rejected (the official counts a "
            "duplicate twice and scores whatever ids are present).",
            "Sections with no scored item are left out of `metrics` (the official prints 0.0 for them); "
            "`official` keeps every section the evaluation type prints.",
            "AMBER Score = (100 - CHAIR + F1)/2 from the printed CHAIR and overall F1 (AMBER paper); "
            "the official script does not compute it.",
            "The official existence header is spelled 'Exsitence'; metrics are named 'Existence/...'.",
        ]
        if self.normalize_answers:
            deviations.append(
                "normalize_answers: yes/no responses are normalised to exactly 'Yes'/'No' before scoring "
                "(`official` holds the numbers on the raw responses)."
            )
        return ProtocolCard(
            benchmark=self.name,
            data_version=f"{AMBER_REPO}@{AMBER_COMMIT}",
            scorer_source=f"{AMBER_REPO}@{AMBER_COMMIT} inference.py (sha256 {INFERENCE_PY_SHA256}), "
            f"--evaluation_type {self.evaluation_type} --similarity_score {self.similarity_score}",
            judge_model=None,
            prompt_version=f"{query_file} sha256 {FILE_SHA256[query_file][:16]}",
            generation=self.generation_params(),
            reference_numbers={},  # the spec gives no SENA Table 4 figures for AMBER
            deviations=deviations,
        )

    def generation_params(self) -> dict[str, Any]:
        return {
            "max_new_tokens": 1024,
            "temperature": 0.0,
            "greedy": True,
            "conv_mode": "vicuna_v1",
            "prompt_suffix": "",
        }

    def data_sources(self) -> list[DataSource]:
        sources = [
            DataSource(path=path, url=f"{RAW_BASE}/{path}", sha256=sha256) for path, sha256 in FILE_SHA256.items()
        ]
        sources.append(
            DataSource(
                path="images.zip",
                manual=True,
                unpack=True,
                note=(
                    f"Download the AMBER image archive from Google Drive (https://drive.google.com/file/d/"
                    f"{IMAGES_DRIVE_ID}/view, the link of the AMBER README) and save it as <data_dir>/images.zip; "
                    "`harness data pull amber` extracts it. The 1,004 images must end up as "
                    "<data_dir>/images/AMBER_1.jpg ... <data_dir>/images/AMBER_1004.jpg: if the archive's top "
                    "folder has another name, rename it to images/. Only generation needs them, not scoring."
                ),
            )
        )
        sources.extend(nltk_sources())  # punkt, the perceptron tagger and WordNet, old and new names
        wheel = f"{DEFAULT_SPACY_MODEL}-{SPACY_MODEL_VERSION}-py3-none-any.whl"
        sources.append(
            DataSource(
                path=f"spacy/{wheel}",
                url=f"https://github.com/explosion/spacy-models/releases/download/"
                f"{DEFAULT_SPACY_MODEL}-{SPACY_MODEL_VERSION}/{wheel}",
                unpack=True,
                note=(
                    f"spaCy model (a wheel is a zip): unpacked in place it gives <data_dir>/spacy/{DEFAULT_SPACY_MODEL}/"
                    f"{DEFAULT_SPACY_MODEL}-{SPACY_MODEL_VERSION}/, which the scorer loads (or `pip install` the wheel). "
                    "Needs `pip install 'spacy>=3.7,<3.8'`. Only used once, to build the similarity table."
                ),
            )
        )
        return sources

    def load(self, data_dir: Path) -> list[BenchItem]:
        data_dir = Path(data_dir)
        data = load_amber_data(data_dir)
        query_path = data.root / "query" / QUERY_FILES[self.evaluation_type]
        queries = read_queries(query_path, data.annotations)
        dimensions = EVALUATION_DIMENSIONS[self.evaluation_type]
        items = []
        for record in queries:
            annotation = data.annotation(record["id"])
            dimension = _dimension(annotation)
            if dimension not in dimensions:
                raise HarnessError(
                    f"{query_path}: id {record['id']} is a {annotation['type']} item, outside evaluation type "
                    f"{self.evaluation_type!r}"
                )
            meta: dict[str, Any] = {"type": annotation["type"], "dimension": dimension, "truth": annotation["truth"]}
            if dimension == "g":
                meta["hallu"] = annotation["hallu"]
            items.append(
                BenchItem(
                    id=str(record["id"]), image=data_dir / "images" / record["image"], prompt=record["query"], meta=meta
                )
            )
        self._data, self._data_dir = data, data_dir
        return items

    # ----------------------------------------------------------------- predictions
    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        path = Path(path)
        rows = read_json(path)
        if not isinstance(rows, list):
            raise HarnessError(f'{path}: expected a JSON list of {{"id": int, "response": str}} records')
        wanted = {item.id for item in items}
        predictions: dict[str, str] = {}
        for position, row in enumerate(rows):
            if not isinstance(row, dict):
                raise HarnessError(f"{path}: record {position} is not an object")
            item_id = row.get("id")
            if not isinstance(item_id, int) or isinstance(item_id, bool):
                raise HarnessError(f"{path}: record {position}: id {item_id!r} is not an integer")
            key = str(item_id)
            if key not in wanted:
                raise HarnessError(
                    f"{path}: id {item_id} is not an AMBER item of evaluation type {self.evaluation_type!r}"
                )
            if key in predictions:
                raise HarnessError(f"{path}: id {item_id} appears more than once")
            response = row.get("response")
            if not isinstance(response, str):
                raise HarnessError(f"{path}: id {item_id}: 'response' must be a string")
            predictions[key] = response
        missing = [item.id for item in items if item.id not in predictions]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise HarnessError(f"{path}: no response for id {shown}")
        return predictions

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        rows = []
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"{path}: no prediction for AMBER id {item.id}")
            rows.append({"id": int(item.id), "response": predictions[item.id]})
        write_json(path, rows)

    # ----------------------------------------------------------------- scoring
    def _resources(self) -> tuple[NounExtractor, WordSimilarity]:
        assert self._data is not None and self._data_dir is not None
        extractor = self.noun_extractor or NltkNounExtractor(nltk_data=self._data_dir / "nltk_data")
        similarity = self.word_similarity
        if similarity is None:
            cache = self.similarity_cache or self._data_dir / "cache" / f"similarity-{self.spacy_model}.json"
            similarity = cached_similarity_table(
                cache,
                self._data.vocabulary,
                model=self.spacy_model,
                search_dir=self._data_dir / "spacy",
                floor=min(DEFAULT_FLOOR, self.similarity_score),
            )
            self.word_similarity = similarity
        self.noun_extractor = extractor
        return extractor, similarity

    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None = None, *, runs: int = 1
    ) -> ScoreReport:
        """Score the predictions present, in their order (deterministic: ``judge``/``runs`` unused)."""
        if self._data is None:
            raise HarnessError("AMBER: call load(data_dir) before score() (the scorer needs relation.json etc.)")
        data = self._data
        by_id = {item.id: item for item in items}
        for key in predictions:
            if key not in by_id:
                raise HarnessError(f"AMBER predictions: id {key} is not among the items being scored")
        needs_nlp = any(by_id[key].meta["dimension"] == "g" for key in predictions)
        extractor, similarity = self._resources() if needs_nlp else (None, None)
        safe_words = set(data.safe_words)
        vocab = set(data.vocabulary)

        counters = copy.deepcopy(data.counters)  # scored responses (normalised if asked)
        raw_counters = copy.deepcopy(data.counters)  # the official, on the raw responses
        present: set[str] = set()
        records: list[dict[str, Any]] = []
        for key, response in predictions.items():
            annotation = data.annotation(int(key))
            dimension = _dimension(annotation)
            present.add(dimension)
            record: dict[str, Any] = {"id": key, "type": annotation["type"], "response": response}
            if dimension == "g":
                result = score_description(
                    response,
                    annotation["truth"],
                    annotation["hallu"],
                    relation=data.relation,
                    vocabulary=vocab,
                    safe_words=safe_words,
                    extractor=extractor,
                    similarity=similarity,
                    threshold=self.similarity_score,
                )
                for target in (counters, raw_counters):
                    target["chair_score"] += sum(result.hallucinated)
                    target["chair_num"] += len(result.hallucinated)
                    target["safe_cover_score"] += sum(result.truth_flags)
                    target["safe_cover_num"] += len(result.truth_flags)
                    target["hallu_cover_score"] += sum(result.hallu_flags)
                    target["hallu_cover_num"] += len(result.hallu_flags)
                    if result.hallucination_free:
                        target["non_hallu_score"] += 1
                    target["non_hallu_num"] += 1
                record.update(
                    mentions=result.mentions,
                    hallucinated=[noun for noun, flag in zip(result.mentions, result.hallucinated) if flag],
                    covered_truth=[obj for obj, flag in zip(annotation["truth"], result.truth_flags) if flag],
                    covered_hallu=[obj for obj, flag in zip(annotation["hallu"], result.hallu_flags) if flag],
                    hallucination_free=result.hallucination_free,
                )
            else:
                answer = normalize_yes_no(response) if self.normalize_answers else response
                correct = count_answer(counters, annotation["type"], annotation["truth"], answer)
                count_answer(raw_counters, annotation["type"], annotation["truth"], response)
                record.update(truth=annotation["truth"], answer=answer, correct=correct)
            records.append(record)

        enabled = EVALUATION_DIMENSIONS[self.evaluation_type]
        official = official_metrics(raw_counters, enabled)
        shown = frozenset(enabled & present)
        metrics = official_metrics(counters, shown)
        if {"de", "da", "dr"} <= enabled and shown & {"de", "da", "dr"}:
            overall = official_metrics(counters, frozenset({"de", "da", "dr"}))
            metrics.update({name: overall[name] for name in ("Accuracy", "Precision", "Recall", "F1")})
        if "CHAIR" in metrics and "F1" in metrics:
            metrics["AMBER Score"] = amber_score(metrics["CHAIR"], metrics["F1"])
        if "CHAIR" in official and "F1" in official:
            official["AMBER Score"] = amber_score(official["CHAIR"], official["F1"])
        return ScoreReport(metrics=metrics, per_run=[dict(metrics)], records=records, official=official)


@hookimpl
def harness_benchmarks() -> list[type]:
    """Register AMBER as a harness benchmark plugin."""
    return [AmberBenchmark]
