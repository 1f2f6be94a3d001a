"""MMBench CircularEval: grouping the rotated copies, the per-group decision, and the scores.

Reproduces ``mcq_circular_eval`` / ``prefetch_circular_group`` / ``eval_circular_group`` of
open-compass/VLMEvalKit ``vlmeval/dataset/utils/multiple_choice.py`` (2024 behaviour, snapshot f628ed15d66e):

* a row with index ``k * 1_000_000 + i`` is the k-th rotated copy of main question ``i``;
* every row of a group is first matched by the rules; any rule letter that differs from the
  row's answer fails the group at once (no judge call); if every row matched and all equal the
  answer the group passes;
* otherwise the unmatched rows go to the judge one by one, in index order: up to 3 attempts
  each, the reply parsed by the same rules; the first wrong letter fails the group.

After 3 attempts whose answers the rules cannot read, the official code draws a random letter
among the valid options and "Z" (unseeded in VLMEvalKit); here the draw is seeded per (seed, run,
row index), so a rerun gives the same number, and the group's hit follows the drawn letter as
there. A judge call that was never answered (it failed after the client's retries) is not an
attempt: the group is left undecided in that run (status ``missing``) and is not scored; the
answered attempts are cached, so a rerun continues where it stopped. Without a judge, a group that
needs one is scored 0, as VLMEvalKit's ``exact_matching`` policy scores it.

Judge calls are batched in waves across groups (and runs): each group is a generator that
yields its next request, so the decisions and early exits are exactly the sequential ones.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.mmbench.extract import infer, judge_prompt
from harness.errors import HarnessError
from harness.judge.types import Judge, JudgeModelNotFound, JudgeReply, JudgeRequest

COPY_STRIDE = 1_000_000
JUDGE_ATTEMPTS = 3  # VLMEvalKit: ``retry = 3`` in extract_answer_from_item
JUDGE_TEMPERATURE = 0.0  # VLMEvalKit OpenAI wrapper default
# What VLMEvalKit's MCQ evaluation sends the extractor at f628ed15d66e (2024-11-29): run.py's judge_kwargs set
# no max_tokens, so vlmeval/api/gpt.py OpenAIWrapper's default 1024 applies (2048 since 43af13e0, 2025-02-20)
JUDGE_MAX_TOKENS = 1024
DEFAULT_RANDOM_SEED = 0  # seed of the official random-letter fallback (unseeded in VLMEvalKit)


def main_index(index: int) -> int:
    """The main question a row belongs to (``g_index = index % 1e6``)."""
    return index % COPY_STRIDE


@dataclass(frozen=True)
class Row:
    """One TSV row with its prediction, as the scorer sees it."""

    index: int
    answer: str  # ground-truth letter of this (possibly rotated) row
    question: str
    choices: Mapping[str, str]  # valid letters (non-NaN options, in order) -> option text
    prediction: str
    category: str = ""
    l2_category: str = ""


@dataclass
class GroupResult:
    """The outcome of one main question in one judge run.

    ``hit``: 1/0 as the official scorer decides it (a random letter after 3 unreadable answers
    included); None when a judge call was never answered (status ``missing``): not scored.
    ``status``: rule_hit | rule_miss | judge_hit | judge_miss | random_hit | random_miss |
    no_judge | missing. ``unparsed``: the kind of each answered-but-unreadable extractor reply.
    """

    g_index: int
    hit: int | None
    status: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    missing_reason: str | None = None

    @property
    def missing(self) -> bool:
        return self.status == "missing"

    @property
    def guessed(self) -> bool:
        """Decided by the official random letter (left out of the ``excluded`` figure)."""
        return self.status.startswith("random")


def group_rows(rows: Sequence[Row], source: str = "predictions") -> list[list[Row]]:
    """Rows grouped by main question, groups in main-index order, each sorted by index.

    A rotated copy whose main row is absent is an error naming ``source`` and the index.
    """
    groups: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        groups[main_index(row.index)].append(row)
    out = []
    for g_index in sorted(groups):
        members = sorted(groups[g_index], key=lambda r: r.index)
        if members[0].index != g_index:
            raise HarnessError(f"{source}: circular copy {members[0].index} has no main question {g_index}")
        out.append(members)
    return out


class _NeverAnswered(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _extract_row(
    row: Row, run_index: int, record: dict[str, Any], result: GroupResult
) -> Generator[JudgeRequest, JudgeReply, str | None]:
    """Ask the judge up to 3 times for one row; the extracted letter, or None if no answer was readable.

    Raises ``_NeverAnswered`` when a call failed (no answer came back).
    """
    prompt = judge_prompt(row.question, row.choices, row.prediction)
    for attempt in range(JUDGE_ATTEMPTS):
        request = JudgeRequest.chat(
            f"mmbench/{row.index}/extract",
            None,
            prompt,
            temperature=JUDGE_TEMPERATURE,
            max_tokens=JUDGE_MAX_TOKENS,
            run_index=run_index,
            attempt=attempt,
        )
        reply = yield request
        entry: dict[str, Any] = {"attempt": attempt, "text": reply.text, "error": reply.error, "model": reply.model}
        record["judge"].append(entry)
        if not reply.ok:
            entry["outcome"] = "never_answered"
            raise _NeverAnswered(f"judge_error: {reply.error or 'no text'}")
        letter, rule = infer(reply.text, row.choices)  # the marker text reads as no letter, as there
        entry["outcome"] = rule
        if letter is not None:
            return letter
        result.unparsed.append(rule)
    return None


def evaluate_group(
    rows: Sequence[Row], run_index: int, *, has_judge: bool, random_seed: int = DEFAULT_RANDOM_SEED
) -> Generator[JudgeRequest, JudgeReply, GroupResult]:
    """CircularEval of one main question: yields judge requests, returns the GroupResult."""
    result = GroupResult(g_index=rows[0].index, hit=0, status="")
    prefetched: list[str | None] = []
    for row in rows:
        letter, rule = infer(row.prediction, row.choices)
        result.rows.append(
            {
                "index": row.index,
                "answer": row.answer,
                "prediction": row.prediction,
                "rule": rule,
                "extracted": letter,
                "source": "rule" if letter is not None else None,
                "judge": [],
            }
        )
        prefetched.append(letter)
        if letter is not None and letter != row.answer:
            result.status = "rule_miss"
            return result
    if all(letter is not None for letter in prefetched):
        result.hit, result.status = 1, "rule_hit"
        return result
    if not has_judge:
        result.status = "no_judge"
        return result

    guessed = False
    for row, letter, record in zip(rows, prefetched, result.rows):
        if letter is not None:
            continue
        try:
            letter = yield from _extract_row(row, run_index, record, result)
        except _NeverAnswered as never:
            result.hit, result.status, result.missing_reason = None, "missing", never.reason
            return result
        if letter is None:  # the official fallback: a random letter among the options and Z
            rng = random.Random(f"mmbench/{random_seed}/{run_index}/{row.index}")
            letter = rng.choice([*row.choices, "Z"])
            guessed = True
            record["source"] = "random"
        else:
            record["source"] = "judge"
        record["extracted"] = letter
        if letter != row.answer:
            result.status = "random_miss" if guessed else "judge_miss"
            return result
    result.hit, result.status = 1, "random_hit" if guessed else "judge_hit"
    return result


def run_circular(
    groups: Sequence[Sequence[Row]], judge: Judge | None, runs: int, random_seed: int = DEFAULT_RANDOM_SEED
) -> list[list[GroupResult]]:
    """Evaluate every group in every judge run; results[run][group].

    Requests are sent in waves: each wave holds the next request of every group still waiting.
    """
    if runs < 1:
        raise HarnessError(f"mmbench: runs must be at least 1, got {runs}")
    results: list[list[GroupResult | None]] = [[None] * len(groups) for _ in range(runs)]
    pending: list[tuple[int, int, Generator[JudgeRequest, JudgeReply, GroupResult], JudgeRequest]] = []
    for run in range(runs):
        for gi, rows in enumerate(groups):
            gen = evaluate_group(rows, run, has_judge=judge is not None, random_seed=random_seed)
            try:
                pending.append((run, gi, gen, next(gen)))
            except StopIteration as stop:
                results[run][gi] = stop.value
    while pending:
        assert judge is not None  # a generator only yields when a judge is available
        try:
            replies = judge.judge([request for *_, request in pending])
        except JudgeModelNotFound as exc:
            raise exc.for_benchmark("mmbench") from None
        if len(replies) != len(pending):
            raise HarnessError(
                f"judge {getattr(judge, 'model', '?')}: {len(replies)} replies for {len(pending)} requests"
            )
        waiting = []
        for (run, gi, gen, request), reply in zip(pending, replies):
            if reply.request.key != request.key:
                raise HarnessError(
                    f"judge {getattr(judge, 'model', '?')}: reply for {reply.request.key!r} "
                    f"where {request.key!r} was asked"
                )
            try:
                waiting.append((run, gi, gen, gen.send(reply)))
            except StopIteration as stop:
                results[run][gi] = stop.value
        pending = waiting
    return [[r for r in per_run if r is not None] for per_run in results]


def accuracy(groups: Sequence[Sequence[Row]], hits: Sequence[int]) -> dict[str, float]:
    """Overall, per ``l2-category`` and per ``category`` accuracy (×100) over main questions.

    As VLMEvalKit ``report_acc``: the mean hit of the main questions in each group of questions.
    Keys: ``overall``, ``l2-category/<name>``, ``category/<name>``.
    """
    if not groups:
        raise HarnessError("mmbench: nothing to score (no items)")
    by_l2: dict[str, list[int]] = defaultdict(list)
    by_cat: dict[str, list[int]] = defaultdict(list)
    for rows, hit in zip(groups, hits, strict=True):
        by_l2[rows[0].l2_category].append(hit)
        by_cat[rows[0].category].append(hit)
    metrics = {"overall": 100.0 * sum(hits) / len(hits)}
    for prefix, table in (("l2-category", by_l2), ("category", by_cat)):
        for name in sorted(table):
            values = table[name]
            metrics[f"{prefix}/{name}"] = 100.0 * sum(values) / len(values)
    return metrics


def mean_and_std(per_run: Sequence[Mapping[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and population std of each metric over the runs that have it (a run whose groups of a
    category were all missing has no number for it)."""
    keys: list[str] = []
    for run in per_run:
        keys.extend(k for k in run if k not in keys)
    mean = {k: statistics.fmean(run[k] for run in per_run if k in run) for k in keys}
    std = {k: statistics.pstdev([run[k] for run in per_run if k in run]) for k in keys}
    return mean, std
