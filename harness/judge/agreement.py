"""How far two judges agree on the same predictions: item values, agreement figures, rank changes, headline intervals.

Everything here is arithmetic on numbers already stored; nothing is judged. harness/report/judge_drift.py reads the
stored results of two judges and calls these functions; harness/report/judge_drift_render.py shows them.

**Item values.** A results file's per-item record (``Results.records``) gives one number per item:
``score`` (a judge's rating, mean over the judge runs), else ``correct`` (right/wrong, as 1/0). An item is
*missing* for a judge, and left out of every item-level figure, when

- a judgement of it was never answered (the item is in the result's ``missing`` list): ``never answered``;
- the judge answered but the answer did not parse in some run (a ``runs`` entry of the record with a
  ``failure``, or an entry of ``judge_failures``): ``unparsed``. The official scripts score these (0,
  [-1, -1], a random letter) and the headline keeps that, but the number is the script's, not the judge's,
  so agreement leaves them out;
- its judge runs decided a right/wrong item differently (``correct`` is null): ``runs disagree``;
- it has no value at all (no ``score``/``correct``): ``no score``.

Missing items are counted per judge and reason and listed, never scored 0 and never dropped silently.

**Figures** (``item_agreement``, scipy.stats): Pearson's r, Spearman's ρ, Kendall's τ-b, the mean absolute
difference and the mean difference B − A; *exact agreement* (the share of items both judges scored the same)
only where the scores are discrete: every value on both sides a multiple of 0.1 (integer ratings, tenths,
right/wrong); means over several judge runs usually are not, and then it is not shown. A correlation of
constant scores is undefined (None).

**Ranks** (``rank_agreement``): the headline of each leaderboard row under both judges, Kendall's τ-b and
Spearman's ρ between them, and every pair of rows whose order the change of judge reverses (a flip), named.

**Headline intervals** (``headline_interval``): a paired bootstrap over items (seeded): the same resampled
items' records are scored for both judges with the benchmark's own ``metrics_from_records`` and the
percentile interval of the headline difference B − A is reported.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NEVER_ANSWERED = "never answered"
UNPARSED = "unparsed"
NO_SCORE = "no score"
RUNS_DISAGREE = "runs disagree"


def item_values(
    records: Sequence[Mapping[str, Any]], missing: Sequence[Mapping[str, Any]] = ()
) -> tuple[dict[str, float], dict[str, str]]:
    """(value per item id, reason per missing item id) of one result's records (the module doc's rule)."""
    never = {str(m.get("item")) for m in missing if isinstance(m, Mapping)}
    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for rec in records:
        if not isinstance(rec, Mapping) or "id" not in rec:
            continue
        key = str(rec["id"])
        if key in never:
            reasons[key] = NEVER_ANSWERED
            continue
        runs = rec.get("runs") if isinstance(rec.get("runs"), list) else []
        failed = any(isinstance(r, Mapping) and r.get("failure") for r in runs)
        failed |= any(f is not None for f in rec.get("judge_failures") or ())
        value = _value(rec)
        if failed:
            reasons[key] = UNPARSED
        elif value is None and "correct" in rec and rec.get("correct") is None and runs:
            reasons[key] = RUNS_DISAGREE
        elif value is None:
            reasons[key] = NO_SCORE
        else:
            values[key] = value
    return values, reasons


def _value(rec: Mapping[str, Any]) -> float | None:
    score = rec.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(float(score)):
        return float(score)
    correct = rec.get("correct")
    if isinstance(correct, bool):
        return 1.0 if correct else 0.0
    return None


@dataclass
class ItemAgreement:
    """Item-level agreement of judge B with judge A over ``n`` items both scored."""

    n: int
    pearson: float | None
    spearman: float | None
    kendall: float | None
    mean_abs_diff: float | None
    mean_diff: float | None  # B − A
    exact: float | None  # share of items with the same score; None unless the scores are discrete
    discrete: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _defined(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def is_discrete(values: Sequence[float]) -> bool:
    """True when every value is a multiple of 0.1 (ratings, tenths, right/wrong as 1/0)."""
    return all(abs(v * 10 - round(v * 10)) < 1e-9 for v in values)


def item_agreement(a: Sequence[float], b: Sequence[float]) -> ItemAgreement:
    """The figures of the module doc for paired values ``a[i]``, ``b[i]`` (the same item under judges A and B)."""
    from scipy import stats

    if len(a) != len(b):
        raise ValueError(f"{len(a)} values for judge A but {len(b)} for judge B")
    n = len(a)
    discrete = n > 0 and is_discrete(list(a) + list(b))
    if n == 0:
        return ItemAgreement(0, None, None, None, None, None, None, False)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with warnings.catch_warnings():  # constant input: an undefined correlation, reported as None
        warnings.simplefilter("ignore")
        pearson = _defined(stats.pearsonr(x, y).statistic) if n >= 2 else None
        spearman = _defined(stats.spearmanr(x, y).statistic) if n >= 2 else None
        kendall = _defined(stats.kendalltau(x, y).statistic) if n >= 2 else None
    return ItemAgreement(
        n=n,
        pearson=pearson,
        spearman=spearman,
        kendall=kendall,
        mean_abs_diff=float(np.mean(np.abs(y - x))),
        mean_diff=float(np.mean(y - x)),
        exact=float(np.mean(np.isclose(x, y, rtol=0, atol=1e-9))) if discrete else None,
        discrete=discrete,
    )


@dataclass(frozen=True)
class Flip:
    """Two rows whose order judge B reverses: ``first`` is above ``second`` under A and below it under B."""

    first: str
    second: str
    a_first: float
    a_second: float
    b_first: float
    b_second: float


@dataclass
class RankAgreement:
    """The rows' headline under both judges and how their order changes."""

    labels: list[str]
    a: list[float]
    b: list[float]
    kendall: float | None
    spearman: float | None
    flips: list[Flip] = field(default_factory=list)
    ties_split: list[tuple[str, str]] = field(default_factory=list)  # tied under one judge only

    @property
    def order_kept(self) -> bool:
        return not self.flips


