"""Judge drift shown: a table for the terminal, a short markdown report a paper's appendix can cite, the figures
as JSON, and one plot per benchmark (items under both judges; each row's headline under both judges).

``write_drift(report, out_dir)`` writes ``judge-agreement.md``, ``judge-agreement.json`` and
``judge-agreement_<bench>.png`` atomically into ``out_dir``. The same stored results give the same bytes
(the bootstrap is seeded, everything is sorted, no clock is read).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from harness import atomic
from harness.judge.agreement import NEVER_ANSWERED
from harness.report.judge_drift import BenchDrift, DriftReport

DASH = "–"
MAX_LISTED = 30


def _f(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return DASH
    value = round(value, digits) + 0.0  # no "-0.000"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return DASH if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def _missing_counts(drift: BenchDrift, judge: str) -> str:
    counts: dict[str, int] = {}
    for m in drift.missing:
        if m.judge == judge:
            counts[m.reason] = counts.get(m.reason, 0) + 1
    return ", ".join(f"{n} {why}" for why, n in sorted(counts.items())) or "none"


def _flip_text(f: Any) -> str:
    return f"{f.first} vs {f.second}: {f.a_first:.2f} > {f.a_second:.2f} under A, {f.b_first:.2f} < {f.b_second:.2f} under B"


# ------------------------------------------------------------------------------------------- terminal


def render_drift(report: DriftReport, out_dir: Path | None = None):
    """A rich renderable of the report, for the CLI."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [Text(f"Judge drift: A = {report.judge_a}, B = {report.judge_b}")]
    for d in report.benches:
        it = d.items
        t = Table(title=f"{d.bench}: item agreement ({len(d.compared)} model(s) judged by both)")
        for c in (
            "items",
            "Pearson r",
            "Spearman ρ",
            "Kendall τ",
            "mean |B − A|",
            "mean B − A",
            "exact",
            "missing A",
            "missing B",
        ):
            t.add_column(c, justify="right")
        t.add_row(
            str(it.n if it else 0),
            _f(it.pearson if it else None),
            _f(it.spearman if it else None),
            _f(it.kendall if it else None),
            _f(it.mean_abs_diff if it else None),
            _f(it.mean_diff if it else None, signed=True),
            _f(it.exact if it else None),
            _missing_counts(d, report.judge_a),
            _missing_counts(d, report.judge_b),
        )
        parts.append(t)
        h = Table(title=f"{d.bench}: headline per row (B − A, 95 % paired bootstrap interval)")
        for c in ("row", "column", "A", "B", "B − A", "95 % CI"):
            h.add_column(c, justify="left" if c in ("row", "column") else "right")
        for r in d.headline:
            h.add_row(
                r.label, r.column, _f(r.a, 2), _f(r.b, 2), _f(r.delta, 2, True), _ci(r.ci) if r.ci else r.note or DASH
            )
        parts.append(h)
        for column, rank in d.ranking.items():
            kept = "kept" if rank.order_kept else f"{len(rank.flips)} pair(s) flip"
            parts.append(
                Text(
                    f"{d.bench} {column}: ranking of {len(rank.labels)} row(s) under B vs A: Kendall τ "
                    f"{_f(rank.kendall)}, Spearman ρ {_f(rank.spearman)}; order {kept}"
                )
            )
            for f in rank.flips[:MAX_LISTED]:
                parts.append(Text(f"  flipped: {_flip_text(f)}", style="yellow"))
        for label in d.only_a:
            parts.append(
                Text(f"  {d.bench}: {label} has no result from {report.judge_b} (not compared)", style="yellow")
            )
        for label in d.only_b:
            parts.append(
                Text(f"  {d.bench}: {label} has no result from {report.judge_a} (not compared)", style="yellow")
            )
    for w in report.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    if out_dir is not None:
        parts.append(Text(f"report: {Path(out_dir) / 'judge-agreement.md'}"))
    return Group(*parts)


# ------------------------------------------------------------------------------------------- markdown


