"""MMHal-Bench: 96 questions on OpenImages images, GPT-4-rated 0-6 for informativeness and hallucination.

Reproduces llava-rlhf/LLaVA-RLHF ``Eval/eval_gpt_mmhal.py`` (≡ the HF dataset's ``eval_gpt4.py``)
and ``Eval/summarize_gpt_mmhal.py``, snapshot 830a083fd83e:

- exactly 96 records; one user message ``template.format(", ".join(image_content), question,
  gt_answer, model_answer)``, temperature 0.0 and no max_tokens (the parameter is not sent);
- parser: the ratings s in 0..6 whose ``"rating: s"`` occurs in the lower-cased reply; exactly
  one → s, zero or several → 0 (which also counts as a hallucination), as in the official code;
- average score = Σ / 96; hallucination rate = #(score < 3) / 96; per question type the mean of
  the items at positions i with ``i % 8`` = type index.

Runs: the judge is run ``runs`` times (SENA averages 3); each run's official numbers are computed
and the headline is their mean ± population std. Replies with zero or several ratings are scored
0 and counted in ``ScoreReport.unparsed``; a rating the judge never gave (the call failed after
the client's retries) is in ``ScoreReport.missing`` and left out of its run (the denominators then
count the answered items). ``ScoreReport.excluded`` holds the means over parsed ratings only.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import benchmarks.mmhal.prompts as prompts
from benchmarks.common.judged_runs import (
    PROTOCOL_JUDGE,
    ask,
    check_runs,
    failure_counts,
    first_existing,
    judge_deviations,
    mean_and_std,
    missing_entry,
    read_json_strict,
    reply_failure,
    require_fields,
    require_judge,
    unparsed_counts,
    with_run_suffix,
)
from harness.atomic import write_json
from harness.benchmark import BenchItem, Benchmark, DataSource, LeaderboardColumn, ProtocolCard, ScoreReport
from harness.errors import HarnessError
from harness.judge.types import Judge, JudgeRequest
from harness.plugins import hookimpl

DATA_URL = "https://huggingface.co/datasets/Shengcao1006/MMHal-Bench/resolve/main/test_data.zip"
N_QUESTIONS = 96
N_TYPES = 8
OFFICIAL_JUDGE = "gpt-4-0314"  # eval_gpt_mmhal.py's --gpt-model default
# --judge-model substitutes. MMHal-Bench documents none (its script takes any --gpt-model, and neither
# VLMEvalKit nor lmms-eval implements it); these are the GPT-4 judges the other toolkits document for
# their GPT-judged tasks: gpt-4-turbo (VLMEvalKit, = gpt-4-1106-preview) and gpt-4o-2024-11-20 (lmms-eval).
JUDGE_SUBSTITUTES = ("gpt-4-turbo", "gpt-4o-2024-11-20")


def find_ratings(reply: str) -> list[int]:
    """Every s in 0..6 such that "rating: s" occurs in the lower-cased reply."""
    low = reply.lower()
    return [s for s in range(7) if f"rating: {s}" in low]


def parse_rating(reply: str) -> tuple[int | None, str | None]:
    """(rating, None) when exactly one rating is found, else (None, "no_rating"/"multiple_ratings")."""
    found = find_ratings(reply)
    if len(found) == 1:
        return found[0], None
    return None, "no_rating" if not found else "multiple_ratings"


def type_names(items: Sequence[BenchItem]) -> list[str]:
    """Name of type index k (= position % 8): the records' shared ``question_type``, else "type<k>"."""
    names = []
    for k in range(N_TYPES):
        kinds = {item.meta.get("question_type") for pos, item in enumerate(items) if pos % N_TYPES == k}
        names.append(kinds.pop() if len(kinds) == 1 and None not in kinds else f"type{k}")
    return names


