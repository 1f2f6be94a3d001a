"""Object HalBench (RLHF-V, Yu et al., CVPR 2024; used by RLAIF-V): object hallucination in detailed answers.

Data: 300 COCO images with one of 8 detail-seeking prompts each (RLHF-V/RLAIF-V
``eval/data/obj_halbench_300_with_image.jsonl``; benchmarks/objhal/data.py). Generation as RLAIF-V's
LLaVA-1.5 script: ``max_new_tokens`` 1024 (beam search with 3 beams there; see the deviations).

Scoring (RLHF-V/RLAIF-V ``eval/eval_gpt_obj_halbench.py`` at 83d917b2e811, written anew): CHAIR
with RLAIF-V's rules (noun-only WordNet lemmatisation, ``synonyms_refine.txt``, every multi-word
synonym a two-word unit; benchmarks/common/). Ground truth: COCO instances ∪ classes in the
COCO reference captions. Two ways to find an answer's objects (``extraction``):

- ``rule`` (default, judge-free): every synonym match in the answer (the scorer without ``--use_gpt``);
- ``llm``: the official setting, a chat model extracts the objects (benchmarks/objhal/llm.py) through
  the harness judge client; spaCy turns them into candidates.

Reported, ×100 (``summarize_gpt_obj_halbench_review.py``): ``response_hall`` = responses with a
hallucinated object / responses that mention a COCO object (the paper's response-level rate,
``CHAIRs_refine``), ``object_hall`` = hallucinated mentions / all mentions (mention level,
``CHAIRi``), ``object_recall``, ``CHAIRs`` (over all responses) and ``avg_length`` (words).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.caption_normalisers import NLTK_NEEDS, Normaliser, nltk_normaliser
from benchmarks.common.caption_scoring import CaptionScore, score_caption, totals
from benchmarks.common.coco_truth import ground_truth
from benchmarks.common.coco_vocab import CaptionMentions, CocoVocabulary
from benchmarks.common.data_sources import (
    RLAIFV_COMMIT,
    SYNONYMS_REFINE,
    SYNONYMS_REFINE_SHA256,
    SYNONYMS_REFINE_URL,
    coco_annotations_source,
)
from benchmarks.common.jsonl import int_field, iter_jsonl, keyed_predictions
from benchmarks.common.judged_runs import (
    ask,
    check_runs,
    failure_counts,
    mean_and_std,
    missing_entry,
    reply_failure,
    require_judge,
    unparsed_counts,
    with_run_suffix,
)
from benchmarks.common.nltk_data import nltk_sources
from benchmarks.objhal.data import IMAGE_DIR, QUESTIONS, QUESTIONS_GIT_BLOB, QUESTIONS_URL, read_questions
from benchmarks.objhal.llm import (
    MAX_ATTEMPTS,
    MAX_TOKENS,
    OFFICIAL_MODEL,
    PROMPT_SHA256,
    TEMPERATURE,
    Analyse,
    extraction_request,
    needs_call,
    parse_object_list,
    refine_objects,
    spacy_analyser,
)
from harness.atomic import write_jsonl
from harness.benchmark import (
    BenchItem,
    Benchmark,
    DataSource,
    LeaderboardColumn,
    ProtocolCard,
    ReportedNumbers,
    ScoreReport,
)
from harness.errors import HarnessError
from harness.judge.types import Judge, JudgeRequest
from harness.plugins import hookimpl

EXTRACTIONS = ("rule", "llm")
SCORER = f"RLHF-V/RLAIF-V@{RLAIFV_COMMIT[:12]} eval/eval_gpt_obj_halbench.py"
NLTK_PACKAGES = (("tokenizers", "punkt"), ("tokenizers", "punkt_tab"), ("corpora", "wordnet"))


def clean_answer(text: str) -> str:
    """The official loader: the substring "Assistant:" removed, then stripped."""
    return text.replace("Assistant:", "").strip()


class ObjHalBenchmark(Benchmark):
    """Object HalBench: response- and mention-level hallucination rates (rule-based by default)."""

    name = "objhal"
    description = (
        "Object HalBench (300 COCO images, detailed answers): response-level and mention-level "
        "hallucination; rule-based by default, LLM object extraction as an option"
    )
    needs_judge = False
    predictions_filename = "answers.jsonl"
    columns = (
        LeaderboardColumn("ObjHal Resp.", "response_hall", lower_is_better=True, headline=True, order=80),
        LeaderboardColumn("ObjHal Mention", "object_hall", lower_is_better=True, order=80),
    )
    reported = (
        ReportedNumbers(
            source="RLHF-V paper (arXiv 2312.00849) Table 1",
            model="LLaVA-1.5-13B",
            values={"objhal/response_hall": 46.3, "objhal/object_hall": 22.6},
            note="GPT-based object extraction (extraction='llm'), not the rule-based default",
            judges={"objhal": "gpt-3.5-turbo-0613"},  # the extraction model of the authors' script (llm.py)
        ),
    )

    def __init__(
        self,
        extraction: str = "rule",
        *,
        judge_model: str | None = None,
        annotation_dir: Path | None = None,
        nltk_data: Path | None = None,
        spacy_model: str = "en_core_web_trf",
        max_new_tokens: int = 1024,
        max_attempts: int = MAX_ATTEMPTS,
        questions_git_blob: str | None = QUESTIONS_GIT_BLOB,
        normaliser: Normaliser | None = None,
        analyser: Analyse | None = None,
    ) -> None:
        """``extraction``: ``rule`` (default) or ``llm`` (a judge extracts the objects; ``judge_model`` is
        recorded, the official one, gpt-3.5-turbo-0613, is retired). ``annotation_dir``/``nltk_data``:
        default ``<data_dir>/annotations`` and ``<data_dir>/nltk_data``. ``spacy_model``: for ``llm``.
        ``max_attempts``: judge asks per answer while the reply does not parse (official 100).
        ``questions_git_blob``: the git blob SHA-1 the question file must have (None: unchecked, e.g. for
        RLAIF-V's earlier version of the file, blob 33b841a5…).
        ``normaliser``/``analyser``: replace NLTK / spaCy (tests)."""
        if extraction not in EXTRACTIONS:
            raise HarnessError(f"objhal: extraction {extraction!r} unknown; choose one of {', '.join(EXTRACTIONS)}")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise HarnessError(f"objhal: max_attempts must be an integer >= 1, got {max_attempts!r}")
        self.extraction = extraction
        self.needs_judge = extraction == "llm"  # type: ignore[misc]  # per instance: only the llm path
        self.judge_model = judge_model
        self.annotation_dir = Path(annotation_dir) if annotation_dir is not None else None
        self.nltk_data = Path(nltk_data) if nltk_data is not None else None
        self.spacy_model = spacy_model
        self.max_new_tokens = max_new_tokens
        self.max_attempts = max_attempts
        self.questions_git_blob = questions_git_blob
        self.normaliser = normaliser
        self.analyser = analyser
        self._data_dir: Path | None = None

    # ----------------------------------------------------------------- protocol and data
    def protocol(self) -> ProtocolCard:
        deviations = [
            "Generation: the official LLaVA-1.5 script decodes with beam search (3 beams, max_new_tokens 1024); "
            "the harness decodes greedily with the model's own chat template.",
            "Ground truth reads the val2014 COCO annotation files and the train2014 ones only for ids not in val "
            "(the official script loads both; the numbers are the same).",
            "A prediction file with a duplicated, unknown or missing question_id is rejected.",
            "A rate whose denominator is zero is 0 here (the official script raises); the counts are reported.",
        ]
        if self.questions_git_blob != QUESTIONS_GIT_BLOB:
            deviations.append(
                f"question file not checked against git blob {QUESTIONS_GIT_BLOB} "
                f"(questions_git_blob={self.questions_git_blob!r})."
            )
        llm = self.extraction == "llm"
        if llm:
            deviations += [
                f"Judge model {self.judge_model or 'as configured'} instead of the retired {OFFICIAL_MODEL}.",
                "An answer whose extraction never parses after max_attempts asks, or whose call fails, is missing "
                "(not scored); the official script aborts the whole run.",
            ]
        else:
            deviations.append(
                "extraction 'rule': the judge-free path of the official scorer; the paper's numbers "
                "use GPT extraction, which it reports as more precise than exact matching."
            )
        return ProtocolCard(
            benchmark=self.name,
            data_version=(
                f"RLHF-V/RLAIF-V@{RLAIFV_COMMIT[:12]} eval/data/{QUESTIONS} (git blob "
                f"{QUESTIONS_GIT_BLOB[:12]}); {SYNONYMS_REFINE} sha256 {SYNONYMS_REFINE_SHA256[:16]}; "
                "COCO 2014 annotations"
            ),
            scorer_source=(
                f"{SCORER}, {'GPT' if llm else 'rule-based'} object extraction; needs "
                f"{', '.join(NLTK_NEEDS['rlaifv'])}" + (f", spaCy {self.spacy_model}" if llm else "")
            ),
            judge_model=(self.judge_model or OFFICIAL_MODEL) if llm else None,
            judge_temperature=TEMPERATURE if llm else None,
            judge_max_tokens=MAX_TOKENS if llm else None,
            prompt_version=f"extraction prompt sha256 {PROMPT_SHA256[:16]}" if llm else None,
            generation=self.generation_params(),
            deviations=deviations,
        )

    def generation_params(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "greedy": True, "temperature": 0.0, "official_num_beams": 3}

    def data_sources(self) -> list[DataSource]:
        return [
            DataSource(
                path=QUESTIONS,
                url=QUESTIONS_URL,
                note=(
                    f"Object HalBench questions with base64 images (about 64 MB; CC BY-NC 4.0). No SHA-256 "
                    f"is published; `load` checks the git blob SHA-1 {QUESTIONS_GIT_BLOB}."
                ),
            ),
            DataSource(
                path=SYNONYMS_REFINE,
                url=SYNONYMS_REFINE_URL,
                sha256=SYNONYMS_REFINE_SHA256,
                note="RLAIF-V's refined CHAIR synonym list.",
            ),
            coco_annotations_source(),
            *nltk_sources(NLTK_PACKAGES),
        ]

    def load(self, data_dir: Path) -> list[BenchItem]:
        if data_dir is None:
            raise HarnessError("objhal: a data directory is needed (`harness data pull objhal`)")
        data_dir = Path(data_dir)
        questions = read_questions(data_dir / QUESTIONS, data_dir / IMAGE_DIR, expected_blob=self.questions_git_blob)
        self._data_dir = data_dir
        return [
            BenchItem(
                id=str(q.index), image=q.image, prompt=q.question, meta={"image_id": q.image_id, "question": q.question}
            )
            for q in questions
        ]

    # ----------------------------------------------------------------- predictions
    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """RLAIF-V's answer JSONL: ``question_id`` (the question's line index; or else a unique ``image_id``)
        and ``text`` (or ``answer``) per line, one per item."""
        path = Path(path)
        known = {item.id: item for item in items}
        by_image = {int(item.meta["image_id"]): item.id for item in items}

        def rows():
            for lineno, row in iter_jsonl(path, "predictions file"):
                where = f"{path}:{lineno}"
                if "question_id" in row:
                    key = str(int_field(row, "question_id", where))
                    if key not in known:
                        raise HarnessError(f"{where}: question_id {key} is not an Object HalBench question (0..299)")
                    if "image_id" in row and int_field(row, "image_id", where) != int(known[key].meta["image_id"]):
                        raise HarnessError(
                            f"{where}: question_id {key} has image_id {row['image_id']}, the question "
                            f"file has {known[key].meta['image_id']}"
                        )
                else:
                    image_id = int_field(row, "image_id", where)
                    if image_id not in by_image:
                        raise HarnessError(f"{where}: image_id {image_id} is not an Object HalBench image")
                    key = by_image[image_id]
                text = row.get("text", row.get("answer"))
                if not isinstance(text, str):
                    raise HarnessError(f"{where}: question_id {key}: missing or non-string field 'text' (or 'answer')")
                yield where, key, text

        return keyed_predictions(path, items, rows(), "question_id", "answer")

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        rows = []
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"{path}: no answer for question_id {item.id}")
            rows.append(
                {
                    "question_id": int(item.id),
                    "image_id": int(item.meta["image_id"]),
                    "prompt": item.meta["question"],
                    "text": predictions[item.id],
                }
            )
        write_jsonl(path, rows)

    # ----------------------------------------------------------------- scoring
    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None = None, *, runs: int = 1
    ) -> ScoreReport:
        """``rule``: deterministic (``judge``/``runs`` unused). ``llm``: ``runs`` judge runs, averaged."""
        if self._data_dir is None:
            raise HarnessError("objhal: call load(data_dir) before score() (the scorer needs the synonym list)")
        if not items:
            raise HarnessError("objhal: nothing to score (no items)")
        known = {item.id for item in items}
        unknown = [key for key in predictions if key not in known]
        if unknown:
            raise HarnessError(f"objhal predictions: question_id {unknown[0]} is not among the items being scored")
        missing_ids = [item.id for item in items if item.id not in predictions]
        if missing_ids:
            raise HarnessError(f"objhal predictions: no answer for question_id {', '.join(missing_ids[:5])}")
        if self.extraction == "llm":
            judge = require_judge(judge, self.name)  # before any NLTK or COCO work
            check_runs(runs, self.name)
        vocab = CocoVocabulary.read(self._data_dir / SYNONYMS_REFINE, refined=True)
        normalise = self.normaliser or nltk_normaliser(
            "rlaifv", self.nltk_data or self._data_dir / "nltk_data", benchmark=self.name
        )

        def mentions(text: str) -> CaptionMentions:
            return vocab.mentions(normalise(text))

        annotation_dir = self.annotation_dir or self._data_dir / "annotations"
        truth = ground_truth(annotation_dir, (int(item.meta["image_id"]) for item in items), vocab, mentions)
        answers = {item.id: clean_answer(predictions[item.id]) for item in items}
        if self.extraction == "rule":
            return self._score_rule(items, answers, truth, mentions)
        assert judge is not None
        return self._score_llm(items, answers, truth, vocab, judge, runs)

    def _score_rule(self, items, answers, truth, mentions) -> ScoreReport:
        scores: list[CaptionScore] = []
        records: list[dict[str, Any]] = []
        for item in items:
            image_id = int(item.meta["image_id"])
            result = score_caption(mentions(answers[item.id]), truth[image_id], answers[item.id])
            scores.append(result)
            records.append(_record(item, image_id, answers[item.id], result, truth[image_id]))
        t = totals(scores)
        metrics = objhal_metrics(t)
        return ScoreReport(metrics=metrics, per_run=[dict(metrics)], records=records, official=summary(t))

    def _score_llm(self, items, answers, truth, vocab: CocoVocabulary, judge: Judge, runs: int) -> ScoreReport:
        analyse = self.analyser or spacy_analyser(self.spacy_model)
        per_run: list[dict[str, float]] = []
        official_runs: list[dict[str, float]] = []
        missing: list[dict[str, Any]] = []
        unparsed_kinds: list[str] = []
        failures: list[int] = []
        records = {
            item.id: _record(
                item, int(item.meta["image_id"]), answers[item.id], None, truth[int(item.meta["image_id"])]
            )
            for item in items
        }
        for run in range(runs):
            extracted: dict[str, list[str]] = {item.id: [] for item in items if not needs_call(answers[item.id])}
            pending = [item for item in items if needs_call(answers[item.id])]
            lost: dict[str, str] = {}
            for attempt in range(self.max_attempts):
                if not pending:
                    break
                requests: list[JudgeRequest] = [
                    extraction_request(
                        f"objhal/{item.id}", item.meta["question"], answers[item.id], run_index=run, attempt=attempt
                    )
                    for item in pending
                ]
                again = []
                for item, reply in zip(pending, ask(judge, requests, self.name)):
                    failure = reply_failure(reply)
                    if failure is not None:
                        lost[item.id] = failure
                        continue
                    objects = parse_object_list(reply.text or "")
                    if objects is None:
                        again.append(item)
                    else:
                        extracted[item.id] = objects
                pending = again
            for item in pending:
                lost[item.id] = f"unparseable extraction after {self.max_attempts} asks"
                unparsed_kinds.append("no_json_list")
            failures.append(len(lost))
            missing.extend(missing_entry(key, run, reason) for key, reason in lost.items())
            scores: list[CaptionScore] = []
            for item in items:
                if item.id not in extracted:
                    continue
                image_id = int(item.meta["image_id"])
                candidates = refine_objects(extracted[item.id], vocab, analyse)
                result = score_caption(vocab.objects_to_mentions(candidates), truth[image_id], answers[item.id])
                scores.append(result)
                rec = records[item.id]
                rec.setdefault("runs", []).append(
                    {
                        "run": run,
                        "extracted": extracted[item.id],
                        "candidates": candidates,
                        "mentions": [[w, c] for w, c in zip(result.words, result.classes)],
                        "hallucinated": [list(p) for p in result.hallucinated],
                    }
                )
                rec.setdefault("_ok", []).append(0.0 if result.is_hallucinated else 1.0)
            t = totals(scores)
            per_run.append(objhal_metrics(t))
            official_runs.append(summary(t))
        for rec in records.values():
            oks = rec.pop("_ok", [])
            rec["score"] = sum(oks) / len(oks) if oks else None
        metrics, std = mean_and_std(per_run)
        return ScoreReport(
            metrics=metrics,
            per_run=per_run,
            std=std if runs > 1 else {},
            records=list(records.values()),
            failures=failure_counts(failures),
            official=with_run_suffix(official_runs),
            unparsed=unparsed_counts(unparsed_kinds) if unparsed_kinds else {},
            missing=missing,
        )


def _record(
    item: BenchItem, image_id: int, answer: str, result: CaptionScore | None, truth: set[str]
) -> dict[str, Any]:
    record: dict[str, Any] = {"id": item.id, "image_id": image_id, "answer": answer, "truth": sorted(truth)}
    if result is not None:
        record.update(
            mentions=[[w, c] for w, c in zip(result.words, result.classes)],
            hallucinated=[list(p) for p in result.hallucinated],
            correct=not result.is_hallucinated,
        )
    return record


def objhal_metrics(t: dict[str, float]) -> dict[str, float]:
    """The reported rates ×100 and the counts they come from."""
    return {
        "response_hall": t["CHAIRs_refine"] * 100,
        "object_hall": t["CHAIRi"] * 100,
        "CHAIRs": t["CHAIRs"] * 100,
        "object_recall": t["Recall"] * 100,
        "avg_length": t["avg_word_len"],
        "responses": t["captions"],
        "responses_with_objects": t["captions_with_mentions"],
        "hallucinated_responses": t["hallucinated_captions"],
        "mentions": t["mentions"],
        "hallucinated_mentions": t["hallucinated_mentions"],
    }


def summary(t: dict[str, float]) -> dict[str, float]:
    """What ``summarize_gpt_obj_halbench_review.py`` prints (×100 for rates, ``.2f``)."""
    return {
        "Response Hall": round(t["CHAIRs_refine"] * 100, 2),
        "Object Hall": round(t["CHAIRi"] * 100, 2),
        "Response Correct": round((1 - t["CHAIRs_refine"]) * 100, 2),
        "Object Correct": round((1 - t["CHAIRi"]) * 100, 2),
        "Object Recall": round(t["Recall"] * 100, 2),
        "Average Length": round(t["avg_word_len"], 2),
        "COCO Sent Number": t["captions_with_mentions"],
        "COCO Word Number": t["recalled_classes"],
        "GT Word Number": t["truth_classes"],
    }


@hookimpl
def harness_benchmarks() -> list[type]:
    """Register Object HalBench as a harness benchmark plugin."""
    return [ObjHalBenchmark]
