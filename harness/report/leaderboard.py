"""leaderboard.md and its plots, built only from stored results files.

``build_leaderboard`` scans folders for ``results.json`` (schema ``harness.results/1``), groups
them into rows (θ0 of each base model, then every method variant × iteration, grouped by
method), and writes a markdown table whose columns each benchmark plugin declares
(``Benchmark.columns``, stored on the protocol card of its results; the registered class is the
fallback for results written before cards carried them). The same stored results always give the
same bytes: everything is sorted, and no clock is read.

Nothing is left out silently: results files that cannot be read, smoke results (``--limit``) and
incomplete results (judgements that never came back) are listed in the notes; ``strict`` turns
every skip into an error.

Where a run's ``manifest.json`` is found above a results file (``runs/<run_id>/manifest.json``)
it supplies provenance: run id, base checkpoint, images and pairs used (``iter<i>/stats.json``)
and the manifest's SHA-256.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError
from harness.report.audit_plot import audit_plot
from harness.report.judge_slots import judge_of, split_by_judge
from harness.report.paired import paired_marks
from harness.report.rows import (
    DASH,
    INCOMPLETE,
    Column,
    Row,
    Stored,
    build_rows,
    canon,
    choose,
    interval,
    leaderboard_columns,
    num,
    rel,
    row_value,
    scan_results,
    seed_stats,
    value_of,
)
from harness.report.sections import (
    benchmark_labels,
    benchmark_plots,
    render_audit,
    render_provenance,
    render_reported,
    render_training,
    reported_numbers,
)
from harness.runs import RunLock


@dataclass
class LeaderboardReport:
    """What ``build_leaderboard`` did: the files it wrote and what it skipped or noticed."""

    out: Path
    plots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files not read, with the reason
    results_used: int = 0
    rows: int = 0
    markdown: str = ""


class _Notes:
    """Footnotes numbered by first use; the same text gets the same number."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self._texts:
            self._texts.append(text)
        return f"[^{self._texts.index(text) + 1}]"

    def render(self) -> list[str]:
        return [f"[^{i}]: {t}" for i, t in enumerate(self._texts, 1)]


# ---------------------------------------------------------------------------------- rendering


