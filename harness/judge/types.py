"""The judge contract shared by the judge client (harness/judge/client.py) and the benchmarks.

A benchmark builds ``JudgeRequest`` objects, hands them to any object with the ``Judge``
protocol, and parses the ``JudgeReply`` texts itself. A reply whose call failed carries
``error`` and no text; a reply whose text the benchmark's parser rejects is marked failed by the
benchmark. Neither ever becomes a score.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class JudgeRequest:
    """One chat-completions call.

    ``key`` identifies the item and purpose inside a benchmark (e.g. ``"v1_12"`` or
    ``"mmbench/417/extract"``); ``run_index`` is the judge run (0..k-1) and is part of the
    request's identity, so three runs are three distinct cached calls.
    """

    key: str
    messages: tuple[tuple[str, str], ...]  # ((role, content), ...)
    temperature: float
    max_tokens: int
    run_index: int = 0
    attempt: int = 0  # benchmark-level retry (e.g. MM-Vet's rising-temperature rule)

    @staticmethod
    def chat(key: str, system: str | None, user: str, *, temperature: float, max_tokens: int,
             run_index: int = 0, attempt: int = 0) -> "JudgeRequest":
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
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


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
