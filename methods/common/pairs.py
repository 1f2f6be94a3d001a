"""Small helpers shared by the SeVa and judge-free methods: stable seeds, text validity, step stats."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from the parts (hash-based: independent of batch order and PYTHONHASHSEED)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31)


def is_garbage(text: str | None) -> bool:
    """Empty, whitespace only, undecodable bytes (U+FFFD), or no letter or digit at all."""
    if text is None or not text.strip():
        return True
    return "\ufffd" in text or not any(ch.isalnum() for ch in text)


def count_tokens(backend, texts: Sequence[str]) -> int | None:
    """Tokens in ``texts`` by the policy's tokenizer, where the backend exposes one."""
    tok = getattr(getattr(getattr(backend, "policy", None), "processor", None), "tokenizer", None)
    if tok is None:
        return None
    return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts if t)


@dataclass
class StepLog:
    """Per-step generation calls, requests, tokens and wall time, and the run's total wall time."""

    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def step(self, name: str, requests: int = 0, calls: int = 1):
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"generation_calls": calls, "requests": requests}
        self.steps[name] = entry
        yield entry
        entry["wall_s"] = round(time.perf_counter() - t0, 3)

    def stats(self, **extra: Any) -> dict[str, Any]:
        calls = sum(s.get("generation_calls", 0) for s in self.steps.values())
        tokens = [s["generated_tokens"] for s in self.steps.values() if s.get("generated_tokens") is not None]
        return {
            "generation_calls": calls,
            "requests": sum(s.get("requests", 0) for s in self.steps.values()),
            "generated_tokens": sum(tokens) if tokens else None,
            "steps": self.steps,
            "wall_s": round(time.perf_counter() - self.started, 3),
            **extra,
        }