def _fmt(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def _fmt_delta(value: float, decimals: int) -> str:
    text = f"{value:+.{decimals}f}"
    return "+" + text[1:] if float(text) == 0 else text


def _protocol_text(bench: str, card: dict[str, Any]) -> str:
    parts = []
    if card.get("judge_model"):
        judge = f"judge `{card['judge_model']}`"
        extra = []
        if card.get("judge_temperature") is not None:
            extra.append(f"temperature {card['judge_temperature']}")
        if card.get("judge_max_tokens") is not None:
            extra.append(f"max_tokens {card['judge_max_tokens']}")
        extra.append(f"{card.get('judge_runs', 1)} judge run(s)")
        parts.append(f"{judge} ({', '.join(extra)})")
    else:
        parts.append("rule-based, no judge")
    if card.get("prompt_version"):
        parts.append(f"prompt {card['prompt_version']}")
    parts.append(f"data {card.get('data_version') or 'unstated'}")
    if card.get("scorer_source"):
        parts.append(f"scorer {card['scorer_source']}")
    devs = card.get("deviations") or []
    parts.append("deviations: " + ("; ".join(str(d) for d in devs) if devs else "none"))
    return f"{bench} protocol: " + "; ".join(parts) + "."


def _failure_text(row: Row, s: Stored) -> str | None:
    """A note on judgements that were answered but did not parse (scored as the official script does)."""
    f = s.res.failures or {}
    total = num(f.get("total"))
    if total is None:
        total = sum(v for k, v in f.items() if k.startswith("run") and num(v) is not None)
    if not total:
        return None
    runs = len(s.res.per_run) or int((s.res.protocol or {}).get("judge_runs") or 1)
    n = len(s.res.records) * runs
    if n:
        text = f"{row.label}, {s.res.benchmark}: {int(total)} of {n} judgements failed ({100 * total / n:.1f}%)"
    else:
        text = f"{row.label}, {s.res.benchmark}: {int(total)} judgements failed"
    unparsed = getattr(s.res, "unparsed", None) or {}
    kinds = {k: v for k, v in unparsed.items() if k != "total" and num(v)}
    if kinds:
        text += (
            " (answered but unparseable, scored as the official script scores them: "
            + ", ".join(f"{k} × {int(v)}" for k, v in sorted(kinds.items()))
            + ")"
        )
    excluded = getattr(s.res, "excluded", None) or {}
    if excluded:
        text += "; mean over parsed answers only (secondary, not the headline): " + ", ".join(
            f"{k} {v:g}" for k, v in sorted(excluded.items()) if num(v) is not None
        )
    return text + "."


def _computed_on(stored: list[Stored]) -> str | None:
    """Where the runs behind the board computed (their manifests' processor and package versions): the
    numbers of a tiny model are a machine's, and another CPU sums in another order."""
    seen: Counter = Counter()
    for s in stored:
        man = s.run.manifest if s.run else None
        if not man:
            continue
        machine = man.get("machine") or {}
        packages = man.get("packages") or {}
        seen[
            (
                machine.get("cpu", "processor not recorded"),
                f"torch {packages.get('torch', '?')}, transformers {packages.get('transformers', '?')}, "
                f"trl {packages.get('trl', '?')}",
            )
        ] += 1
    if not seen:
        return None
    parts = [f"{cpu} with {versions} ({n} results)" for (cpu, versions), n in sorted(seen.items())]
    return "Computed on (from the runs' manifests): " + "; ".join(parts) + "."


def _incomplete_text(row: Row, s: Stored, out_dir: Path) -> str:
    items = sorted({str(m.get("item")) for m in s.missing if isinstance(m, dict)})
    shown = ", ".join(items[:10]) + (f", … ({len(items) - 10} more)" if len(items) > 10 else "")
    return (
        f"{row.label}, {s.res.benchmark}: incomplete, {len(s.missing)} judgement(s) never came back "
        f"(items {shown}); not a result. Rerunning the same `harness eval` asks the judge only for "
        f"those (`{rel(s.path, out_dir)}`)."
    )


def _judge_warning(card: dict[str, Any]) -> str | None:
    """The protocol card's note that the judge differs from the benchmark protocol's, if any."""
    sub = card.get("judge_substituted")
    if isinstance(sub, dict) and sub.get("protocol") and sub.get("used"):
        return f"judge `{sub['used']}` instead of the protocol's `{sub['protocol']}`"
    if isinstance(sub, str) and sub:
        return sub
    return None


def _render(
    rows: list[Row],
    stored: list[Stored],
    columns: list[Column],
    dirs: list[Path],
    out: Path,
    plot_files: list[tuple[str, str]],
    dup_notes: dict[tuple[int, str], str],
    skipped: list[str],
    reported: list[Any],
    label_of: dict[str, str],
    paired: dict[tuple[int, str], float] | None = None,
    judged_benches: set[str] | None = None,
) -> str:
    out_dir = out.parent
    notes = _Notes()
    paired = paired or {}
    sig_note = ""
    lines: list[str] = []
    sources = ", ".join(f"`{rel(Path(d), out_dir)}`" for d in dirs)
    shown = [r for r in rows if r.shown]
    lines += [
        "# Leaderboard",
        "",
        f"Built by `harness leaderboard` from {len(stored)} stored results file(s) under {sources}. "
        "Measured numbers only; numbers reported in papers are in a separate table below.",
        "",
        "Cells: mean ± population std over judge runs where a judge is involved, [95 % bootstrap "
        "interval over items] where a rule-based benchmark gives one; (Δ) is the "
        "difference from θ0 of the same base model; **bold** is the best measured value in the "
        f"column (↓: lower is better, otherwise higher, except where a footnote says neither); {DASH} means no stored result; *{INCOMPLETE}* means some "
        "judgements never came back, so there is no number.",
        "",
    ]
    if any(c.judge for c in columns):
        lines += [
            "A judged benchmark's columns name the judge that scored every cell in them; a benchmark scored by "
            "several judges (`harness rejudge` stores each beside the original) has one set of columns per judge, "
            "and numbers from different judges never share a column (`harness compare --judge A --judge B` "
            "measures how far they differ).",
            "",
        ]
    computed = _computed_on(stored)
    if computed:
        lines += [computed, ""]

    slots = list(dict.fromkeys(c.slot for c in columns))  # a benchmark, or a benchmark and its judge
    main_card: dict[str, str] = {}
    for slot in slots:
        cards = Counter(canon(r.chosen[slot].res.protocol or {}) for r in shown if slot in r.chosen)
        if cards:
            main_card[slot] = sorted(cards.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    header = ["Method", "Variant", "θ"]
    first_col = {c.slot: c for c in reversed(columns)}
    for col in columns:
        mark = ""
        if col.slot in main_card and first_col[col.slot] is col:
            card = json.loads(main_card[col.slot])
            mark = notes.ref(_protocol_text(col.bench, card))
            jw = _judge_warning(card)
            if jw:
                mark += notes.ref(f"{col.bench}: {jw}; numbers are not comparable with the published ones.")
        if col.unranked:
            mark += notes.ref(f"{col.label}: neither higher nor lower is better; no value is marked best.")
        header.append(col.header + mark)

    base_rows = {r.base: r for r in shown if r.kind == "base"}
    best: dict[Column, float] = {}
    for col in columns:
        vals = [round(v, col.decimals) for r in shown if (v := row_value(r, col)) is not None]
        if len(vals) >= 2 and not col.unranked:
            best[col] = min(vals) if col.lower_is_better else max(vals)

    body: list[list[str]] = []
    seeds_note = ""
    for i, row in enumerate(rows):
        if not row.shown:
            continue
        if row.kind == "base":
            cells = ["base", f"{row.base}", "θ0"]
        elif row.kind in ("run", "seeds"):
            cells = [row.method or "", row.display_variant, f"θ{row.iteration}"]
        else:
            cells = ["model", f"{row.model_id}", DASH]
        base_row = base_rows.get(row.base) if row.kind != "base" else None
        marked: set[str] = set()
        for col in columns:
            if row.kind == "seeds":
                stats = seed_stats(row, col)
                if stats is None:
                    cells.append(DASH)
                    continue
                mean, sd, n = stats
                text = f"{_fmt(mean, col.decimals)} ± {_fmt(sd, col.decimals)}"
                if col in best and round(mean, col.decimals) == best[col]:
                    text = f"**{text}**"
                bv = value_of(base_row.chosen.get(col.slot), col) if base_row else None
                if bv is not None:
                    text += f" ({_fmt_delta(mean - bv, col.decimals)})"
                if not seeds_note:
                    seeds_note = notes.ref(
                        "Rows marked (n seeds): mean ± sample std over the final results of n runs that differ "
                        "only in `--seed` (their run ids are in the provenance table); no paired test is shown."
                    )
                    text += seeds_note
                cells.append(text)
                continue
            s = row.chosen.get(col.slot)
            if s is None:
                cells.append(DASH)
                continue
            marks = ""
            if col.slot not in marked:  # benchmark-level notes go on the row's first cell of it
                marked.add(col.slot)
                if col.slot in main_card and canon(s.res.protocol or {}) != main_card[col.slot]:
                    marks += notes.ref(
                        "Scored under a different protocol than the column header: "
                        + _protocol_text(col.bench, s.res.protocol or {})
                    )
                if (i, col.slot) in dup_notes:
                    marks += notes.ref(dup_notes[(i, col.slot)])
                if s.missing:
                    marks += notes.ref(_incomplete_text(row, s, out_dir))
                else:
                    ftext = _failure_text(row, s)
                    if ftext:
                        marks += notes.ref(ftext)
            if s.missing:
                cells.append(f"*{INCOMPLETE}*" + marks)
                continue
            v = value_of(s, col)
            if v is None:
                cells.append(DASH + marks)
                continue
            text = _fmt(v, col.decimals)
            judged = bool((s.res.protocol or {}).get("judge_model")) or len(s.res.per_run) > 1
            sd = num((s.res.std or {}).get(col.metric))
            ci = interval(s, col)
            if (
                judged
                and sd is not None
                and (len(s.res.per_run) > 1 or int((s.res.protocol or {}).get("judge_runs") or 1) > 1)
            ):
                text += f" ± {_fmt(sd, col.decimals)}"
            elif ci is not None:
                text += f" [{_fmt(ci[0], col.decimals)}, {_fmt(ci[1], col.decimals)}]"
            if col in best and round(v, col.decimals) == best[col]:
                text = f"**{text}**"
            bv = value_of(base_row.chosen.get(col.slot), col) if base_row else None
            if bv is not None:
                p = paired.get((i, f"{col.slot}/{col.metric}"))
                sig = "†" if p is not None and p < 0.05 else ""
                text += f" ({_fmt_delta(v - bv, col.decimals)}{sig})"
                if sig and not sig_note:
                    sig_note = notes.ref(
                        "† after a change: a paired bootstrap test against θ0 on the same items gives p < 0.05 "
                        "(two-sided; resampling the benchmark's units, 2,000 resamples, seed 0)."
                    )
                    text += sig_note
            cells.append(text + marks)
        body.append(cells)

    lines.append("## Measured")
    lines.append("")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join([":--"] * 3 + ["--:"] * len(columns)) + "|")
    for cells in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if not shown:
        lines.append("")
        lines.append("No stored results were found.")
    lines.append("")

    lines += render_training(shown)
    lines += render_audit(shown)
    lines += render_provenance(shown)
    smoke = [(row, s) for row in rows for r in (row.members or [row]) for s in r.smoke]
    if smoke:
        lines += [
            "## Smoke results (`--limit`; not benchmark results)",
            "",
            "Scored on a subset of the items; never shown in the table above.",
            "",
            "| Model | Benchmark | Items | File |",
            "|:--|:--|--:|:--|",
        ]
        for row, s in sorted(smoke, key=lambda rs: (rs[0].sort_key(), str(rs[1].path))):
            sub = s.subset or {}
            items = f"{sub.get('items', sub.get('limit'))} of {sub.get('total', '?')}"
            lines.append(f"| {row.label} | {s.res.benchmark} | {items} | `{rel(s.path, out_dir)}` |")
        lines.append("")

    if plot_files:
        lines += ["## Plots", ""]
        for bench, name in plot_files:
            lines.append(f"![{bench}: headline metrics against iteration]({name})")
            lines.append("")

    lines += render_reported(shown, reported, label_of, judged_benches)

    if skipped:
        lines += ["## Skipped files", "", "Results files that could not be read; nothing of them is shown above.", ""]
        lines += [f"- {text}" for text in sorted(skipped)]
        lines.append("")

    rendered = notes.render()
    if rendered:
        lines += ["## Notes", ""] + [n + "\n" for n in rendered]
    return "\n".join(lines).rstrip("\n") + "\n"


def build_leaderboard(
    runs_dirs: list[Path], out: Path, *, reg: Any = None, force: bool = False, strict: bool = False
) -> LeaderboardReport:
    """Build ``out`` (markdown) and one PNG per benchmark next to it, from stored results only.

    Unreadable results files (another schema version, corrupt JSON) are skipped and listed in the
    markdown's "Skipped files" section; ``strict`` makes them an error instead. A folder that does not
    exist is an error. When no result is found, an existing ``out`` is left as it is unless ``force``.
    ``reg``: the plugin registry (default: the installed plugins), for declared columns and published
    numbers. The PNGs are written first, then the markdown, each atomically.
    """
    from harness.plugins import registry

    out = Path(out)
    reg = reg if reg is not None else registry()
    warnings: list[str] = []
    skipped: list[str] = []
    dirs = [Path(d) for d in runs_dirs]
    stored = scan_results(dirs, warnings, skipped)
    if strict and skipped:
        raise HarnessError(
            "--strict: " + str(len(skipped)) + " results file(s) could not be read:\n  " + "\n  ".join(skipped)
        )
    columns = split_by_judge(leaderboard_columns(stored, reg.benchmarks, warnings), (s.res for s in stored))
    if strict and any("has no leaderboard column" in w for w in warnings):
        raise HarnessError("--strict: " + "; ".join(w for w in warnings if "has no leaderboard column" in w))
    rows = build_rows(stored, {c.bench for c in columns})
    if not any(r.shown for r in rows) and out.exists() and not force:
        raise HarnessError(
            f"no stored results under {', '.join(map(str, dirs))}; {out} left unchanged "
            "(pass --force to overwrite it with an empty leaderboard)"
        )
    dup_notes = choose(rows, columns, out.parent, warnings)
    for r in rows:
        if r.kind == "seeds":
            choose(r.members, columns, out.parent, warnings)
    shown = [r for r in rows if r.shown]
    plots = benchmark_plots(shown, columns, out) + audit_plot(shown, out)
    paired = paired_marks(rows, columns, reg.benchmarks)
    text = _render(
        rows,
        stored,
        columns,
        dirs,
        out,
        [(b, n) for b, n, _ in plots],
        dup_notes,
        skipped,
        reported_numbers(reg),
        benchmark_labels(columns, reg.benchmarks),
        paired=paired,
        judged_benches={n for n, c in reg.benchmarks.items() if getattr(c, "needs_judge", False)}
        | {s.res.benchmark for s in stored if judge_of(s.res)},
    )
    with RunLock(out, "leaderboard"):  # one process at a time writes a board and its plots
        written = [atomic.write_bytes(out.parent / name, png) for _, name, png in plots]
        atomic.write_text(out, text)
    used = sum(len(ss) for r in rows for ss in r.results.values())
    return LeaderboardReport(
        out=out, plots=written, warnings=warnings, skipped=skipped, results_used=used, rows=len(shown), markdown=text
    )
