"""Metric-versus-iteration plots for the leaderboard (matplotlib, Agg backend, no display).

The figures are rendered to PNG bytes; the caller writes them atomically. PNG metadata that
would change between builds (the matplotlib version string) is left out, so the same numbers
give the same bytes on the same matplotlib.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence


def render_metric_plot(series: Mapping[str, Sequence[tuple[int, float]]], *, title: str,
                       ylabel: str, lower_is_better: bool = False) -> bytes:
    """One PNG: the metric against iteration, one line (with markers) per method variant.

    ``series`` maps a line label to its (iteration, value) points; labels are drawn in sorted
    order so the legend and colours are stable.
    """
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.0, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label in sorted(series):
        points = sorted(series[label])
        if not points:
            continue
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("iteration (θ0 = base model)")
    ax.set_ylabel(ylabel + (" (lower is better)" if lower_is_better else ""))
    ax.set_title(title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    if series:
        ax.legend(fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
