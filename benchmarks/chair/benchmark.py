"""CHAIR (Rohrbach et al., EMNLP 2018) on COCO val2014 captions, as LVLM papers run it.

Protocol (the de-facto one of OPERA, shikiw/OPERA ``chair_eval.py`` at 61426efe4e2e): the 500 COCO
val2014 images of OPERA's published LLaVA-1.5 captions, the prompt "Please describe this image in
detail.", greedy decoding, ``max_new_tokens`` 512; captions scored with CHAIR.

Scorer (benchmarks/common/coco_vocab.py, caption_normalisers.py, coco_truth.py, caption_scoring.py): the synonym list
and two-word rules of the original; the caption normalisation of a named ``variant``:

- ``opera`` (default): OPERA's port (Maxlinn), POS tagging + WordNet lemmatisation, which LVLM
  papers cite (OPERA, HALC, lmms-eval's ``coco_cap_chair``). Reports CHAIRs, CHAIRi, Recall, Len.
- ``original``: LisaAnne/Hallucination ``utils/chair.py`` (pattern's ``singularize``); needs the
  ``pattern`` package, otherwise it stops with an error.
- ``rlaifv``: RLAIF-V's noun-only lemmatisation with ``synonyms_refine.txt`` and its two-word rules.

Ground truth: COCO instance classes ∪ classes found in the human reference captions, read with
pycocotools. Predictions: OPERA's JSONL, one ``{"image_id": int, "caption": str}`` per line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.chair.data import (
    IMAGE_LIST,
    IMAGE_LIST_SHA256,
    IMAGE_LIST_URL,
    LISAANNE_COMMIT,
    OPERA_COMMIT,
    SYNONYMS,
    SYNONYMS_SHA256,
    SYNONYMS_URL,
    read_image_list,
)
from benchmarks.common.caption_normalisers import NLTK_NEEDS, OTHER_NEEDS, VARIANTS, Normaliser, nltk_normaliser
from benchmarks.common.caption_scoring import CaptionScore, score_caption, totals
from benchmarks.common.coco_truth import ground_truth
from benchmarks.common.coco_vocab import CocoVocabulary
from benchmarks.common.data_sources import (
    RLAIFV_COMMIT,
    SYNONYMS_REFINE,
    SYNONYMS_REFINE_SHA256,
    SYNONYMS_REFINE_URL,
    coco_annotations_source,
    coco_val2014_images_source,
)
from benchmarks.common.jsonl import int_field, iter_jsonl, keyed_predictions
from benchmarks.common.nltk_data import nltk_sources
from harness.atomic import write_jsonl
from harness.benchmark import BenchItem, Benchmark, DataSource, LeaderboardColumn, ProtocolCard, ScoreReport
from harness.errors import HarnessError
from harness.judge.types import Judge
from harness.plugins import hookimpl

PROMPT = "Please describe this image in detail."  # OPERA chair_eval.py@61426efe4e2e
MAX_NEW_TOKENS = 512
SCORERS = {
    "opera": f"shikiw/OPERA@{OPERA_COMMIT[:12]} chair.py (Maxlinn's Python 3 port of CHAIR)",
    "original": f"LisaAnne/Hallucination@{LISAANNE_COMMIT[:12]} utils/chair.py",
    "rlaifv": f"RLHF-V/RLAIF-V@{RLAIFV_COMMIT[:12]} eval/eval_gpt_obj_halbench.py (rule-based path)",
}


def image_file(root: Path, image_id: int) -> Path:
    return Path(root) / f"COCO_val2014_{image_id:012d}.jpg"


class ChairBenchmark(Benchmark):
    """CHAIRs / CHAIRi / Recall / Len on OPERA's 500 COCO val2014 images (rule-based, no judge)."""

    name = "chair"
    description = "CHAIR on 500 COCO val2014 captions (OPERA's list): CHAIRs, CHAIRi, Recall; rule-based (no judge)"
    needs_judge = False
    predictions_filename = "predictions.jsonl"
    columns = (
        LeaderboardColumn("CHAIRs", "CHAIRs", lower_is_better=True, headline=True, order=70),
        LeaderboardColumn("CHAIRi", "CHAIRi", lower_is_better=True, order=70),
        LeaderboardColumn("CHAIR Recall", "Recall", order=70),
    )

    def __init__(
        self,
        variant: str = "opera",
        *,
        image_root: Path | None = None,
        annotation_dir: Path | None = None,
        nltk_data: Path | None = None,
        max_new_tokens: int = MAX_NEW_TOKENS,
        normaliser: Normaliser | None = None,
    ) -> None:
        """``variant``: the CHAIR implementation whose word normalisation and synonym rules are used
        (opera, original, rlaifv; see the module doc). ``image_root``: COCO val2014 images (default
        ``<data_dir>/val2014``). ``annotation_dir``: the COCO 2014 annotation JSONs (default
        ``<data_dir>/annotations``). ``nltk_data``: an extra NLTK data folder searched first (default
        ``<data_dir>/nltk_data``). ``normaliser``: replaces the NLTK-based normalisation (tests)."""
        if variant not in VARIANTS:
            raise HarnessError(f"chair: variant {variant!r} unknown; choose one of {', '.join(VARIANTS)}")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise HarnessError(f"chair: max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        self.variant = variant
        self.image_root = Path(image_root) if image_root is not None else None
        self.annotation_dir = Path(annotation_dir) if annotation_dir is not None else None
        self.nltk_data = Path(nltk_data) if nltk_data is not None else None
        self.max_new_tokens = max_new_tokens
        self.normaliser = normaliser
        self._data_dir: Path | None = None

    # ----------------------------------------------------------------- protocol and data
    def protocol(self) -> ProtocolCard:
        needs = [*NLTK_NEEDS[self.variant], *OTHER_NEEDS.get(self.variant, ())]
        synonyms = (
            f"{SYNONYMS_REFINE} sha256 {SYNONYMS_REFINE_SHA256[:16]}"
            if self.variant == "rlaifv"
            else f"{SYNONYMS} sha256 {SYNONYMS_SHA256[:16]}"
        )
        return ProtocolCard(
            benchmark=self.name,
            data_version=(
                f"COCO val2014, the 500 image ids of shikiw/OPERA@{OPERA_COMMIT[:12]} "
                f"log/chair_eval_results/llava-1.5/greedy.jsonl; COCO 2014 annotations; {synonyms}"
            ),
            scorer_source=f"{SCORERS[self.variant]}; variant {self.variant!r}, needs {', '.join(needs)}",
            judge_model=None,
            prompt_version=repr(PROMPT),
            generation=self.generation_params(),
            deviations=[
                "The model's own chat template is used; OPERA feeds LLaVA-1.5 'USER: <image> <prompt> ASSISTANT:' "
                "after the system message with no separator.",
                "Ground truth reads the val2014 annotation files and the train2014 ones only for ids not in val "
                "(COCO ids are disjoint, so the numbers are the same); an id found in neither is an error.",
                "A prediction file with a duplicated, unknown or missing image_id is rejected.",
                "A rate whose denominator is zero (no mention at all, no ground truth) is 0 here; the official "
                "script raises ZeroDivisionError. The counts are reported beside the rates.",
            ],
        )

    def generation_params(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "greedy": True, "temperature": 0.0, "prompt": PROMPT}

    def data_sources(self) -> list[DataSource]:
        return [
            DataSource(
                path=SYNONYMS,
                url=SYNONYMS_URL,
                sha256=SYNONYMS_SHA256,
                note="CHAIR's synonym list (LisaAnne/Hallucination, BSD 2-Clause per its README).",
            ),
            DataSource(
                path=SYNONYMS_REFINE,
                url=SYNONYMS_REFINE_URL,
                sha256=SYNONYMS_REFINE_SHA256,
                note="RLAIF-V's refined synonym list (variant 'rlaifv'; CC BY-NC 4.0).",
            ),
            DataSource(
                path=IMAGE_LIST,
                url=IMAGE_LIST_URL,
                sha256=IMAGE_LIST_SHA256,
                note="OPERA's LLaVA-1.5 greedy captions (MIT): their 500 image ids are the image list.",
            ),
            coco_annotations_source(),
            coco_val2014_images_source("the 500 CHAIR images"),
            *nltk_sources(),
        ]

    def load(self, data_dir: Path) -> list[BenchItem]:
        if data_dir is None:
            raise HarnessError("chair: a data directory is needed (`harness data pull chair`)")
        data_dir = Path(data_dir)
        ids = read_image_list(data_dir / IMAGE_LIST)
        root = self.image_root or data_dir / "val2014"
        self._data_dir = data_dir
        return [BenchItem(id=str(i), image=image_file(root, i), prompt=PROMPT, meta={"image_id": i}) for i in ids]

    # ----------------------------------------------------------------- predictions
    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """OPERA's JSONL: ``{"image_id": int, "caption": str}`` per line, one per item."""
        path = Path(path)
        known = {item.id for item in items}

        def rows():
            for lineno, row in iter_jsonl(path, "predictions file"):
                where = f"{path}:{lineno}"
                key = str(int_field(row, "image_id", where))
                caption = row.get("caption")
                if not isinstance(caption, str):
                    raise HarnessError(f"{where}: image_id {key}: missing or non-string field 'caption'")
                if key not in known:
                    raise HarnessError(f"{where}: image_id {key} is not one of the {len(known)} CHAIR images")
                yield where, key, caption

        return keyed_predictions(path, items, rows(), "image_id", "caption")

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        rows = []
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"{path}: no caption for image_id {item.id}")
            rows.append({"image_id": int(item.meta["image_id"]), "caption": predictions[item.id]})
        write_jsonl(path, rows)

    # ----------------------------------------------------------------- scoring
    def _vocabulary(self) -> CocoVocabulary:
        assert self._data_dir is not None
        if self.variant == "rlaifv":
            return CocoVocabulary.read(self._data_dir / SYNONYMS_REFINE, refined=True)
        return CocoVocabulary.read(self._data_dir / SYNONYMS)

    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None = None, *, runs: int = 1
    ) -> ScoreReport:
        """Rule-based and deterministic (``judge``/``runs`` unused); every item needs a caption."""
        if self._data_dir is None:
            raise HarnessError("chair: call load(data_dir) before score() (the scorer needs the synonym list)")
        by_id = {item.id: item for item in items}
        unknown = [key for key in predictions if key not in by_id]
        if unknown:
            raise HarnessError(f"chair predictions: image_id {unknown[0]} is not among the items being scored")
        missing = [item.id for item in items if item.id not in predictions]
        if missing:
            raise HarnessError(f"chair predictions: no caption for image_id {', '.join(missing[:5])}")
        if not items:
            raise HarnessError("chair: nothing to score (no items)")
        vocab = self._vocabulary()
        normalise = self.normaliser or nltk_normaliser(
            self.variant, self.nltk_data or self._data_dir / "nltk_data", benchmark=self.name
        )

        def mentions(text: str):
            return vocab.mentions(normalise(text))

        annotation_dir = self.annotation_dir or self._data_dir / "annotations"
        truth = ground_truth(annotation_dir, (int(item.meta["image_id"]) for item in items), vocab, mentions)
        scores: list[CaptionScore] = []
        records: list[dict[str, Any]] = []
        for item in items:
            image_id = int(item.meta["image_id"])
            caption = predictions[item.id]
            result = score_caption(mentions(caption), truth[image_id], caption)
            scores.append(result)
            records.append(
                {
                    "id": item.id,
                    "image_id": image_id,
                    "caption": caption,
                    "mentions": [[w, c] for w, c in zip(result.words, result.classes)],
                    "hallucinated": [list(pair) for pair in result.hallucinated],
                    "truth": sorted(truth[image_id]),
                    "correct": not result.is_hallucinated,
                    "CHAIRi": result.chair_i,
                }
            )
        metrics = chair_metrics(totals(scores))
        return ScoreReport(
            metrics=metrics, per_run=[dict(metrics)], records=records, official=opera_printout(totals(scores))
        )


