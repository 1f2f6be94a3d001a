"""Judge prices and cost estimates.

``PRICES`` holds OpenAI list prices in USD per 1M tokens (prompt, completion), as published on
openai.com/api/pricing for these snapshots (checked 2024-2025; prices change: pass ``prices=``
to override, e.g. for a negotiated rate). A model that is not in the table (a local
``vllm serve`` judge, say) has no price: its cost is reported as ``None`` and a budget cannot be
enforced for it unless a price is given.

Estimate used by ``--dry-run`` and by the budget guard (documented in docs/judge.md):
prompt tokens = ceil(characters / 4) + 4 per message + 3; completion tokens = the request's
``max_tokens`` (an upper bound, so the estimated cost is an upper bound for the completion part),
or ``UNCAPPED_COMPLETION_TOKENS`` for a request that sends no ``max_tokens``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.judge.types import JudgeRequest

Price = tuple[float, float]  # USD per 1M prompt tokens, USD per 1M completion tokens

PRICES: Mapping[str, Price] = {
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4-0125-preview": (10.0, 30.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4-turbo-2024-04-09": (10.0, 30.0),
    "gpt-4": (30.0, 60.0),
    "gpt-4-0314": (30.0, 60.0),
    "gpt-4-0613": (30.0, 60.0),
    "gpt-4-32k": (60.0, 120.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-2024-05-13": (5.0, 15.0),
    "gpt-4o-2024-08-06": (2.5, 10.0),
    "gpt-4o-2024-11-20": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o-mini-2024-07-18": (0.15, 0.6),
    "gpt-3.5-turbo-0125": (0.5, 1.5),
    "gpt-3.5-turbo-1106": (1.0, 2.0),
    "gpt-3.5-turbo-0613": (1.5, 2.0),
}

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REQUEST = 3
# Assumed worst case of a request without max_tokens: 4096, the output limit of gpt-4-1106-preview
# and gpt-4-turbo (the server's own cap applies; this only sizes estimates and budget reservations).
UNCAPPED_COMPLETION_TOKENS = 4096


def price_for(model: str, prices: Mapping[str, Price] | None = None) -> Price | None:
    """The (prompt, completion) price of ``model``: exact match, else None."""
    table = PRICES if prices is None else {**PRICES, **prices}
    return table.get(model)


def cost_usd(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Dollars for one call, or None when the model has no price."""
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def estimate_prompt_tokens(request: JudgeRequest) -> int:
    """Estimated prompt tokens of one request: ceil(chars/4) + 4 per message + 3."""
    chars = sum(len(content) for _, content in request.messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(request.messages) + TOKENS_PER_REQUEST


def completion_bound(request: JudgeRequest) -> int:
    """Most completion tokens ``request`` can cost: its max_tokens, else UNCAPPED_COMPLETION_TOKENS."""
    return request.max_tokens if request.max_tokens is not None else UNCAPPED_COMPLETION_TOKENS


@dataclass(frozen=True)
class CostEstimate:
    """What a ``--dry-run`` prints: calls to make and their estimated tokens and cost."""

    model: str
    requests: int
    cached: int
    calls: int
    prompt_tokens: int
    completion_tokens_max: int
    cost_usd_max: float | None

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "requests": self.requests,
            "cached": self.cached,
            "calls": self.calls,
            "prompt_tokens_est": self.prompt_tokens,
            "completion_tokens_max": self.completion_tokens_max,
            "cost_usd_max": None if self.cost_usd_max is None else round(self.cost_usd_max, 6),
        }

    def describe(self) -> str:
        """One line for the terminal."""
        cost = "unknown (no price for this model)" if self.cost_usd_max is None else f"≤ ${self.cost_usd_max:.2f}"
        return (
            f"judge {self.model}: {self.calls} calls to make ({self.cached} of {self.requests} cached), "
            f"~{self.prompt_tokens:,} prompt tokens, ≤ {self.completion_tokens_max:,} completion tokens, "
            f"estimated cost {cost}"
        )


def estimate_cost(
    requests: Sequence[JudgeRequest],
    model: str,
    *,
    prices: Mapping[str, Price] | None = None,
    cached_keys: Iterable[str] = (),
) -> CostEstimate:
    """Estimate the calls, tokens and cost of judging ``requests`` with ``model``.

    Requests whose cache key is in ``cached_keys`` cost nothing; duplicates are counted once
    (the client sends an identical request once).
    """
    cached = set(cached_keys)
    seen: set[str] = set()
    n_cached = prompt = completion = 0
    for request in requests:
        key = request.cache_key(model)
        if key in cached:
            n_cached += 1
            continue
        if key in seen:
            continue
        seen.add(key)
        prompt += estimate_prompt_tokens(request)
        completion += completion_bound(request)
    return CostEstimate(
        model=model,
        requests=len(requests),
        cached=n_cached,
        calls=len(seen),
        prompt_tokens=prompt,
        completion_tokens_max=completion,
        cost_usd_max=cost_usd(price_for(model, prices), prompt, completion),
    )
