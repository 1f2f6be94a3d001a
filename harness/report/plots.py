"""Metric-versus-iteration plots for the leaderboard (matplotlib, Agg backend, no display).

One figure per benchmark, one panel per headline metric, one line per method variant. Every line
starts at the shared θ0 point; error bars show the 95 % bootstrap interval over items where the
benchmark stores one, else the std over judge runs. Lines
that would overlap are told apart by marker, line style and a small horizontal offset.

The figures are rendered to PNG bytes; the caller writes them atomically. PNG metadata that
would change between builds (the matplotlib version string) is left out, so the same numbers
give the same bytes on the same matplotlib.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

Point = tuple[int, float, float, float]  # (iteration, value, error below, error above; 0 for none)
Panel = tuple[str, bool, Mapping[str, Sequence[Point]]]  # (metric label, lower is better, series)

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_STYLES = ("-", "--", "-.", ":")


def render_benchmark_plot(bench: str, panels: Sequence[Panel]) -> bytes:
    """One PNG for ``bench``: a panel per headline metric, its value against iteration.

    Labels are drawn in sorted order so the legend, colours and markers are stable.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    n = max(1, len(panels))
    fig = Figure(figsize=(4.6 * n, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    labels = sorted({label for _, _, series in panels for label in series})
    style = {
        label: (_MARKERS[i % len(_MARKERS)], _STYLES[(i // len(_MARKERS)) % len(_STYLES)])
        for i, label in enumerate(labels)
    }
    width = 0.08 * (len(labels) - 1)
    offset = {label: (i * 0.08 - width / 2 if len(labels) > 1 else 0.0) for i, label in enumerate(labels)}
    for k, (metric, lower, series) in enumerate(panels):
        ax = fig.add_subplot(1, n, k + 1)
        for label in labels:
            points = sorted(series.get(label, ()))
            if not points:
                continue
            xs = [p[0] + (offset[label] if p[0] != 0 else 0.0) for p in points]  # θ0 is shared: no offset
            ys = [p[1] for p in points]
            below, above = [p[2] for p in points], [p[3] for p in points]
            marker, ls = style[label]
            ax.errorbar(
                xs,
                ys,
                yerr=[below, above] if any(below) or any(above) else None,
                marker=marker,
                linestyle=ls,
                capsize=3,
                label=label,
                alpha=0.9,
            )
        ax.set_xlabel("iteration (θ0 = base model)")
        ax.set_title(metric + (" (lower is better)" if lower and "↓" not in metric else ""))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{bench}: headline metrics by iteration")
    if labels:  # one legend for all panels, below them, so it never covers a line
        handles, names = fig.axes[0].get_legend_handles_labels()
        ncol = min(len(names), 4)
        fig.legend(handles, names, loc="lower center", ncol=ncol, fontsize="small", frameon=False)
        rows = -(-len(names) // ncol)
        fig.tight_layout(rect=(0, 0.06 * rows + 0.02, 1, 1))
    else:
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