def chair_metrics(t: dict[str, float]) -> dict[str, float]:
    """CHAIRs, CHAIRi, Recall ×100 and Len (mean merged tokens), plus the counts."""
    metrics = {"CHAIRs": t["CHAIRs"] * 100, "CHAIRi": t["CHAIRi"] * 100, "Recall": t["Recall"] * 100, "Len": t["Len"]}
    for key in (
        "captions",
        "hallucinated_captions",
        "mentions",
        "hallucinated_mentions",
        "recalled_classes",
        "truth_classes",
    ):
        metrics[key] = t[key]
    return metrics


def opera_printout(t: dict[str, float]) -> dict[str, float]:
    """What OPERA's chair.py prints: ``f"{v * 100:.01f}"`` of CHAIRs, CHAIRi, Recall and Len (stored ×0.01)."""
    return {
        key: float(f"{value * 100:.01f}")
        for key, value in (
            ("CHAIRs", t["CHAIRs"]),
            ("CHAIRi", t["CHAIRi"]),
            ("Recall", t["Recall"]),
            # OPERA's order, 0.01 * total / n (dividing first rounds differently on ties: 50.3 for its 50.2)
            ("Len", 0.01 * t["merged_tokens"] / t["captions"] if t.get("captions") else 0.01 * t["Len"]),
        )
    }


@hookimpl
def harness_benchmarks() -> list[type]:
    """Register CHAIR as a harness benchmark plugin."""
    return [ChairBenchmark]