def drift_markdown(report: DriftReport, plots: dict[str, str]) -> str:
    """The short report: what was compared, how, and the figures per benchmark."""
    a, b = report.judge_a, report.judge_b
    lines = [
        f"# Judge agreement: `{a}` (A) and `{b}` (B)",
        "",
        f"Built by `harness compare --judge {a} --judge {b}` from the stored results under "
        + ", ".join(f"`{p}`" for p in report.sources)
        + ". Both judges scored the same stored predictions (paired by benchmark, predictions content, items and "
        "benchmark options); nothing was generated again, and no stored result was changed.",
        "",
        "Method. *Items*: one number per item and model (the judge's rating, mean over its runs, or right/wrong "
        "as 1/0). An item whose judgement never came back, or whose answer the benchmark's parser rejected in "
        "some run (the official script then scores it 0, [-1, -1] or a random letter), is *missing* for that "
        "judge: counted and listed below, left out of the item figures, never scored 0. Pearson's r, "
        "Spearman's ρ and Kendall's τ-b (scipy.stats), the mean absolute and mean signed difference B − A, and "
        "exact agreement where every score is a multiple of 0.1. *Headline*: each judge's stored headline; the "
        f"interval of B − A is the 95 % percentile interval of a paired bootstrap over items ({report.resamples} "
        f"resamples, seed {report.seed}) recomputing the benchmark's own headline from the resampled items' "
        "records under both judges. *Ranking*: Kendall's τ-b and Spearman's ρ between the rows' headlines under "
        "A and B, and every pair of rows whose order B reverses.",
        "",
    ]
    for d in report.benches:
        lines += _bench_markdown(d, a, b, plots.get(d.bench))
    if report.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in report.warnings] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _bench_markdown(d: BenchDrift, a: str, b: str, plot: str | None) -> list[str]:
    it = d.items
    lines = [f"## {d.bench}", ""]
    lines.append(
        f"{len(d.compared)} model(s) scored by both judges" + (f": {', '.join(d.compared)}." if d.compared else ".")
    )
    for label in d.only_a:
        lines.append(f"Not compared: {label} has no result from `{b}`.")
    for label in d.only_b:
        lines.append(f"Not compared: {label} has no result from `{a}`.")
    lines += [
        "",
        "| Items | Pearson r | Spearman ρ | Kendall τ | mean \\|B − A\\| | mean B − A | Exact | Missing (A) | Missing (B) |",
        "|--:|--:|--:|--:|--:|--:|--:|:--|:--|",
        f"| {it.n if it else 0} | {_f(it.pearson if it else None)} | {_f(it.spearman if it else None)} | "
        f"{_f(it.kendall if it else None)} | {_f(it.mean_abs_diff if it else None)} | "
        f"{_f(it.mean_diff if it else None, signed=True)} | "
        f"{_f(it.exact) if it and it.discrete else 'not discrete'} | {_missing_counts(d, a)} | {_missing_counts(d, b)} |",
        "",
        "| Row | Column | A | B | B − A | 95 % CI |",
        "|:--|:--|--:|--:|--:|--:|",
    ]
    for r in d.headline:
        lines.append(
            f"| {r.label} | {r.column} | {_f(r.a, 2)} | {_f(r.b, 2)} | {_f(r.delta, 2, True)} | "
            f"{_ci(r.ci) if r.ci else (r.note or DASH)} |"
        )
    lines += ["", f"Interval: {d.interval_how}.", ""]
    for column, rank in d.ranking.items():
        verdict = "the order of the rows is kept" if rank.order_kept else f"{len(rank.flips)} pair(s) of rows flip"
        lines.append(
            f"Ranking by {column} ({len(rank.labels)} rows): Kendall τ {_f(rank.kendall)}, Spearman ρ "
            f"{_f(rank.spearman)}; {verdict}."
        )
        lines += [f"- flipped: {_flip_text(f)}" for f in rank.flips]
        lines += [f"- tied under one judge only: {x} and {y}" for x, y in rank.ties_split]
        lines.append("")
    if d.missing:
        lines += ["Missing items (left out of the item figures):", ""]
        for m in d.missing[:MAX_LISTED]:
            lines.append(f"- {m.judge}: {m.label}, item {m.item}: {m.reason}")
        if len(d.missing) > MAX_LISTED:
            lines.append(f"- … {len(d.missing) - MAX_LISTED} more (all in judge-agreement.json)")
        never = sum(1 for m in d.missing if m.reason == NEVER_ANSWERED)
        if never:
            lines.append(f"- ({never} never answered: rerunning `harness rejudge` asks the judge only for those)")
        lines.append("")
    if plot:
        lines += [f"![{d.bench}: items and rows under both judges]({plot})", ""]
    return lines


