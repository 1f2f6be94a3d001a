"""The judge contract shared by the judge client (harness/judge/client.py) and the benchmarks.

A benchmark builds ``JudgeRequest`` objects, hands them to any object with the ``Judge``
protocol, and parses the ``JudgeReply`` texts itself. Two kinds of failure are kept apart:

- a reply whose call failed (network error, refusal, budget exhausted, after the retries) carries
  ``error`` and no text: the judgement was *never answered*; it is never turned into a score,
  never cached, and asked again on the next run;
- a reply with text that the benchmark's official parser rejects was *answered*: it is scored
  exactly as the official script scores it, and counted.

``JudgeRequest.max_tokens`` None means the official script sends no ``max_tokens``: the client then
omits the parameter from the request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from harness.errors import HarnessError
from harness.judge.retired import retired_advice

DEFAULT_JUDGE_MODEL = "gpt-4-1106-preview"  # the judge of the protocol the built-in benchmarks follow


class JudgeModelNotFound(HarnessError):
    """The server does not know the judge model (HTTP 404 model_not_found): one error, no scores.

    Raised by the judge client after its probe request; a benchmark re-raises it with its name
    (``for_benchmark``) so the message names both the model and the benchmark.
    """

    def __init__(self, model: str, endpoint: str, detail: str, benchmark: str | None = None) -> None:
        self.model, self.endpoint, self.detail, self.benchmark = model, endpoint, detail, benchmark
        where = f"benchmark {benchmark!r}: " if benchmark else ""
        retired = retired_advice(model)
        what = (
            f". {retired}"
            if retired
            else ". Pass --judge-model with a model the server has (docs/judge.md lists each protocol's documented "
            "substitutes; the substitution is recorded with the results)"
        )
        super().__init__(
            f"{where}judge model {model!r} is not available at {endpoint} ({detail}); no further judge calls were "
            f"made{what}"
        )

    def for_benchmark(self, benchmark: str) -> JudgeModelNotFound:
        """The same error, naming the benchmark that asked."""
        return JudgeModelNotFound(self.model, self.endpoint, self.detail, benchmark)


@dataclass(frozen=True)
class JudgeRequest:
    """One chat-completions call.

    ``key`` identifies the item and purpose inside a benchmark (e.g. ``"v1_12"`` or
    ``"bench/417/extract"``); ``run_index`` is the judge run (0..k-1) and is part of the
    request's identity, so three runs are three distinct cached calls.
    """

    key: str
    messages: tuple[tuple[str, str], ...]  # ((role, content), ...)
    temperature: float
    max_tokens: int | None  # None: the parameter is not sent (the official script sends none)
    run_index: int = 0
    attempt: int = 0  # benchmark-level retry (e.g. a rising-temperature retry rule)

    @staticmethod
    def chat(
        key: str,
        system: str | None,
        user: str,
        *,
        temperature: float,
        max_tokens: int | None,
        run_index: int = 0,
        attempt: int = 0,
    ) -> JudgeRequest:
        msgs = ((("system", system),) if system is not None else ()) + (("user", user),)
        return JudgeRequest(key, msgs, temperature, max_tokens, run_index, attempt)

    def openai_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def cache_key(self, model: str) -> str:
        """Stable identity: (judge model, messages, decoding params, run index, attempt)."""
        blob = json.dumps(
            {
                "model": model,
                "messages": self.messages,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "run_index": self.run_index,
                "attempt": self.attempt,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        # surrogatepass: a prediction read from JSON may hold a lone surrogate (a \ud800 escape).
        return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class JudgeReply:
    request: JudgeRequest
    text: str | None
    error: str | None = None
    model: str | None = None  # the model string the server returned
    system_fingerprint: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@runtime_checkable
class Judge(Protocol):
    """Anything that answers judge requests: the OpenAI client, or recorded answers in tests."""

    model: str

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        """Answer every request, in order. Failed calls come back with ``error`` set."""
        ...
