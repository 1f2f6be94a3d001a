"""The judge client: any OpenAI-compatible chat-completions server, through ``openai.AsyncOpenAI``.

``OpenAIJudge.judge(requests)`` answers every ``JudgeRequest`` in order (the ``Judge``
protocol of harness/judge/types.py). Inside, it

- serves what it can from the persistent cache (harness/judge/cache.py) and sends nothing for it;
- sends each remaining distinct request once, at most ``concurrency`` at a time;
- retries 429/5xx/timeouts/connection errors/unreadable answers with exponential backoff and
  jitter, honouring ``Retry-After``, up to ``max_attempts`` (harness/judge/retry.py; the openai
  package's own retries are off so that this policy is the one in force);
- stops before ``max_cost_usd`` would be passed: each call reserves its worst-case cost
  (estimated prompt + ``max_tokens`` completion) before it is sent;
- returns a failed reply (``error`` set, ``text`` None) for every request it could not answer,
  with the reason; it never invents an answer, and raises for a server's failure only in the
  unknown-model case below;
- until the server has answered once, sends the first request alone (a probe): a judge model the
  server does not know (HTTP 404 ``model_not_found``, e.g. a retired gpt-4-0314) raises one
  ``JudgeModelNotFound`` naming the model before any other call is spent;
- sends ``max_tokens`` only when the request has one (None: omitted, as some official scripts do);
- reads the answer body leniently: bytes that are not UTF-8 become U+FFFD (as the ``requests``
  library under the official openai<1 scripts decodes them), so an odd answer is still an answer
  for the benchmark's parser to accept or reject, never a crash.

The API key is read from ``OPENAI_API_KEY`` when a judgement starts, handed to the client, and
never stored, logged or written (error texts are scrubbed of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import openai

from harness.errors import HarnessError
from harness.faults import maybe_kill
from harness.judge.cache import CACHE_FILENAME, JudgeCache, default_cache_dir
from harness.judge.pricing import (
    CostEstimate,
    Price,
    completion_bound,
    cost_usd,
    estimate_cost,
    estimate_prompt_tokens,
    price_for,
)
from harness.judge.retry import Failure, MalformedReply, RetryPolicy, classify
from harness.judge.types import DEFAULT_JUDGE_MODEL, JudgeModelNotFound, JudgeReply, JudgeRequest
from harness.judge.usage import JudgeUsage

PLACEHOLDER_KEY = "EMPTY"  # sent to a keyless local server (vLLM's documented convention)
BUDGET_EXHAUSTED = "budget exhausted"

__all__ = [
    "DEFAULT_JUDGE_MODEL",
    "JudgeModelNotFound",
    "OpenAIJudge",
    "check_credentials",
    "estimate_cost",
    "resolve_base_url",
]


def resolve_base_url(base_url: str | None = None) -> str | None:
    """The server to call: the option, else ``OPENAI_BASE_URL``, else None (api.openai.com)."""
    return base_url or os.environ.get("OPENAI_BASE_URL") or None


def check_credentials(base_url: str | None = None) -> None:
    """Raise ``HarnessError`` when there is neither an API key nor a server to call.

    Call it before any work (generation, loading) so that a missing key fails in a second.
    """
    if not os.environ.get("OPENAI_API_KEY") and not resolve_base_url(base_url):
        raise HarnessError(
            "judge: no credentials: set the OPENAI_API_KEY environment variable, or point "
            "--judge-base-url (or OPENAI_BASE_URL) at an OpenAI-compatible server such as "
            "`vllm serve` (see docs/judge.md)"
        )


def public_endpoint(base_url: str | None) -> str:
    """The base URL without user info, query or fragment (safe to store)."""
    if not base_url:
        return "https://api.openai.com/v1"
    parts = urllib.parse.urlsplit(base_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass
class _Outcome:
    reply: JudgeReply
    cost: float | None
    attempts: int
    model_not_found: str | None = None  # the server's reason, when it does not know the model


class OpenAIJudge:
    """A ``Judge`` backed by an OpenAI-compatible server (OpenAI, Azure-compatible proxies, vLLM).

    Options mirror the CLI: ``model`` (--judge-model), ``base_url`` (--judge-base-url, else
    OPENAI_BASE_URL), ``concurrency`` (--judge-concurrency), ``use_cache`` (--no-judge-cache),
    ``cache_dir`` (default: the platformdirs user cache, see ``default_cache_dir``),
    ``max_cost_usd`` (--max-cost). ``prices`` overrides the price table (USD per 1M tokens).
    ``progress(done, total)`` is called after each answered request of a ``judge`` call.
    Usage accumulates over all calls in ``usage`` (see ``usage_dict`` and ``track``).
    """

    def __init__(
        self,
        model: str = DEFAULT_JUDGE_MODEL,
        base_url: str | None = None,
        *,
        concurrency: int = 16,
        cache_dir: Path | None = None,
        use_cache: bool = True,
        max_cost_usd: float | None = None,
        timeout_s: float = 120.0,
        max_attempts: int = 6,
        base_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
        prices: Mapping[str, Price] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if not model:
            raise HarnessError("--judge-model: empty model name")
        if concurrency < 1:
            raise HarnessError(f"--judge-concurrency: must be ≥ 1, got {concurrency}")
        if max_attempts < 1:
            raise HarnessError(f"judge max_attempts: must be ≥ 1, got {max_attempts}")
        if timeout_s <= 0:
            raise HarnessError(f"judge timeout: must be > 0 seconds, got {timeout_s}")
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.use_cache = use_cache
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.timeout_s = timeout_s
        self.retry = RetryPolicy(max_attempts=max_attempts, base_delay_s=base_delay_s, max_delay_s=max_delay_s)
        self._prices = dict(prices) if prices else None
        self.price = price_for(model, prices)
        if max_cost_usd is not None:
            if max_cost_usd < 0:
                raise HarnessError(f"--max-cost: must be ≥ 0, got {max_cost_usd}")
            if self.price is None:
                raise HarnessError(
                    f"--max-cost: no price known for judge model {model!r}, so a budget "
                    "cannot be enforced; give its price or drop --max-cost"
                )
        self.max_cost_usd = max_cost_usd
        self.progress = progress
        self.usage = JudgeUsage(judge_model=model)
        self._trackers: list[JudgeUsage] = []
        self._spent_usd = 0.0  # actual cost of calls made by this judge (budget accounting)
        self._reserved_usd = 0.0  # worst-case cost of calls in flight
        self._budget_exhausted = False
        self._fatal: str | None = None
        self._answered_once = False  # a probe is sent alone until the server has answered once
        self._answers_stored = 0  # answers written to the cache by this judge (a crash point counts them)

    # ----------------------------------------------------------------- public API
    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        """Answer every request, in order; failures come back as replies with ``error`` set."""
        requests = list(requests)
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.judge_async(requests))
        # Called from inside an event loop (a notebook, an async caller): run in a worker thread.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.judge_async(requests)).result()

    def resolved_cache_dir(self) -> Path:
        """Where the cache lives (computed now, not at import)."""
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()

    def estimate(self, requests: Sequence[JudgeRequest]) -> CostEstimate:
        """The --dry-run estimate for ``requests``, counting cached answers as free. Sends nothing."""
        cached: set[str] = set()
        if self.use_cache and (self.resolved_cache_dir() / CACHE_FILENAME).exists():
            with JudgeCache(self.resolved_cache_dir()) as cache:
                cached = set(cache.get_many(r.cache_key(self.model) for r in requests))
        return estimate_cost(requests, self.model, prices=self._prices, cached_keys=cached)

    def usage_dict(self) -> dict:
        """Totals of every call so far, for results.json."""
        return {**self.usage.to_dict(), "endpoint": public_endpoint(resolve_base_url(self.base_url))}

    @contextlib.contextmanager
    def track(self) -> Iterator[JudgeUsage]:
        """Collect the usage of the calls made inside the ``with`` block (e.g. one benchmark)."""
        tracker = JudgeUsage(judge_model=self.model)
        self._trackers.append(tracker)
        try:
            yield tracker
        finally:
            self._trackers.remove(tracker)

    # ----------------------------------------------------------------- internals
    async def judge_async(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        """The asynchronous core of ``judge``."""
        check_credentials(self.base_url)
        base_url = resolve_base_url(self.base_url)
        api_key = os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_KEY
        keys = [r.cache_key(self.model) for r in requests]
        replies: list[JudgeReply | None] = [None] * len(requests)
        cache = JudgeCache(self.resolved_cache_dir()) if self.use_cache else None
        done = 0
        try:
            hits = cache.get_many(keys) if cache else {}
            for i, (request, key) in enumerate(zip(requests, keys)):
                if key in hits:
                    row = hits[key]
                    replies[i] = JudgeReply(
                        request,
                        row["text"],
                        model=row["model"],
                        system_fingerprint=row["system_fingerprint"],
                        prompt_tokens=row["prompt_tokens"],
                        completion_tokens=row["completion_tokens"],
                        cached=True,
                    )
                    self._account(replies[i], cost_usd(self.price, row["prompt_tokens"], row["completion_tokens"]), 0)
                    done += 1
            self._report(done, len(requests))
            pending: dict[str, list[int]] = {}
            for i, key in enumerate(keys):
                if replies[i] is None:
                    pending.setdefault(key, []).append(i)
            if pending:
                client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=self.timeout_s)
                semaphore = asyncio.Semaphore(self.concurrency)
                rng = random.Random()
                not_found: str | None = None
                try:

                    async def answer(key: str) -> tuple[str, _Outcome]:
                        request = requests[pending[key][0]]
                        return key, await self._answer(client, semaphore, rng, request, key, cache, api_key)

                    def settle(key: str, outcome: _Outcome) -> None:
                        nonlocal done
                        first, *dups = pending[key]
                        replies[first] = outcome.reply
                        self._account(outcome.reply, outcome.cost, outcome.attempts)
                        for j in dups:  # an identical request in the same batch: answered once
                            replies[j] = replace(
                                outcome.reply,
                                request=requests[j],
                                cached=outcome.reply.ok,
                                extra={"same_as_request": first},
                            )
                            self._account(replies[j], outcome.cost, 0)
                        done += 1 + len(dups)
                        self._report(done, len(requests))

                    keys_left = list(pending)
                    if not self._answered_once:  # probe: one request alone before spending on the rest
                        probe_key = keys_left.pop(0)
                        _, outcome = await answer(probe_key)
                        settle(probe_key, outcome)
                        not_found = outcome.model_not_found
                    if not_found is None:
                        for next_done in asyncio.as_completed([answer(key) for key in keys_left]):
                            key, outcome = await next_done
                            settle(key, outcome)
                            not_found = not_found or outcome.model_not_found
                finally:
                    await client.close()
                if not_found is not None:
                    raise JudgeModelNotFound(self.model, public_endpoint(base_url), not_found)
        finally:
            if cache is not None:
                cache.close()
        return [r for r in replies if r is not None]

    async def _answer(
        self,
        client: openai.AsyncOpenAI,
        semaphore: asyncio.Semaphore,
        rng: random.Random,
        request: JudgeRequest,
        key: str,
        cache: JudgeCache | None,
        api_key: str,
    ) -> _Outcome:
        """One request through its retries; never raises for a server's failure."""
        worst = cost_usd(self.price, estimate_prompt_tokens(request), completion_bound(request)) or 0.0
        failure: Failure | None = None
        attempts = 0
        for attempt in range(self.retry.max_attempts):
            async with semaphore:
                if self._fatal:
                    return self._failed(request, f"not sent: {self._fatal}", attempts)
                if self.max_cost_usd is not None:
                    if self._budget_exhausted or self._spent_usd + self._reserved_usd + worst > self.max_cost_usd:
                        self._budget_exhausted = True
                        return self._failed(request, BUDGET_EXHAUSTED, attempts)
                    self._reserved_usd += worst
                attempts += 1
                started = time.monotonic()
                params: dict = {
                    "model": self.model,
                    "messages": request.openai_messages(),
                    "temperature": request.temperature,
                }
                if request.max_tokens is not None:  # None: the official call sends no max_tokens
                    params["max_tokens"] = request.max_tokens
                try:
                    raw = await client.chat.completions.with_raw_response.create(**params)
                    text, usage, response = _read_completion(raw.http_response.content)
                except Exception as exc:  # classified below; unknown exceptions re-raise
                    failure = classify(exc)
                else:
                    failure = None
                finally:
                    if self.max_cost_usd is not None:
                        self._reserved_usd -= worst
            if failure is None:
                prompt_tokens, completion_tokens = usage
                cost = cost_usd(self.price, prompt_tokens, completion_tokens)
                self._spent_usd += cost or 0.0
                self._answered_once = True
                reply = JudgeReply(
                    request,
                    text,
                    model=_str_or_none(response.get("model")),
                    system_fingerprint=_str_or_none(response.get("system_fingerprint")),
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    extra={"attempts": attempts, "latency_s": round(time.monotonic() - started, 3), "cost_usd": cost},
                )
                if cache is not None:
                    cache.put(
                        key,
                        self.model,
                        _request_record(request),
                        text,
                        reply.model,
                        reply.system_fingerprint,
                        prompt_tokens,
                        completion_tokens,
                    )
                    self._answers_stored += 1
                    maybe_kill(f"judge-answer-{self._answers_stored}")  # resume tests: killed with answers cached
                return _Outcome(reply, cost, attempts)
            if failure.fatal:
                self._fatal = _scrub(failure.reason, api_key)
            if not failure.retryable:
                outcome = self._failed(request, _scrub(failure.reason, api_key), attempts)
                if failure.model_not_found:
                    outcome.model_not_found = _scrub(failure.reason, api_key)
                return outcome
            if attempt + 1 < self.retry.max_attempts:
                await asyncio.sleep(self.retry.delay(attempt, failure.retry_after, rng))
        assert failure is not None
        reason = _scrub(failure.reason, api_key)
        return self._failed(request, f"{reason} (after {attempts} attempts)", attempts)

    def _failed(self, request: JudgeRequest, reason: str, attempts: int) -> _Outcome:
        return _Outcome(JudgeReply(request, None, error=reason, extra={"attempts": attempts}), None, attempts)

    def _account(self, reply: JudgeReply, cost: float | None, attempts: int) -> None:
        for usage in (self.usage, *self._trackers):
            usage.add(reply, cost, attempts)

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)