def run_metrics(scores: Sequence[int | None], names: Sequence[str]) -> dict[str, float]:
    """One run's average score, hallucination rate and per-type averages over the rated items.

    ``scores[pos]`` is the rating of the item at position ``pos`` (its type is ``pos % 8``), None
    for an item left out (never answered, or not parsed when computing the excluded figure).
    """
    rated = [s for s in scores if s is not None]
    if not rated:
        return {}
    metrics = {
        "average_score": sum(rated) / len(rated),
        "hallucination_rate": sum(1 for s in rated if s < 3) / len(rated),
    }
    for k, name in enumerate(names):
        of_type = [s for pos, s in enumerate(scores) if pos % N_TYPES == k and s is not None]
        if of_type:
            metrics[f"average_score/{name}"] = sum(of_type) / len(of_type)
    return metrics


class MMHal(Benchmark):
    """MMHal-Bench with the official GPT-4 rating template and parser."""

    name = "mmhal"
    predictions_filename = "predictions.json"  # the official prediction format's file type
    description = "MMHal-Bench: 96 questions, GPT-4 rating 0-6 and hallucination rate (share of ratings < 3)"
    needs_judge = True
    columns = (
        LeaderboardColumn("MMHal Score", "average_score", False, 2, True, 30),
        LeaderboardColumn("MMHal Rate", "hallucination_rate", True, 2, True, 30),
    )
    judge_substitutes = JUDGE_SUBSTITUTES

    def __init__(
        self,
        *,
        judge_model: str = PROTOCOL_JUDGE,
        judge_temperature: float = 0.0,
        judge_max_tokens: int | None = None,
        judge_runs: int = 3,
    ) -> None:
        """``judge_max_tokens`` None: no max_tokens is sent, as the official call."""
        self.judge_model = judge_model
        self.judge_temperature = judge_temperature
        self.judge_max_tokens = judge_max_tokens
        self.judge_runs = judge_runs

    def protocol(self) -> ProtocolCard:
        return ProtocolCard(
            benchmark=self.name,
            data_version="Shengcao1006/MMHal-Bench (HF dataset, main) test_data.zip: response_template.json "
            "(96 questions) + images/",
            scorer_source="llava-rlhf/LLaVA-RLHF@830a083fd83e Eval/eval_gpt_mmhal.py + Eval/summarize_gpt_mmhal.py",
            judge_model=self.judge_model,
            judge_temperature=self.judge_temperature,
            judge_max_tokens=self.judge_max_tokens,
            judge_runs=self.judge_runs,
            prompt_version=prompts.template_sha256(),
            generation=self.generation_params(),
            reference_numbers={},
            deviations=[
                *judge_deviations(self.judge_model, self.name, OFFICIAL_JUDGE, JUDGE_SUBSTITUTES),
                "judge run k times (default 3); headline = mean over runs ± population std",
                "a rating never given (the judge call failed after the client's retries, was refused, or the "
                "budget ran out) is listed as missing and left out of its run, which makes the result "
                "incomplete; the official script retries every 10 s until it gets an answer",
                "hallucination_rate is a fraction (0-1) as the official script prints it",
                "LLaVA-1.5-7B reference numbers from SENA Table 4 are not in the project spec; left empty",
            ],
        )

    def generation_params(self) -> dict[str, Any]:
        """LLaVA-RLHF ``eval_mmhal.sh``: question only (``--test-prompt ''``), greedy, 1024 new tokens."""
        return {
            "max_new_tokens": 1024,
            "do_sample": False,
            "temperature": 0.0,
            "conv_mode": "vicuna_v1",
            "image_aspect_ratio": "pad",
        }

    def data_sources(self) -> list[DataSource]:
        return [
            DataSource(
                path="test_data.zip",
                url=DATA_URL,
                unpack=True,
                note="HF dataset file; holds response_template.json and images/",
            )
        ]

    def _template_path(self, data_dir: Path) -> Path:
        return first_existing(
            [data_dir / "response_template.json", data_dir / "test_data" / "response_template.json"],
            "response_template.json",
        )

    def _read_records(self, path: Path) -> list[dict[str, Any]]:
        records = read_json_strict(path)
        if not isinstance(records, list):
            raise HarnessError(f"{path}: expected a JSON list of {N_QUESTIONS} records")
        if len(records) != N_QUESTIONS:
            raise HarnessError(
                f"{path}: {len(records)} records; MMHal-Bench has exactly {N_QUESTIONS} "
                "(the official scorer asserts it; the question type is position % 8)"
            )
        for pos, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise HarnessError(f"{path} record {pos}: expected an object")
        return records

    def load(self, data_dir: Path) -> list[BenchItem]:
        path = self._template_path(Path(data_dir))
        items = []
        for pos, rec in enumerate(self._read_records(path)):
            where = f"{path} record {pos}"
            require_fields(
                rec,
                [
                    ("question_type", str),
                    ("image_src", str),
                    ("image_content", list),
                    ("question", str),
                    ("gt_answer", str),
                ],
                where,
            )
            if not all(isinstance(c, str) for c in rec["image_content"]):
                raise HarnessError(f"{where}: 'image_content' must be a list of strings")
            items.append(
                BenchItem(
                    id=str(pos),
                    image=path.parent / "images" / rec["image_src"].rsplit("/", 1)[-1],
                    prompt=rec["question"],
                    meta={
                        "question_type": rec["question_type"],
                        "question_topic": rec.get("question_topic"),
                        "image_id": rec.get("image_id"),
                        "image_src": rec["image_src"],
                        "image_content": list(rec["image_content"]),
                        "gt_answer": rec["gt_answer"],
                        "record": copy.deepcopy(rec),
                    },
                )
            )
        return items

    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """The response file: the template's 96 records, same order, ``model_answer`` filled."""
        path = Path(path)
        records = self._read_records(path)
        if len(items) != len(records):
            raise HarnessError(f"{path}: {len(records)} records for {len(items)} items")
        preds = {}
        for pos, (rec, item) in enumerate(zip(records, items)):
            where = f"{path} record {pos}"
            require_fields(rec, [("question", str), ("model_answer", str)], where)
            if rec["question"] != item.prompt or rec.get("image_src", item.meta["image_src"]) != item.meta["image_src"]:
                raise HarnessError(
                    f"{where}: question/image differ from the template's record {pos} "
                    "(the records must keep the template's order)"
                )
            preds[item.id] = rec["model_answer"]
        return preds

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        records = []
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"{path}: no prediction for record {item.id}")
            rec = copy.deepcopy(item.meta["record"])
            rec["model_answer"] = predictions[item.id]
            records.append(rec)
        write_json(path, records)

    # -- scoring ---------------------------------------------------------------------------

    def metrics_from_records(self, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The numbers of ``score`` recomputed from its per-item records (any subset or resample of them): each
        run's official ratings (0 when unparseable, none where never answered), then the mean over runs.
        ``harness compare --judge A --judge B`` resamples records with it for the headline's interval."""
        kinds: dict[int, set] = {}
        for rec in records:
            kinds.setdefault(int(rec["type_index"]), set()).add(rec.get("question_type"))
        names = {k: (next(iter(v)) if len(v) == 1 and None not in v else f"type{k}") for k, v in kinds.items()}
        runs = max((len(rec.get("runs") or ()) for rec in records), default=0)
        per_run = []
        for r in range(runs):
            rated = [
                (int(rec["type_index"]), run["official_rating"])
                for rec in records
                for run in rec["runs"]
                if run.get("run") == r and run.get("official_rating") is not None
            ]
            if not rated:
                continue
            metrics = {
                "average_score": sum(s for _, s in rated) / len(rated),
                "hallucination_rate": sum(1 for _, s in rated if s < 3) / len(rated),
            }
            for k in sorted(names):
                of_type = [s for t, s in rated if t == k]
                if of_type:
                    metrics[f"average_score/{names[k]}"] = sum(of_type) / len(of_type)
            per_run.append(metrics)
        return mean_and_std(per_run)[0]

    def judge_content(self, item: BenchItem, prediction: str) -> str:
        """The judge's user message for one item (the official template, filled positionally)."""
        return prompts.TEMPLATE.format(
            ", ".join(item.meta["image_content"]), item.prompt, item.meta["gt_answer"], prediction
        )

    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None, *, runs: int = 1
    ) -> ScoreReport:
        judge = require_judge(judge, self.name)
        check_runs(runs, self.name)
        if len(items) != N_QUESTIONS:
            raise HarnessError(f"{self.name}: {len(items)} items; the official scorer needs exactly {N_QUESTIONS}")
        absent = [item.id for item in items if item.id not in predictions]
        if absent:
            raise HarnessError(f"{self.name}: no prediction for record {', '.join(absent)}")
        contents = [self.judge_content(item, predictions[item.id]) for item in items]
        requests = [
            JudgeRequest.chat(
                f"{self.name}/{item.id}",
                None,
                content,
                temperature=self.judge_temperature,
                max_tokens=self.judge_max_tokens,
                run_index=r,
            )
            for r in range(runs)
            for item, content in zip(items, contents)
        ]
        replies = ask(judge, requests, self.name)

        names = type_names(items)
        records = [
            {
                "id": item.id,
                "question_type": item.meta["question_type"],
                "type_index": pos % N_TYPES,
                "prediction": predictions[item.id],
                "runs": [],
            }
            for pos, item in enumerate(items)
        ]
        per_run, excluded_runs, failures = [], [], []
        missing: list[dict[str, Any]] = []
        unparsed: list[str] = []
        n = len(items)
        for r in range(runs):
            official: list[int | None] = []  # the official rating (0 when unparseable); None: never answered
            parsed: list[int | None] = []  # parsed ratings only
            for pos in range(n):
                reply = replies[r * n + pos]
                never = reply_failure(reply)
                if never is not None:  # never answered: not scored, asked again on the next run
                    missing.append(missing_entry(items[pos].id, r, never))
                    official.append(None)
                    parsed.append(None)
                    records[pos]["runs"].append(
                        {
                            "run": r,
                            "rating": None,
                            "official_rating": None,
                            "failure": never,
                            "review": None,
                            "judge_model": reply.model,
                        }
                    )
                    continue
                rating, kind = parse_rating(reply.text or "")
                if kind is not None:
                    unparsed.append(kind)
                official.append(0 if rating is None else rating)
                parsed.append(rating)
                records[pos]["runs"].append(
                    {
                        "run": r,
                        "rating": rating,
                        "official_rating": official[-1],
                        "failure": kind,
                        "review": reply.text,
                        "judge_model": reply.model,
                    }
                )
            per_run.append(run_metrics(official, names))
            excluded_runs.append(run_metrics(parsed, names))
            failures.append(sum(s is None for s in parsed))
        for record in records:  # the official rating per item, mean over the runs that answered
            answered = [run["official_rating"] for run in record["runs"] if run["official_rating"] is not None]
            record["score"] = sum(answered) / len(answered) if answered else None

        metrics, std = mean_and_std(per_run)
        excluded, _ = mean_and_std(excluded_runs)
        printed = dict(metrics)
        printed.update(with_run_suffix([{k: round(v, 2) for k, v in run.items()} for run in per_run]))
        return ScoreReport(
            metrics=metrics,
            per_run=per_run,
            std=std,
            records=records,
            failures=failure_counts(failures),
            official=printed,
            unparsed=unparsed_counts(unparsed),
            missing=missing,
            excluded=excluded,
        )


@hookimpl
def harness_benchmarks() -> list[type]:
    return [MMHal]
