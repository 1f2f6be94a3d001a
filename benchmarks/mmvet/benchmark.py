"""MM-Vet: 218 open questions over six capabilities, GPT-4-graded correctness in [0, 1].

Reproduces yuweihao/MM-Vet ``mm-vet_evaluator.py`` (snapshot acde843e02da; the notebook has the
same logic):

- query = few-shot prompt + "\\n" + ``" | ".join([question, answer with " <AND> "/" <OR> ",
  prediction, ""])``, one user message, temperature 0.0, max_tokens 3;
- parser: ``content.split(" ")[0].strip()`` → float in [0, 1];
- on a parse failure the query is re-sent with "\\nPredict the correctness of the answer
  (digit): " appended, at temperature 0.0, 0.5, 1.0, 1.5, 2.0 (attempts 1..5); the reply of the
  5th retry is never parsed and the official score is then 0.0;
- per run: capability score = 100 · Σ score / #samples with that capability, total = 100 ·
  Σ score / #samples; over runs: mean, and the population std of the run totals.

A sample whose ladder ends without a parsed score is scored 0.0, as the official script scores it,
and counted in ``ScoreReport.unparsed``; the headline (``metrics``) is then the official number:
per capability and ``total`` the mean over runs of each run's score. A sample whose judge call
failed at any step of its ladder (after the client's retries) was never answered: it is in
``ScoreReport.missing`` and left out of its run (the denominators count the answered samples);
a rerun asks only for the missing calls (the answered attempts are cached). ``ScoreReport.official``
holds the official script's printed numbers (numpy rounding to 1 decimal): every capability and
``total`` (mean over runs), ``std`` and ``total@run<r>``; ``ScoreReport.excluded`` the means over
parsed scores only.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import benchmarks.mmvet.prompts as prompts
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
)
from harness.atomic import write_json
from harness.benchmark import BenchItem, Benchmark, DataSource, LeaderboardColumn, ProtocolCard, ScoreReport
from harness.errors import HarnessError
from harness.judge.types import Judge, JudgeRequest
from harness.plugins import hookimpl

RELEASE_URL = "https://github.com/yuweihao/MM-Vet/releases/download/v1/mm-vet.zip"
ID_PATTERN = re.compile(r"v1_\d+")
MAX_RETRIES = 5  # attempts 1..5; the reply of attempt 5 is never parsed (official rule)
UNPARSEABLE = f"unparseable_after_{MAX_RETRIES}_retries"
OFFICIAL_JUDGE = "gpt-4-0613"  # mm-vet_evaluator.py's --gpt_model default
# --judge-model substitutes documented by the toolkits that re-implement MM-Vet: VLMEvalKit's MMVet
# (gpt-4-turbo = gpt-4-1106-preview) and lmms-eval's mmvet task (gpt-4o-2024-11-20).
JUDGE_SUBSTITUTES = ("gpt-4-turbo", "gpt-4o-2024-11-20")


def parse_correctness(content: str | None) -> float | None:
    """The official parser: first space-separated token as a float in [0, 1], else None.

    NaN is rejected (the official comparison lets "nan" through, which would make every mean NaN).
    """
    if content is None:
        return None
    try:
        score = float(content.split(" ")[0].strip())
    except ValueError:
        return None
    if math.isnan(score) or score > 1.0 or score < 0.0:
        return None
    return score


def grading_query(question: str, answer: str, prediction: str, *, retry: bool = False) -> str:
    """The judge's user message (with the "(digit)" suffix on retries)."""
    gt = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    query = prompts.FEW_SHOT_PROMPT + "\n" + " | ".join([question, gt, prediction, ""])
    return query + prompts.RETRY_SUFFIX if retry else query


def retry_temperature(attempt: int, base: float = 0.0) -> float:
    """Temperature of attempt ``attempt`` (0 = first call): base, base, base+0.5, … base+2.0."""
    return base if attempt == 0 else base + 0.5 * (attempt - 1)


def combo_name(caps: Sequence[str]) -> str:
    """Name of a capability combination (sorted, so stable; the official order follows set order)."""
    return "combo/" + "_".join(sorted(set(caps)))