def rank_agreement(labels: Sequence[str], a: Sequence[float], b: Sequence[float]) -> RankAgreement:
    """Kendall's τ-b and Spearman's ρ between the rows' values under A and B, and the pairs that flip."""
    from scipy import stats

    labels, a, b = list(labels), [float(v) for v in a], [float(v) for v in b]
    if not len(labels) == len(a) == len(b):
        raise ValueError("labels and values differ in length")
    kendall = spearman = None
    if len(a) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kendall = _defined(stats.kendalltau(a, b).statistic)
            spearman = _defined(stats.spearmanr(a, b).statistic)
    flips: list[Flip] = []
    ties: list[tuple[str, str]] = []
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
            if da * db < 0:
                hi, lo = (i, j) if da > 0 else (j, i)  # ``hi`` is above under A
                flips.append(Flip(labels[hi], labels[lo], a[hi], a[lo], b[hi], b[lo]))
            elif (da == 0) != (db == 0):
                ties.append((labels[i], labels[j]))
    flips.sort(key=lambda f: (-(abs(f.a_first - f.a_second) + abs(f.b_first - f.b_second)), f.first, f.second))
    return RankAgreement(labels, a, b, kendall, spearman, flips, ties)


MetricsFn = Callable[[Sequence[Mapping[str, Any]]], Mapping[str, float]]


def headline_interval(
    records_a: Sequence[Mapping[str, Any]],
    records_b: Sequence[Mapping[str, Any]],
    metrics: MetricsFn,
    metric: str,
    *,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile interval of the headline difference B − A under a paired bootstrap over items.

    ``records_a[i]`` and ``records_b[i]`` are the same item under judges A and B; each resample draws item
    positions with replacement (seeded) and scores the same draw for both with ``metrics``. None when the
    metric cannot be computed on the resamples.
    """
    n = len(records_a)
    if n == 0 or n != len(records_b) or resamples < 1:
        return None
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    diffs = []
    for idx in draws:
        ma = metrics([records_a[i] for i in idx])
        mb = metrics([records_b[i] for i in idx])
        if metric not in ma or metric not in mb:
            return None
        diffs.append(float(mb[metric]) - float(ma[metric]))
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(np.asarray(diffs), [tail, 100 - tail])
    return float(lo), float(hi)
