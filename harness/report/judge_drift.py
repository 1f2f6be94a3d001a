"""Judge drift: two judges' stored results on the same predictions, compared per benchmark (read-only).

``judge_drift(dirs, judge_a, judge_b)`` scans the results under ``dirs`` (as the leaderboard does), keeps the
results each judge produced (the protocol card's ``judge_model``; ``harness rejudge`` stores a new judge's
result beside the original) and pairs them by the predictions they scored: the same benchmark, predictions
file content (``predictions_sha256``, else the model identity), items and benchmark options. For each judge and
predictions it takes the newest complete result, else the newest incomplete one (its never-answered items are
then missing, and it has no headline). Per benchmark it gives, with the rules of harness/judge/agreement.py:

- item-level agreement pooled over every pair of results (each item of each model once), with each judge's
  missing items counted by reason and listed;
- per leaderboard row (model) and headline column: both headlines, B − A and, where the benchmark can score a
  subset of its records (``metrics_from_records``), a paired bootstrap interval of B − A over items;
- per headline column: the rank agreement of the rows and the pairs of rows whose order flips.

Nothing is written or changed here; harness/report/judge_drift_render.py prints and writes the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.judge.agreement import (
    ItemAgreement,
    RankAgreement,
    headline_interval,
    item_agreement,
    item_values,
    rank_agreement,
)
from harness.report.judge_slots import judge_of
from harness.report.rows import Stored, declared, num, scan_results


@dataclass
class HeadlineRow:
    """One row's headline under both judges (None: that judge's result is incomplete or absent)."""

    label: str
    metric: str
    column: str
    a: float | None
    b: float | None
    ci: tuple[float, float] | None = None
    note: str = ""

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass
class MissingItem:
    label: str
    item: str
    judge: str
    reason: str


@dataclass
class BenchDrift:
    """What changes on one benchmark when judge A is replaced by judge B."""

    bench: str
    compared: list[str] = field(default_factory=list)  # rows (models) with a result from both judges
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    items: ItemAgreement | None = None
    pairs: list[tuple[str, str, float, float]] = field(default_factory=list)  # (row, item, A, B)
    missing: list[MissingItem] = field(default_factory=list)
    headline: list[HeadlineRow] = field(default_factory=list)
    ranking: dict[str, RankAgreement] = field(default_factory=dict)  # column label → rank agreement
    lower_is_better: dict[str, bool] = field(default_factory=dict)
    interval_how: str = ""
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # row → (A's file, B's file)


@dataclass
class DriftReport:
    judge_a: str
    judge_b: str
    sources: list[Path]
    benches: list[BenchDrift]
    resamples: int
    seed: int
    warnings: list[str] = field(default_factory=list)


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)


def predictions_key(s: Stored) -> str:
    """What the judge was shown: benchmark, predictions content, items and benchmark options."""
    res = s.res
    ident = res.identity or {}
    what = res.predictions_sha256 or _canon(ident.get("model")) or res.model.id
    options = (ident.get("protocol") or {}).get("options") or {}
    return _canon([res.benchmark, what, ident.get("items") or len(res.records), options])


def row_label(s: Stored) -> str:
    """The model as the leaderboard names its row: ``<variant> θi (<run>)``, ``θ0 = <base>``, or its id."""
    m = s.res.model
    if m.iteration == 0 and m.base:
        return f"θ0 = {m.base}"
    if m.iteration is not None and m.run_id:
        return f"{m.variant or m.method or m.run_id} θ{m.iteration} ({m.run_id})"
    return m.id


def _pick(cands: list[Stored]) -> Stored:
    cands = sorted(cands, key=Stored.sort_key)
    complete = [c for c in cands if not c.missing]
    return (complete or cands)[-1]


def _headline_columns(s: Stored, classes: dict[str, type]) -> list[dict[str, Any]]:
    cols = declared((s.res.protocol or {}).get("columns")) or declared(
        getattr(classes.get(s.res.benchmark), "columns", ())
    )
    heads = [c for c in cols if c.get("headline")]
    return heads or cols[:1]


def _metrics_fn(bench: str, classes: dict[str, type]):
    cls = classes.get(bench)
    if cls is None or not hasattr(cls, "metrics_from_records"):
        return None
    try:
        return cls().metrics_from_records
    except Exception:  # a plugin that needs options to construct: no interval
        return None


def judge_drift(
    dirs: list[Path],
    judge_a: str,
    judge_b: str,
    *,
    benches: set[str] | None = None,
    classes: dict[str, type] | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> DriftReport:
    """Compare judge ``judge_b`` with ``judge_a`` on every benchmark where both scored the same predictions."""
    if judge_a == judge_b:
        raise HarnessError(f"--judge: the two judges are the same ({judge_a!r}); name two different judge models")
    classes = classes or {}
    warnings: list[str] = []
    stored = [s for s in scan_results(dirs, warnings) if s.subset is None and judge_of(s.res) is not None]
    if benches:
        stored = [s for s in stored if s.res.benchmark in benches]
    found: dict[str, set[str]] = {}
    groups: dict[str, dict[str, list[Stored]]] = {}
    for s in stored:
        judge = judge_of(s.res)
        found.setdefault(s.res.benchmark, set()).add(judge)  # type: ignore[arg-type]
        if judge in (judge_a, judge_b):
            groups.setdefault(predictions_key(s), {}).setdefault(judge, []).append(s)  # type: ignore[arg-type]
    where = ", ".join(str(d) for d in dirs)
    if not any(judge_a in g and judge_b in g for g in groups.values()):
        seen = "; ".join(f"{b}: {', '.join(sorted(j))}" for b, j in sorted(found.items())) or "none"
        raise HarnessError(
            f"--judge {judge_a} --judge {judge_b}: no predictions under {where} were scored by both judges "
            f"(judges found per benchmark: {seen}); `harness rejudge --judge-model {judge_b}` scores the stored "
            "predictions with the second judge"
        )
    report = DriftReport(judge_a, judge_b, list(dirs), [], resamples, seed, warnings)
    by_bench: dict[str, BenchDrift] = {}

    def by_label(key: str) -> tuple[str, str]:
        return (row_label(sorted(next(iter(groups[key].values())), key=Stored.sort_key)[-1]), key)

    for key in sorted(groups, key=by_label):  # rows in label order, as the leaderboard sorts them
        group = groups[key]
        picked = {j: _pick(c) for j, c in group.items()}
        any_side = next(iter(picked.values()))
        bench = any_side.res.benchmark
        drift = by_bench.setdefault(bench, BenchDrift(bench))
        label = row_label(any_side)
        if judge_a not in picked or judge_b not in picked:
            (drift.only_a if judge_a in picked else drift.only_b).append(label)
            continue
        _add_pair(drift, label, picked[judge_a], picked[judge_b], report, classes)
    for drift in by_bench.values():
        _finish(drift, report)
        report.benches.append(drift)
    report.benches.sort(key=lambda d: d.bench)
    return report


def _add_pair(drift: BenchDrift, label: str, sa: Stored, sb: Stored, report: DriftReport, classes) -> None:
    if label in drift.compared:  # two models with the same label: tell them apart by their file
        label = f"{label} [{sa.path.parent.name}]"
    drift.compared.append(label)
    drift.files[label] = (str(sa.path), str(sb.path))
    va, ra = item_values(sa.res.records, sa.missing)
    vb, rb = item_values(sb.res.records, sb.missing)
    for judge, reasons in ((report.judge_a, ra), (report.judge_b, rb)):
        drift.missing.extend(MissingItem(label, item, judge, why) for item, why in sorted(reasons.items()))
    order = [str(r.get("id")) for r in sa.res.records if isinstance(r, dict)]
    drift.pairs.extend((label, item, va[item], vb[item]) for item in order if item in va and item in vb)
    metrics_fn = _metrics_fn(drift.bench, classes)
    drift.interval_how = (
        "paired bootstrap over items of the benchmark's own headline (metrics_from_records)"
        if metrics_fn
        else "none: the benchmark cannot score a subset of its records (no metrics_from_records)"
    )
    recs_b = {str(r.get("id")): r for r in sb.res.records if isinstance(r, dict)}
    common = [
        (r, recs_b[str(r.get("id"))]) for r in sa.res.records if isinstance(r, dict) and str(r.get("id")) in recs_b
    ]
    for col in _headline_columns(sa, classes):
        metric = col["metric"]
        drift.lower_is_better[col["label"]] = bool(col.get("lower_is_better"))
        a = None if sa.missing else num(sa.res.metrics.get(metric))
        b = None if sb.missing else num(sb.res.metrics.get(metric))
        note = "; ".join(
            f"{j}'s result is incomplete ({len(s.missing)} judgement(s) never came back)"
            for j, s in ((report.judge_a, sa), (report.judge_b, sb))
            if s.missing
        )
        ci = None
        if a is not None and b is not None and metrics_fn is not None and common:
            try:
                ci = headline_interval(
                    [x for x, _ in common],
                    [y for _, y in common],
                    metrics_fn,
                    metric,
                    resamples=report.resamples,
                    seed=report.seed,
                )
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
                report.warnings.append(f"{sa.path}: no headline interval ({exc!r})")
        drift.headline.append(HeadlineRow(label, metric, col["label"], a, b, ci, note))


def _finish(drift: BenchDrift, report: DriftReport) -> None:
    drift.items = item_agreement([p[2] for p in drift.pairs], [p[3] for p in drift.pairs])
    for column in dict.fromkeys(h.column for h in drift.headline):
        rows = [h for h in drift.headline if h.column == column and h.a is not None and h.b is not None]
        if rows:
            drift.ranking[column] = rank_agreement([h.label for h in rows], [h.a for h in rows], [h.b for h in rows])