def run_metrics(items: Sequence[BenchItem], scores: Sequence[float | None]) -> dict[str, float]:
    """One run's capability, total and combination scores over the samples with a score.

    Sums are accumulated in item order and divided as the official script does (Σ / n · 100).
    """
    sums: dict[str, float] = {}
    counts: Counter[str] = Counter()
    for item, score in zip(items, scores):
        if score is None:
            continue
        caps = list(dict.fromkeys(item.meta["capability"]))
        for key in [*caps, "total", combo_name(caps)]:
            sums[key] = sums.get(key, 0.0) + score
            counts[key] += 1
    return {key: sums[key] / counts[key] * 100 for key in _ordered_keys(items) if counts[key]}


def _ordered_keys(items: Sequence[BenchItem]) -> list[str]:
    """Capabilities by descending frequency (official column order), total, then combinations."""
    caps: Counter[str] = Counter()
    combos: Counter[str] = Counter()
    for item in items:
        caps.update(set(item.meta["capability"]))
        combos[combo_name(item.meta["capability"])] += 1
    return [c for c, _ in caps.most_common()] + ["total"] + [c for c, _ in combos.most_common()]


def _run_score(record: dict[str, Any], run: int) -> float | None:
    """The official score of one record in judge run ``run`` (None: never answered in that run)."""
    return next((r.get("score") for r in record.get("runs") or () if r.get("run") == run), None)


def _np_round(value: float, places: int = 1) -> float:
    """numpy's rounding, which the official script gets from ``round(np.float64, 1)``."""
    return float(np.round(np.float64(value), places))