# ------------------------------------------------------------------------------------------- data and plots


def drift_json(report: DriftReport) -> dict[str, Any]:
    def rank(r):
        flips = [f.__dict__ for f in r.flips]
        return {"labels": r.labels, "a": r.a, "b": r.b, "kendall": r.kendall, "spearman": r.spearman, "flips": flips}

    return {
        "judge_a": report.judge_a,
        "judge_b": report.judge_b,
        "sources": [str(p) for p in report.sources],
        "resamples": report.resamples,
        "seed": report.seed,
        "benchmarks": {
            d.bench: {
                "compared": d.compared,
                "files": d.files,
                "not_compared": {"no_result_from_b": d.only_a, "no_result_from_a": d.only_b},
                "items": d.items.to_dict() if d.items else None,
                "missing": [m.__dict__ for m in d.missing],
                "headline": [
                    {
                        **{k: v for k, v in h.__dict__.items() if k != "ci"},
                        "delta": h.delta,
                        "ci": list(h.ci) if h.ci else None,
                    }
                    for h in d.headline
                ],
                "ranking": {c: rank(r) for c, r in d.ranking.items()},
                "interval": d.interval_how,
            }
            for d in report.benches
        },
        "warnings": report.warnings,
    }


def drift_plot(d: BenchDrift, judge_a: str, judge_b: str) -> bytes:
    """Items: B's score against A's (point size by count, y = x dashed); rows: each headline under A and B."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = list(d.ranking)
    fig = Figure(figsize=(4.6 * (1 + len(columns)), 4.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1 + len(columns), 1)
    counts: dict[tuple[float, float], int] = {}
    for _, _, x, y in d.pairs:
        counts[(x, y)] = counts.get((x, y), 0) + 1
    if counts:
        pts = sorted(counts)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=[20 + 20 * counts[p] for p in pts], alpha=0.6)
        lo = min(min(p) for p in pts)
        hi = max(max(p) for p in pts)
        ax.plot([lo, hi], [lo, hi], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel(f"A: {judge_a}")
    ax.set_ylabel(f"B: {judge_b}")
    ax.set_title(f"items ({d.items.n if d.items else 0})")
    for k, column in enumerate(columns):
        rank = d.ranking[column]
        axr = fig.add_subplot(1, 1 + len(columns), k + 2)
        for label, va, vb in sorted(zip(rank.labels, rank.a, rank.b)):
            axr.plot([0, 1], [va, vb], marker="o", label=label)
        axr.set_xticks([0, 1], ["A", "B"])
        axr.set_title(f"{column}: rows" + (" ↓" if d.lower_is_better.get(column) else ""))
        axr.legend(fontsize="x-small", frameon=False)
    fig.suptitle(f"{d.bench}: {judge_a} (A) vs {judge_b} (B)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def write_drift(report: DriftReport, out_dir: Path) -> list[Path]:
    """Write the report, its JSON and one PNG per benchmark into ``out_dir``; the paths written."""
    out_dir = Path(out_dir)
    plots: dict[str, str] = {}
    written: list[Path] = []
    for d in report.benches:
        if not d.compared:
            continue
        slug = "".join(ch if ch.isalnum() else "_" for ch in d.bench).lower()
        name = f"judge-agreement_{slug}.png"
        written.append(atomic.write_bytes(out_dir / name, drift_plot(d, report.judge_a, report.judge_b)))
        plots[d.bench] = name
    written.append(atomic.write_json(out_dir / "judge-agreement.json", drift_json(report)))
    written.append(atomic.write_text(out_dir / "judge-agreement.md", drift_markdown(report, plots)))
    return written
