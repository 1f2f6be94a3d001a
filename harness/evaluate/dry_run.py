"""`harness eval --dry-run`: items, generations and judge calls counted with a recording judge; nothing
loaded, generated, called or written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.benchmark import BenchItem, Benchmark
from harness.errors import HarnessError
from harness.judge.pricing import CostEstimate
from harness.judge.types import JudgeReply, JudgeRequest


@dataclass
class DryRunReport:
    """What ``evaluate(dry_run=True)`` would do: items to generate and the judge calls it would pay for.

    ``exact``: the judge requests were built from the given predictions; otherwise from empty
    answers (the number of calls is right for one request per item and run; prompt tokens are a
    lower bound since answers are not known yet).
    """

    benchmark: str
    model: str
    items: int
    to_generate: int
    judge_runs: int
    estimate: CostEstimate | None
    exact: bool

    def describe(self) -> str:
        todo = (
            f"{self.to_generate} answers to generate" if self.to_generate else "predictions given, nothing to generate"
        )
        lines = [f"{self.benchmark}: {self.items} items for {self.model}; {todo}"]
        if self.estimate is None:
            lines.append("no judge: rule-based scoring, no calls, no cost")
        else:
            how = "from the predictions" if self.exact else "before generation (prompt tokens a lower bound)"
            lines.append(f"{self.estimate.describe()}; {self.judge_runs} run(s), estimated {how}")
        return "\n".join(lines)


class _RecordingJudge:
    """Collects the requests a benchmark would send and answers none of them (dry run)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.requests: list[JudgeRequest] = []

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        self.requests.extend(requests)
        return [JudgeReply(r, None, error="dry run: not sent") for r in requests]


def dry_run_report(
    bench: Benchmark, judge, items: list[BenchItem], predictions: dict[str, str] | None, runs: int, model_id: str
) -> DryRunReport:
    estimate = None
    exact = predictions is not None
    if judge is not None:
        recorder = _RecordingJudge(judge.model)
        answers = predictions if predictions is not None else {item.id: "" for item in items}
        try:
            bench.score(items, answers, recorder, runs=runs)
            first_calls = [r for r in recorder.requests if r.attempt == 0]  # retries only follow failures
        except HarnessError:
            first_calls = []
        if not first_calls:  # the scorer builds no request without answers: one per item and run
            exact = False
            first_calls = [
                JudgeRequest.chat(
                    f"{bench.name}/{item.id}", None, item.prompt, temperature=0.0, max_tokens=1024, run_index=r
                )
                for r in range(runs)
                for item in items
            ]
        estimate = judge.estimate(first_calls)
    return DryRunReport(
        benchmark=bench.name,
        model=model_id,
        items=len(items),
        to_generate=0 if predictions is not None else len(items),
        judge_runs=runs,
        estimate=estimate,
        exact=exact,
    )


# ------------------------------------------------------------------------------------ evaluate
