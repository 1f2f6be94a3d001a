"""What one iteration did (images, pairs, steps, time, metrics) and the table printed at the end of a run."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table


@dataclass
class IterationSummary:
    iteration: int
    images: int = 0
    pairs: int = 0
    steps: int = 0
    train_loss: float | None = None
    seconds: float = 0.0
    stages_run: int = 0  # stages this invocation ran
    stages_reused: int = 0  # stages finished by an earlier invocation (resume)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def _time_cell(s: IterationSummary) -> str:
    """Seconds this invocation spent; a stage finished by an earlier invocation is said to be reused."""
    if s.iteration == 0:
        return "–"
    if s.stages_run == 0 and s.stages_reused:
        return "resumed (done earlier)"
    text = f"{s.seconds:.1f}"
    return text + (" (resumed)" if s.stages_reused else "")


def summary_table(
    summaries: list[IterationSummary], evals: list[str], columns: dict[str, list[tuple[str, str]]] | None = None
) -> Table:
    """``columns``: per benchmark, the (label, metric) pairs its plugin declares as headline."""
    table = Table(title="Self-evolution summary")
    for col in ("θ", "images", "pairs", "DPO steps", "train loss", "time (s)"):
        table.add_column(col, justify="right")
    headline = {}
    for bench in evals:
        declared = (columns or {}).get(bench)
        keys = declared or [
            (f"{bench} {k}", k) for k in sorted({k for s in summaries for k in s.metrics.get(bench, {})})[:4]
        ]
        headline[bench] = [k for _, k in keys]
        for label, _ in keys:
            table.add_column(label, justify="right")
    for s in summaries:
        row = [
            f"θ{s.iteration}",
            str(s.images or "–"),
            str(s.pairs or "–"),
            str(s.steps or "–"),
            f"{s.train_loss:.4f}" if s.train_loss is not None else "–",
            _time_cell(s),
        ]
        for bench in evals:
            for k in headline[bench]:
                v = s.metrics.get(bench, {}).get(k)
                row.append(f"{v:.2f}" if isinstance(v, (int, float)) else "–")
        table.add_row(*row)
    return table
