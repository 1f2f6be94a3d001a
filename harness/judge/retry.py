"""Retry policy of the judge client: which failures are retried, and how long to wait.

Retried: HTTP 408, 409, 429 and 5xx, timeouts, connection errors, and answers the client cannot
read (a body that is not JSON, or a completion without ``choices``/message content).
Not retried: other 4xx (bad request, bad key, unknown model); 401/403/404 are *fatal*: the same
error would hit every request, so the client stops sending and reports it once per request.
A 404 that says the model does not exist (OpenAI's ``model_not_found`` code, or vLLM's "The model
`x` does not exist.") is marked ``model_not_found``: the client turns it into one error naming the
model (``JudgeModelNotFound``) instead of a failed judgement per request.

Waits are exponential with jitter (``base * 2**attempt``, scaled by a random factor in
[0.5, 1], capped at ``max_delay_s``); a server's ``Retry-After`` / ``retry-after-ms`` header
replaces the computed wait (capped at ``max_retry_after_s``).
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import openai

RETRYABLE_STATUS = frozenset({408, 409, 429})
FATAL_STATUS = frozenset({401, 403, 404})


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt cap and backoff parameters (seconds)."""

    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        backoff = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return backoff * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Failure:
    """A classified failure of one attempt."""

    reason: str
    retryable: bool
    fatal: bool = False
    retry_after: float | None = None
    model_not_found: bool = False


class MalformedReply(Exception):
    """The server answered 200 but not with a usable chat completion."""


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date); else None."""
    if not headers:
        return None
    lower = {str(k).lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lower.get(name)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return max(0.0, parsed.timestamp() - (time.time() if now is None else now))
    return None


def classify(exc: BaseException) -> Failure:
    """Map an exception raised by one chat-completions attempt to a ``Failure``."""
    if isinstance(exc, openai.APITimeoutError):
        return Failure("timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return Failure(f"connection error: {exc}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = _short(getattr(exc, "message", "") or str(exc))
        reason = f"HTTP {status}: {message}"
        headers = getattr(exc.response, "headers", None)
        retry_after = parse_retry_after(headers)
        if status in RETRYABLE_STATUS or status >= 500:
            return Failure(reason, retryable=True, retry_after=retry_after)
        return Failure(
            reason,
            retryable=False,
            fatal=status in FATAL_STATUS,
            model_not_found=status == 404 and _says_model_not_found(exc),
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return Failure(f"malformed response: {_short(str(exc))}", retryable=True)
    if isinstance(exc, (MalformedReply, ValueError)):  # JSONDecodeError is a ValueError
        return Failure(f"malformed response: {_short(str(exc))}", retryable=True)
    if isinstance(exc, openai.APIError):
        return Failure(f"API error: {_short(str(exc))}", retryable=True)
    raise exc


_MODEL_MISSING = re.compile(r"model\b.*\b(does not exist|not found|not exist)", re.IGNORECASE | re.DOTALL)


def _says_model_not_found(exc: openai.APIStatusError) -> bool:
    """True when a 404 names a missing model (code ``model_not_found``, or such a message)."""
    if getattr(exc, "code", None) == "model_not_found":
        return True
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if inner.get("code") == "model_not_found":
            return True
    return bool(_MODEL_MISSING.search(getattr(exc, "message", "") or str(exc)))


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