def _read_completion(body: bytes) -> tuple[str, tuple[int, int], dict]:
    """The text, (prompt, completion) tokens and JSON of a chat completion body; MalformedReply otherwise.

    Bytes that are not UTF-8 are replaced by U+FFFD and lone surrogates (a ``\\ud800`` escape) likewise,
    so that any text the server sent reaches the benchmark's parser and the cache.
    """
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise MalformedReply(f"the answer is not JSON ({exc.msg})") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedReply("the answer has no choices")
    message = choices[0].get("message")
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str):
        refusal = message.get("refusal") if isinstance(message, dict) else None
        raise MalformedReply(f"refusal: {refusal}" if refusal else "the answer has no message content")
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return text, (_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))), data


def _int(value: object) -> int:
    try:
        return max(0, int(value or 0))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _request_record(request: JudgeRequest) -> dict:
    """What the cache stores about a request (for audit): no credentials, no endpoint."""
    return {
        "key": request.key,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "run_index": request.run_index,
        "attempt": request.attempt,
    }


_KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-*]{6,}")


def _scrub(text: str, api_key: str) -> str:
    """Remove the API key (and anything shaped like one) from an error text."""
    if api_key and api_key != PLACEHOLDER_KEY:
        text = text.replace(api_key, "***")
    return _KEY_PATTERN.sub("sk-***", text)
