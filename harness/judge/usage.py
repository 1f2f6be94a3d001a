"""Usage and cost totals of the judge, as stored in results.json (``judge_usage``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from harness.judge.types import JudgeReply


@dataclass
class JudgeUsage:
    """Totals over the replies added to it.

    ``calls``: answers received from the server in this session; ``cached_calls``: answers
    served from the cache; ``failed_calls``: requests that ended without an answer (after
    retries, fatal errors, or budget); ``attempts``: HTTP requests sent, retries included.
    ``cost_usd`` counts what was spent now; ``cost_usd_incl_cached`` adds what the cached
    answers cost when they were made (the price of the evaluation from scratch).
    """

    judge_model: str = ""
    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_usd_incl_cached: float = 0.0
    priced: bool = True
    models: set[str] = field(default_factory=set)
    system_fingerprints: set[str] = field(default_factory=set)
    failed_by_run: Counter = field(default_factory=Counter)
    failure_reasons: Counter = field(default_factory=Counter)

    def add(self, reply: JudgeReply, cost: float | None, attempts: int = 0) -> None:
        """Account one reply; ``cost`` is its price in USD (None: unpriced model)."""
        self.attempts += attempts
        if not reply.ok:
            self.failed_calls += 1
            self.failed_by_run[f"run{reply.request.run_index}"] += 1
            self.failure_reasons[_reason_kind(reply.error or "no text")] += 1
            return
        if reply.cached:
            self.cached_calls += 1
        else:
            self.calls += 1
            self.prompt_tokens += reply.prompt_tokens
            self.completion_tokens += reply.completion_tokens
            self.cost_usd += cost or 0.0
        self.cost_usd_incl_cached += cost or 0.0
        if cost is None:
            self.priced = False
        if reply.model:
            self.models.add(reply.model)
        if reply.system_fingerprint:
            self.system_fingerprints.add(reply.system_fingerprint)

    def to_dict(self) -> dict:
        """A JSON-ready dict (sorted lists, rounded dollars; None cost when unpriced)."""
        return {
            "judge_model": self.judge_model,
            "calls": self.calls,
            "cached_calls": self.cached_calls,
            "failed_calls": self.failed_calls,
            "attempts": self.attempts,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6) if self.priced else None,
            "cost_usd_incl_cached": round(self.cost_usd_incl_cached, 6) if self.priced else None,
            "models": sorted(self.models),
            "system_fingerprints": sorted(self.system_fingerprints),
            "failed_by_run": dict(sorted(self.failed_by_run.items())),
            "failure_reasons": dict(sorted(self.failure_reasons.items())),
        }


def _reason_kind(error: str) -> str:
    """A short bucket for a failure reason ("HTTP 500", "timeout", "budget exhausted", …)."""
    cut = len(error)
    for sep in (":", " (", " after "):
        index = error.find(sep)
        if index > 0:
            cut = min(cut, index)
    return error[:cut].strip()
