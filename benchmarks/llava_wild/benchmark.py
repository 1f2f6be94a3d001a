"""LLaVA-Bench (In-the-Wild): 60 questions on 24 images, GPT-4-judged against a GPT-4 reference.

Reproduces haotian-liu/LLaVA ``llava/eval/eval_gpt_review_bench.py`` (judge call and parser)
and ``llava/eval/summarize_gpt_review.py`` (aggregation), snapshot c121f0432da2:

- one review per question: system prompt + ``[Context] … [Question] … [Assistant 1] (GPT-4
  reference) … [Assistant 2] (model) … [System] rule``, temperature 0.2, max_tokens 1024; the
  context is the image's caption as it is when a string, its items joined with "\\n" when a list
  (the ``isinstance`` check of the script since commit 237165b, 2023-08-16);
- parser: first line, "," → " ", split on single spaces, exactly two tokens → two floats;
  anything else is ``[-1, -1]``, kept in the means as the official summary keeps it;
- per set ("all" and each category): means of both scores rounded to 3 decimals, relative
  score = 100 · model / reference computed from those rounded means.

Runs: the judge is run ``runs`` times (SENA reports a 3-run average); each run gives its own
relative scores (the official numbers of that run) and the headline is their arithmetic mean
(mean of per-run ratios, not a ratio of pooled means) ± population std. A review the judge never
gave (the call failed after the client's retries) is in ``ScoreReport.missing`` and left out of
its run; ``ScoreReport.excluded`` holds the same means without the ``[-1, -1]`` reviews.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import benchmarks.llava_wild.prompts as prompts
from benchmarks.common.judged_runs import (
    PROTOCOL_JUDGE,
    ask,
    check_runs,
    failure_counts,
    judge_deviations,
    mean_and_std,
    missing_entry,
    read_jsonl_numbered,
    reply_failure,
    require_fields,
    require_judge,
    unparsed_counts,
    with_run_suffix,
)
from harness.atomic import write_jsonl
from harness.benchmark import BenchItem, Benchmark, DataSource, LeaderboardColumn, ProtocolCard, ScoreReport
from harness.errors import HarnessError
from harness.judge.types import Judge, JudgeRequest
from harness.plugins import hookimpl

HF_BASE = "https://huggingface.co/datasets/liuhaotian/llava-bench-in-the-wild/resolve/main"
CATEGORIES = ("conv", "detail", "complex")
FAILED_TUPLE = [-1.0, -1.0]
OFFICIAL_JUDGE = "gpt-4-0314"  # hard-coded in eval_gpt_review_bench.py
# --judge-model substitutes documented by the toolkits that re-implement this protocol: VLMEvalKit's
# LLaVABench (gpt-4-turbo = gpt-4-1106-preview in vlmeval/dataset/utils/judge_util.py) and lmms-eval's
# llava-in-the-wild task (gpt-4o-2024-11-20).
JUDGE_SUBSTITUTES = ("gpt-4-turbo", "gpt-4o-2024-11-20")
UNPARSEABLE = "first_line_not_two_scores"


def caption_text(caption: str | Sequence[str]) -> str:
    """The [Context] text: a string caption as it is, a list of captions joined with newlines."""
    return caption if isinstance(caption, str) else "\n".join(caption)


def parse_review(review: str) -> list[float] | None:
    """The official score-pair parser; None where the official code returns ``[-1, -1]``."""
    pair = review.split("\n")[0].replace(",", " ").split(" ")
    if len(pair) != 2:
        return None
    try:
        return [float(pair[0]), float(pair[1])]
    except ValueError:
        return None


def set_scores(tuples: Sequence[Sequence[float]]) -> dict[str, float] | None:
    """Relative, reference and model scores of one set of score pairs, as the official summary.

    Means are rounded to 3 decimals before the ratio. None for an empty set; no relative score
    when the rounded reference mean is 0 (the official script would divide by zero).
    """
    if not tuples:
        return None
    stats = [round(x, 3) for x in np.asarray(tuples, dtype=float).mean(0).tolist()]
    out = {"reference_score": stats[0] * 10, "model_score": stats[1] * 10}
    if stats[0] != 0:
        out["relative_score"] = stats[1] / stats[0] * 100
    return out


def run_metrics(pairs: Sequence[tuple[str, Sequence[float]]]) -> dict[str, float]:
    """Metrics of one run from ``(category, [s1, s2])`` pairs: "all" unsuffixed, "/<cat>" per category."""
    metrics: dict[str, float] = {}
    groups: dict[str, list[Sequence[float]]] = {"": [t for _, t in pairs]}
    for cat, t in pairs:
        groups.setdefault(f"/{cat}", []).append(t)
    for suffix, tuples in groups.items():
        scores = set_scores(tuples)
        for name, value in (scores or {}).items():
            metrics[name + suffix] = value
    return metrics


def _printed(metrics: dict[str, float]) -> dict[str, float]:
    """The official summary's printed rounding (1 decimal)."""
    return {k: round(v, 1) for k, v in metrics.items()}


