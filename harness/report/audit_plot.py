"""The pair audit plotted per iteration: per method row, the share of its pairs whose chosen answer is truly
better, and of inverted pairs, against iteration (one PNG beside the leaderboard's benchmark plots).

A row over seeds shows the mean with the seeds' sample std as its error bar; one run, its precision's 95 %
interval where the audit stores one. Iterations whose images have no known truth are left out, never 0."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.report.plots import render_benchmark_plot

TITLE = "pair audit"


def _iteration_values(row: Any, key: str) -> list[float]:
    members = row.members if row.kind == "seeds" else [row]
    found = [m.run.audit(row.iteration) for m in members if m.run is not None]
    return [float(a[key]) for a in found if a and a.get("audited") and isinstance(a.get(key), (int, float))]


def audit_plot(rows: list[Any], out: Path) -> list[tuple[str, str, bytes]]:
    """``[(title, file name, PNG bytes)]``: one figure when any row has audited pairs, else none."""
    panels = []
    for key, label in (("precision", "chosen truly better (%)"), ("inverted", "inverted (%)")):
        series: dict[str, list[tuple[int, float, float, float]]] = defaultdict(list)
        for row in rows:
            if row.kind not in ("run", "seeds") or not row.iteration:
                continue
            values = _iteration_values(row, key)
            if not values:
                continue
            mean = sum(values) / len(values)
            below = above = 0.0
            if len(values) > 1:
                below = above = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
            elif key == "precision" and row.kind == "run":
                interval = (row.run.audit(row.iteration) or {}).get("precision_interval")
                if interval:
                    below, above = max(0.0, mean - float(interval[0])), max(0.0, float(interval[1]) - mean)
            name = row.display_variant or row.variant or "–"
            if row.method and row.method != (row.variant or ""):
                name = f"{row.method}: {name}"
            series[name].append((int(row.iteration), mean, below, above))
        if series:
            panels.append((label, key == "inverted", dict(series)))
    if not panels:
        return []
    return [(TITLE, f"{out.stem}_pair_audit.png", render_benchmark_plot(TITLE, panels))]