class MMVet(Benchmark):
    """MM-Vet v1 with the official few-shot grader and retry ladder."""

    name = "mmvet"
    predictions_filename = "predictions.json"  # the official prediction format's file type
    description = (
        "MM-Vet: 218 open questions, GPT-4-graded correctness per capability (rec, ocr, know, gen, spat, math)"
    )
    needs_judge = True
    columns = (LeaderboardColumn("MM-Vet", "total", False, 1, True, 20),)
    judge_substitutes = JUDGE_SUBSTITUTES

    def __init__(
        self,
        *,
        judge_model: str = PROTOCOL_JUDGE,
        judge_temperature: float = 0.0,
        judge_max_tokens: int = 3,
        judge_runs: int = 3,
    ) -> None:
        self.judge_model = judge_model
        self.judge_temperature = judge_temperature
        self.judge_max_tokens = judge_max_tokens
        self.judge_runs = judge_runs

    def protocol(self) -> ProtocolCard:
        return ProtocolCard(
            benchmark=self.name,
            data_version="yuweihao/MM-Vet release v1, mm-vet.zip (mm-vet.json: 218 questions, v1_0..v1_217)",
            scorer_source="yuweihao/MM-Vet@acde843e02da mm-vet_evaluator.py",
            judge_model=self.judge_model,
            judge_temperature=self.judge_temperature,
            judge_max_tokens=self.judge_max_tokens,
            judge_runs=self.judge_runs,
            prompt_version=prompts.prompt_sha256(),
            generation=self.generation_params(),
            reference_numbers={},
            deviations=[
                *judge_deviations(self.judge_model, self.name, OFFICIAL_JUDGE, JUDGE_SUBSTITUTES),
                "the HF-space grader of MM-Vet uses yet another judge",
                "a sample whose judge call failed at any step of its retry ladder (after the client's retries, "
                "a refusal, or an exhausted budget) is listed as missing and left out of its run, which makes "
                "the result incomplete; the official script sleeps and restarts the sample until it is answered",
                "a 'nan' reply is treated as unparseable (the official range check lets it through)",
                "capability-combination names are sorted ('combo/ocr_math'); the official names follow "
                "Python set order",
                "LLaVA-1.5-7B reference numbers from SENA Table 4 are not in the project spec; left empty",
            ],
        )

    def generation_params(self) -> dict[str, Any]:
        """LLaVA-1.5 ``scripts/v1_5/eval/mmvet.sh``: question only, greedy, 1024 new tokens."""
        return {"max_new_tokens": 1024, "do_sample": False, "temperature": 0.0, "conv_mode": "vicuna_v1"}

    def data_sources(self) -> list[DataSource]:
        return [
            DataSource(
                path="mm-vet.zip",
                url=RELEASE_URL,
                unpack=True,
                note="GitHub release asset; unpacks to mm-vet/ (mm-vet.json, images/, bard_set.json)",
            )
        ]

    def _metadata_path(self, data_dir: Path) -> Path:
        return first_existing([data_dir / "mm-vet.json", data_dir / "mm-vet" / "mm-vet.json"], "mm-vet.json")

    def load(self, data_dir: Path) -> list[BenchItem]:
        path = self._metadata_path(Path(data_dir))
        data = read_json_strict(path)
        if not isinstance(data, dict):
            raise HarnessError(f"{path}: expected a JSON object keyed v1_<n>")
        items = []
        for qid, value in data.items():
            where = f"{path} id {qid}"
            if not ID_PATTERN.fullmatch(qid):
                raise HarnessError(f"{where}: ids must look like v1_<n>")
            if not isinstance(value, dict):
                raise HarnessError(f"{where}: expected an object")
            require_fields(value, [("imagename", str), ("question", str), ("answer", str), ("capability", list)], where)
            caps = value["capability"]
            if not caps or not all(isinstance(c, str) for c in caps):
                raise HarnessError(f"{where}: 'capability' must be a non-empty list of strings")
            items.append(
                BenchItem(
                    id=qid,
                    image=path.parent / "images" / value["imagename"],
                    prompt=value["question"],
                    meta={
                        "answer": value["answer"],
                        "capability": list(caps),
                        "imagename": value["imagename"],
                        "imagesource": value.get("imagesource"),
                    },
                )
            )
        return items

    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """The official result file: ``{"v1_0": "<answer>", ...}`` with every id."""
        path = Path(path)
        data = read_json_strict(path)
        if not isinstance(data, dict):
            raise HarnessError(f'{path}: expected a JSON object {{"v1_0": "answer", ...}}')
        known = {item.id for item in items}
        for qid, value in data.items():
            if qid not in known:
                raise HarnessError(f"{path}: unknown id {qid!r}")
            if not isinstance(value, str):
                raise HarnessError(f"{path} id {qid}: the prediction must be a string, got {type(value).__name__}")
        missing = [item.id for item in items if item.id not in data]
        if missing:
            raise HarnessError(f"{path}: no prediction for id {', '.join(missing)}")
        return {item.id: data[item.id] for item in items}

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        out = {}
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"{path}: no prediction for id {item.id}")
            out[item.id] = predictions[item.id]
        write_json(path, out)

    # -- scoring ---------------------------------------------------------------------------

    def request(self, item: BenchItem, prediction: str, run: int, attempt: int) -> JudgeRequest:
        """The judge request of one attempt (0 = first call, 1..5 = retries with the suffix)."""
        query = grading_query(item.prompt, item.meta["answer"], prediction, retry=attempt > 0)
        return JudgeRequest.chat(
            f"{self.name}/{item.id}",
            None,
            query,
            temperature=retry_temperature(attempt, self.judge_temperature),
            max_tokens=self.judge_max_tokens,
            run_index=run,
            attempt=attempt,
        )

    def metrics_from_records(self, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The numbers of ``score`` recomputed from its per-item records (any subset or resample of them): each
        run's official scores (0.0 after the retry ladder, none where never answered), then the mean over runs.
        ``harness compare --judge A --judge B`` resamples records with it for the headline's interval."""
        items = [BenchItem(str(rec["id"]), None, "", {"capability": list(rec["capability"])}) for rec in records]
        runs = max((len(rec.get("runs") or ()) for rec in records), default=0)
        per_run = [run_metrics(items, [_run_score(rec, r) for rec in records]) for r in range(runs)]
        return mean_and_std([m for m in per_run if m])[0]

    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None, *, runs: int = 1
    ) -> ScoreReport:
        judge = require_judge(judge, self.name)
        check_runs(runs, self.name)
        if not items:
            raise HarnessError(f"{self.name}: nothing to score (no items)")
        absent = [item.id for item in items if item.id not in predictions]
        if absent:
            raise HarnessError(f"{self.name}: no prediction for id {', '.join(absent)}")

        attempts: list[list[list[dict[str, Any]]]] = [[[] for _ in items] for _ in range(runs)]
        parsed: list[list[float | None]] = [[None] * len(items) for _ in range(runs)]
        reasons: list[list[str | None]] = [[None] * len(items) for _ in range(runs)]
        never: list[list[bool]] = [[False] * len(items) for _ in range(runs)]
        models: list[list[str | None]] = [[None] * len(items) for _ in range(runs)]
        missing: list[dict[str, Any]] = []
        unparsed: list[str] = []
        pending = [(r, i) for r in range(runs) for i in range(len(items))]
        for attempt in range(MAX_RETRIES + 1):
            if not pending:
                break
            replies = ask(
                judge, [self.request(items[i], predictions[items[i].id], r, attempt) for r, i in pending], self.name
            )
            still = []
            for (r, i), reply in zip(pending, replies):
                attempts[r][i].append(
                    {
                        "attempt": attempt,
                        "temperature": reply.request.temperature,
                        "content": reply.text,
                        "error": reply.error,
                    }
                )
                models[r][i] = reply.model
                failure = reply_failure(reply)
                if failure is not None:  # never answered: the sample is not scored in this run
                    reasons[r][i], never[r][i] = failure, True
                    missing.append(missing_entry(items[i].id, r, failure))
                    continue
                if attempt == MAX_RETRIES:  # the official script never parses this reply: 0.0
                    reasons[r][i] = UNPARSEABLE
                    unparsed.append(UNPARSEABLE)
                    continue
                score = parse_correctness(reply.text)
                if score is None:
                    still.append((r, i))
                else:
                    parsed[r][i] = score
            pending = still

        # The official score of each sample: the parsed one, 0.0 after the ladder; None: never answered.
        official_scores = [
            [None if never[r][i] else (parsed[r][i] if parsed[r][i] is not None else 0.0) for i in range(len(items))]
            for r in range(runs)
        ]
        per_run, excluded_runs, failures, records = [], [], [], []
        for r in range(runs):
            per_run.append(run_metrics(items, official_scores[r]))
            excluded_runs.append(run_metrics(items, parsed[r]))
            failures.append(sum(s is None for s in parsed[r]))
        for i, item in enumerate(items):
            answered = [official_scores[r][i] for r in range(runs) if official_scores[r][i] is not None]
            records.append(
                {
                    "id": item.id,
                    "capability": item.meta["capability"],
                    "prediction": predictions[item.id],
                    "score": sum(answered) / len(answered) if answered else None,
                    "runs": [
                        {
                            "run": r,
                            "score": official_scores[r][i],
                            "parsed_score": parsed[r][i],
                            "failure": reasons[r][i],
                            "judge_model": models[r][i],
                            "attempts": attempts[r][i],
                        }
                        for r in range(runs)
                    ],
                }
            )

        metrics, std = mean_and_std(per_run)
        excluded, _ = mean_and_std(excluded_runs)
        answered_runs = [run for run in per_run if "total" in run]
        official: dict[str, float] = {}
        if answered_runs:
            keys = [key for key in answered_runs[0]]
            keys += [key for run in answered_runs for key in run if key not in keys]
            official = {key: _np_round(np.mean([run[key] for run in answered_runs if key in run])) for key in keys}
            totals = np.array([run["total"] for run in answered_runs])
            official["std"] = _np_round(totals.std())
            for r, run in enumerate(per_run):
                if "total" in run:
                    official[f"total@run{r}"] = float(np.round(run["total"], 1))
        return ScoreReport(
            metrics=metrics,
            per_run=per_run,
            std=std,
            records=records,
            failures=failure_counts(failures),
            official=official,
            unparsed=unparsed_counts(unparsed),
            missing=missing,
            excluded=excluded,
        )


@hookimpl
def harness_benchmarks() -> list[type]:
    return [MMVet]
