"""Bootstrap intervals and paired tests for rule-based metrics that are ratios of sums over items.

Many rule-based metrics are not means of a per-item score: CHAIR is hallucinated mentions over all
mentions, F1 is built from counters summed over all questions. A bootstrap over items must therefore
resample the items' *counters* and recompute the metric from the resampled sums. A benchmark supplies:

- ``units``: one mapping of additive counters per resampling unit (an item, or a group of items that
  share an image and so are not independent), e.g. ``{"mentions": 3, "hallucinated": 1}``;
- ``metrics``: a function from summed counters to metric values, the same one its ``score`` uses.

``intervals`` gives percentile intervals (seeded); ``paired_test`` resamples the same units for two
models scored on the same items and gives the change B − A with its interval and a two-sided p-value
(the convention of ``harness.report.compare.paired_bootstrap``: the share of resampled changes, centred
on the observed one, at least as far from it as the observed change is from 0, with (1 + k)/(1 + B)).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.errors import HarnessError

MetricFn = Callable[[Mapping[str, float]], Mapping[str, float]]
DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class PairedChange:
    """The change B − A of one metric over paired units."""

    a: float
    b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    resamples: int
    confidence: float = 0.95

    def to_dict(self) -> dict[str, float]:
        return {
            "a": self.a,
            "b": self.b,
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "n": self.n,
            "resamples": self.resamples,
            "confidence": self.confidence,
        }


def _matrix(units: Sequence[Mapping[str, float]], keys: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    if keys is None:
        keys = sorted({k for u in units for k in u})
    return np.array([[float(u.get(k, 0.0)) for k in keys] for u in units], dtype=float), keys


def _weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each unit is drawn in each resample: ``resamples`` × ``n`` multinomial counts."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)


def _metric_rows(totals: np.ndarray, keys: list[str], metrics: MetricFn) -> list[Mapping[str, float]]:
    return [metrics(dict(zip(keys, row))) for row in totals]


def _check(units: Sequence[Mapping[str, float]], resamples: int, confidence: float) -> None:
    if not units:
        raise HarnessError("bootstrap: no units to resample")
    if resamples < 1:
        raise HarnessError(f"bootstrap: resamples must be >= 1, got {resamples}")
    if not 0 < confidence < 1:
        raise HarnessError(f"bootstrap: confidence must be between 0 and 1, got {confidence}")


def intervals(
    units: Sequence[Mapping[str, float]],
    metrics: MetricFn,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
    digits: int | None = 1,
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals ``{metric: [low, high]}`` over ``units`` (seeded)."""
    _check(units, resamples, confidence)
    matrix, keys = _matrix(units)
    rows = _metric_rows(_weights(len(units), resamples, seed) @ matrix, keys, metrics)
    tail = (1 - confidence) / 2 * 100
    out: dict[str, list[float]] = {}
    for name in rows[0]:
        values = np.array([r[name] for r in rows], dtype=float)
        lo, hi = (float(v) for v in np.percentile(values, [tail, 100 - tail]))
        out[name] = [round(lo, digits), round(hi, digits)] if digits is not None else [lo, hi]
    return out


def paired_test(
    units_a: Sequence[Mapping[str, float]],
    units_b: Sequence[Mapping[str, float]],
    metrics: MetricFn,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, PairedChange]:
    """The change B − A of every metric, resampling the same units for A and B (``units_a[i]`` and
    ``units_b[i]`` are the same item scored for A and for B)."""
    _check(units_a, resamples, confidence)
    if len(units_a) != len(units_b):
        raise HarnessError(f"paired bootstrap: {len(units_a)} units for A but {len(units_b)} for B")
    keys = sorted({k for u in list(units_a) + list(units_b) for k in u})
    ma, _ = _matrix(units_a, keys)
    mb, _ = _matrix(units_b, keys)
    w = _weights(len(units_a), resamples, seed)
    rows_a, rows_b = _metric_rows(w @ ma, keys, metrics), _metric_rows(w @ mb, keys, metrics)
    full_a, full_b = metrics(dict(zip(keys, ma.sum(0)))), metrics(dict(zip(keys, mb.sum(0))))
    tail = (1 - confidence) / 2 * 100
    out: dict[str, PairedChange] = {}
    for name in full_a:
        delta = float(full_b[name] - full_a[name])
        dist = np.array([rb[name] - ra[name] for ra, rb in zip(rows_a, rows_b)], dtype=float)
        lo, hi = (float(v) for v in np.percentile(dist, [tail, 100 - tail]))
        if np.all(dist == dist[0]):
            p = 1.0 if delta == 0 else 1.0 / (resamples + 1)
        else:
            extreme = int(np.sum(np.abs(dist - delta) >= abs(delta) - 1e-12))
            p = (1 + extreme) / (1 + resamples)
        out[name] = PairedChange(
            a=float(full_a[name]),
            b=float(full_b[name]),
            delta=delta,
            ci_low=lo,
            ci_high=hi,
            p_value=min(1.0, p),
            n=len(units_a),
            resamples=resamples,
            confidence=confidence,
        )
    return out
