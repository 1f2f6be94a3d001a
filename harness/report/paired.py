"""The leaderboard's paired marks: each run row against θ0 of its base model on the same items (moved out of
harness/report/rows.py, which holds the rows and columns it reads)."""

from __future__ import annotations

from harness.errors import HarnessError
from harness.report.rows import Column, Row


def paired_marks(rows: list[Row], columns: list[Column], classes: dict[str, type]) -> dict[tuple[int, str], float]:
    """p-values of the paired bootstrap test of each run row against θ0 of its base, per column, for
    benchmarks whose plugin gives resampling units (``bootstrap_units``/``metrics_from_counters``)."""
    from harness.report.bootstrap import paired_test

    base_rows = {r.base: r for r in rows if r.kind == "base"}
    out: dict[tuple[int, str], float] = {}
    for slot, bench in dict.fromkeys((c.slot, c.bench) for c in columns):
        cls = classes.get(bench)
        if cls is None or not hasattr(cls, "bootstrap_units") or not hasattr(cls, "metrics_from_counters"):
            continue
        try:
            plugin = cls()
        except Exception:  # a benchmark that needs options to construct: no test, no mark
            continue
        metrics = {c.metric for c in columns if c.slot == slot}
        for i, row in enumerate(rows):
            base = base_rows.get(row.base)
            sa = base.chosen.get(slot) if base else None
            sb = row.chosen.get(slot)
            if row.kind != "run" or sa is None or sb is None or sa.missing or sb.missing:
                continue
            try:
                ua, ub = plugin.bootstrap_units(sa.res.records), plugin.bootstrap_units(sb.res.records)
                if len(ua) != len(ub) or not ua:
                    continue
                changes = paired_test(ua, ub, plugin.metrics_from_counters)
            except (HarnessError, KeyError, TypeError, ValueError):
                continue  # records without the counters the test needs: no mark
            for name, change in changes.items():
                if name in metrics:
                    out[(i, f"{slot}/{name}")] = change.p_value
    return out