class LlavaWild(Benchmark):
    """LLaVA-Bench (In-the-Wild) with the official GPT-4 review protocol."""

    name = "llava_wild"
    predictions_filename = "predictions.jsonl"  # the official prediction format's file type
    description = "LLaVA-Bench (In-the-Wild): 60 open questions, GPT-4 relative score vs the GPT-4 reference"
    needs_judge = True
    columns = (LeaderboardColumn("LLaVA^W", "relative_score", False, 1, True, 10),)
    judge_substitutes = JUDGE_SUBSTITUTES

    def __init__(
        self,
        *,
        judge_model: str = PROTOCOL_JUDGE,
        judge_temperature: float = 0.2,
        judge_max_tokens: int = 1024,
        judge_runs: int = 3,
    ) -> None:
        self.judge_model = judge_model
        self.judge_temperature = judge_temperature
        self.judge_max_tokens = judge_max_tokens
        self.judge_runs = judge_runs

    # -- protocol --------------------------------------------------------------------------

    def protocol(self) -> ProtocolCard:
        return ProtocolCard(
            benchmark=self.name,
            data_version="liuhaotian/llava-bench-in-the-wild (HF dataset, main): questions.jsonl, "
            "context.jsonl, answers_gpt4.jsonl, images/001-024.jpg",
            scorer_source="haotian-liu/LLaVA@c121f0432da2 llava/eval/eval_gpt_review_bench.py + "
            "llava/eval/summarize_gpt_review.py + llava/eval/table/rule.json",
            judge_model=self.judge_model,
            judge_temperature=self.judge_temperature,
            judge_max_tokens=self.judge_max_tokens,
            judge_runs=self.judge_runs,
            prompt_version=prompts.rule_sha256(),
            generation=self.generation_params(),
            reference_numbers={},
            deviations=[
                *judge_deviations(self.judge_model, self.name, OFFICIAL_JUDGE, JUDGE_SUBSTITUTES),
                "judge run k times (default 3); headline = mean over runs of each run's relative "
                "score (mean of ratios) ± population std",
                "a review never given (the judge call failed after the client's retries, was refused, or the "
                "budget ran out) is listed as missing and left out of its run, which makes the result "
                "incomplete; the official script retries forever instead",
                "ScoreReport.official '@run' entries are rounded to 1 decimal as the official summary prints "
                "them; headline values are unrounded apart from the official 3-decimal rounding of means",
                "model answers are matched to questions by question_id (the official script pairs "
                "the three files line by line)",
                "LLaVA-1.5-7B reference numbers from SENA Table 4 are not in the project spec; left empty",
            ],
        )

    def generation_params(self) -> dict[str, Any]:
        """LLaVA-1.5 ``scripts/v1_5/eval/llavabench.sh``: question only, greedy, 1024 new tokens."""
        return {"max_new_tokens": 1024, "do_sample": False, "temperature": 0.0, "conv_mode": "vicuna_v1"}

    def data_sources(self) -> list[DataSource]:
        files = ["questions.jsonl", "context.jsonl", "answers_gpt4.jsonl"]
        files += [f"images/{i:03d}.jpg" for i in range(1, 25)]
        return [DataSource(path=f, url=f"{HF_BASE}/{f}") for f in files]

    # -- data ------------------------------------------------------------------------------

    def load(self, data_dir: Path) -> list[BenchItem]:
        data_dir = Path(data_dir)
        qpath, cpath, rpath = (data_dir / n for n in ("questions.jsonl", "context.jsonl", "answers_gpt4.jsonl"))
        questions = read_jsonl_numbered(qpath)
        contexts = read_jsonl_numbered(cpath)
        references = read_jsonl_numbered(rpath)

        captions: dict[str, Any] = {}
        for lineno, ctx in contexts:
            require_fields(ctx, [("image", str), ("caption", (str, list))], f"{cpath}:{lineno}")
            if isinstance(ctx["caption"], list) and not all(isinstance(c, str) for c in ctx["caption"]):
                raise HarnessError(f"{cpath}:{lineno}: field 'caption' must be a string or a list of strings")
            captions[ctx["image"]] = ctx["caption"]

        if len(references) != len(questions):
            raise HarnessError(
                f"{rpath}: {len(references)} reference answers for {len(questions)} "
                f"questions in {qpath} (the files are paired line by line)"
            )
        items: list[BenchItem] = []
        seen: set[str] = set()
        for (qline, q), (rline, ref) in zip(questions, references):
            where = f"{qpath}:{qline}"
            require_fields(q, [("question_id", (int, str)), ("image", str), ("text", str), ("category", str)], where)
            qid = str(q["question_id"])
            if qid in seen:
                raise HarnessError(f"{where}: duplicated question_id {q['question_id']!r}")
            seen.add(qid)
            if q["category"] not in CATEGORIES:
                raise HarnessError(f"{where}: unknown category {q['category']!r} (expected one of {CATEGORIES})")
            if q["image"] not in captions:
                raise HarnessError(f"{cpath}: no context for image {q['image']!r} (question_id {qid})")
            require_fields(ref, [("question_id", (int, str)), ("text", str)], f"{rpath}:{rline}")
            if str(ref["question_id"]) != qid:
                raise HarnessError(
                    f"{rpath}:{rline}: reference for question_id {ref['question_id']!r}, "
                    f"but line {qline} of {qpath} is question_id {qid}"
                )
            items.append(
                BenchItem(
                    id=qid,
                    image=data_dir / "images" / q["image"],
                    prompt=q["text"],
                    meta={
                        "question_id": q["question_id"],
                        "category": q["category"],
                        "image": q["image"],
                        "caption": captions[q["image"]],
                        "reference": ref["text"],
                        "reference_answer_id": ref.get("answer_id", ref["question_id"]),
                    },
                )
            )
        return items

    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """The model's answers JSONL (``model_vqa.py`` format): question_id, text, answer_id."""
        path = Path(path)
        known = {item.id for item in items}
        preds: dict[str, str] = {}
        for lineno, row in read_jsonl_numbered(path):
            where = f"{path}:{lineno}"
            require_fields(row, [("question_id", (int, str)), ("text", str)], where)
            if "answer_id" not in row:
                raise HarnessError(f"{where}: missing field 'answer_id' (the official scorer requires it)")
            qid = str(row["question_id"])
            if qid not in known:
                raise HarnessError(f"{where}: unknown question_id {row['question_id']!r}")
            if qid in preds:
                raise HarnessError(f"{where}: duplicated question_id {row['question_id']!r}")
            preds[qid] = row["text"]
        missing = [item.id for item in items if item.id not in preds]
        if missing:
            raise HarnessError(f"{path}: no answer for question_id {', '.join(missing)}")
        return preds

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        rows = []
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"{path}: no prediction for question_id {item.id}")
            text = predictions[item.id]
            answer_id = hashlib.sha256(f"{item.id}\0{text}".encode()).hexdigest()[:22]
            rows.append(
                {
                    "question_id": item.meta.get("question_id", item.id),
                    "prompt": item.prompt,
                    "text": text,
                    "answer_id": answer_id,
                    "model_id": "",
                    "metadata": {},
                }
            )
        write_jsonl(path, rows)

    # -- scoring ---------------------------------------------------------------------------

    def metrics_from_records(self, records: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The headline numbers of ``score`` recomputed from its per-item records (any subset or resample of
        them): each run's official relative scores from the reviews it answered, then their mean over runs.
        ``harness compare --judge A --judge B`` resamples records with it for the headline's interval."""
        runs = max((len(rec.get("runs") or ()) for rec in records), default=0)
        per_run = [
            run_metrics(
                [
                    (rec["category"], run["tuple"])
                    for rec in records
                    for run in rec["runs"]
                    if run.get("run") == r and run.get("tuple") is not None
                ]
            )
            for r in range(runs)
        ]
        return mean_and_std([m for m in per_run if m])[0]

    def judge_content(self, item: BenchItem, prediction: str) -> str:
        """The review request's user message for one item (official layout and rule)."""
        cap_str = caption_text(item.meta["caption"])
        rule = prompts.RULES["llava_bench_" + item.meta["category"]]
        return prompts.review_content(
            cap_str, item.prompt, item.meta["reference"], prediction, role=rule["role"], rule=rule["prompt"]
        )

    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None, *, runs: int = 1
    ) -> ScoreReport:
        judge = require_judge(judge, self.name)
        check_runs(runs, self.name)
        if not items:
            raise HarnessError(f"{self.name}: nothing to score (no items)")
        absent = [item.id for item in items if item.id not in predictions]
        if absent:
            raise HarnessError(f"{self.name}: no prediction for question_id {', '.join(absent)}")
        contents = [self.judge_content(item, predictions[item.id]) for item in items]
        requests = [
            JudgeRequest.chat(
                f"{self.name}/{item.id}",
                prompts.SYSTEM_PROMPT,
                content,
                temperature=self.judge_temperature,
                max_tokens=self.judge_max_tokens,
                run_index=r,
            )
            for r in range(runs)
            for item, content in zip(items, contents)
        ]
        replies = ask(judge, requests, self.name)

        records = [
            {
                "id": item.id,
                "question_id": item.meta.get("question_id", item.id),
                "category": item.meta["category"],
                "prediction": predictions[item.id],
                "runs": [],
            }
            for item in items
        ]
        per_run, excluded_runs, failures = [], [], []
        missing: list[dict[str, Any]] = []
        unparsed: list[str] = []
        n = len(items)
        for r in range(runs):
            official_pairs, parsed_pairs, n_failed = [], [], 0
            for i, item in enumerate(items):
                reply = replies[r * n + i]
                cat = item.meta["category"]
                never = reply_failure(reply)
                if never is not None:  # never answered: not scored, asked again on the next run
                    missing.append(missing_entry(item.id, r, never))
                    n_failed += 1
                    records[i]["runs"].append(
                        {"run": r, "tuple": None, "failure": never, "review": None, "judge_model": reply.model}
                    )
                    continue
                parsed = parse_review(reply.text or "")
                failure = None
                if parsed is None:
                    failure = UNPARSEABLE
                    unparsed.append(UNPARSEABLE)
                    n_failed += 1
                else:
                    parsed_pairs.append((cat, parsed))
                official_pairs.append((cat, parsed if parsed is not None else FAILED_TUPLE))
                records[i]["runs"].append(
                    {
                        "run": r,
                        "tuple": parsed if parsed is not None else FAILED_TUPLE,
                        "failure": failure,
                        "review": reply.text,
                        "judge_model": reply.model,
                    }
                )
            per_run.append(run_metrics(official_pairs))
            excluded_runs.append(run_metrics(parsed_pairs))
            failures.append(n_failed)
        for record in records:  # the model's official score per item, mean over the runs that answered
            answered = [run["tuple"][1] for run in record["runs"] if run["tuple"] is not None]
            record["score"] = sum(answered) / len(answered) if answered else None

        metrics, std = mean_and_std(per_run)
        excluded, _ = mean_and_std(excluded_runs)
        official = dict(metrics)
        official.update(with_run_suffix([_printed(m) for m in per_run]))
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
    return [LlavaWild]
