"""leaderboard.md and its plots, built only from stored results files.

``build_leaderboard`` scans folders for ``results.json`` (schema ``harness.results/1``), groups
them into rows (θ0 of each base model, then every method variant × iteration, grouped by
method), and writes a markdown table with the SENA paper's Table 1 columns plus the shapes
benchmark. The same stored results always give the same bytes: everything is sorted, and no
clock is read.

Where a run's ``manifest.json`` is found above a results file (``runs/<run_id>/manifest.json``)
it supplies provenance: run id, base checkpoint, images and pairs used (``iter<i>/stats.json``)
and the manifest's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError
from harness.report.paper_numbers import REPORTED, SENA_TABLE4_NOTE
from harness.report.plots import render_metric_plot
from harness.report.results import Results, load_results


@dataclass(frozen=True)
class Column:
    """One leaderboard column: which benchmark metric, its direction and display precision."""

    label: str
    bench: str
    metric: str
    lower_is_better: bool = False
    decimals: int = 1
    headline: bool = False  # gets a plot against iteration


# The one mapping from leaderboard columns to the metric names the benchmark adapters write.
# SENA Table 1 order, then the shapes benchmark. Fix a metric name here if an adapter differs.
COLUMNS: tuple[Column, ...] = (
    Column("LLaVA^W", "llava_wild", "relative_score", headline=True),
    Column("MM-Vet", "mmvet", "total", headline=True),
    Column("MMHal Score", "mmhal", "average_score", decimals=2, headline=True),
    Column("MMHal Rate ↓", "mmhal", "hallucination_rate", lower_is_better=True, decimals=2, headline=True),
    Column("AMBER CHAIR ↓", "amber", "CHAIR", lower_is_better=True, headline=True),
    Column("Cover", "amber", "Cover"),
    Column("Hal ↓", "amber", "Hal", lower_is_better=True),
    Column("Cog ↓", "amber", "Cog", lower_is_better=True),
    Column("AMBER Accuracy", "amber", "Accuracy"),
    Column("F1", "amber", "F1", headline=True),
    Column("MMBench", "mmbench", "overall", headline=True),
    Column("Shapes Accuracy", "shapes", "Accuracy", headline=True),
    Column("Shapes F1", "shapes", "F1"),
    Column("Shapes CHAIR ↓", "shapes", "CHAIR", lower_is_better=True),
    Column("Shapes Cover", "shapes", "Cover"),
)

BENCHES: tuple[str, ...] = tuple(dict.fromkeys(c.bench for c in COLUMNS))
DASH = "–"


@dataclass
class LeaderboardReport:
    """What ``build_leaderboard`` did: the files it wrote and what it skipped or noticed."""

    out: Path
    plots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    results_used: int = 0
    rows: int = 0
    markdown: str = ""


@dataclass
class RunInfo:
    """A run folder's manifest, read once."""

    run_dir: Path
    manifest: dict[str, Any]
    sha256: str

    def stats(self, iteration: int) -> dict[str, Any] | None:
        path = self.run_dir / f"iter{iteration}" / "stats.json"
        if not path.is_file():
            return None
        try:
            data = atomic.read_json(path)
        except HarnessError:
            return None
        return data if isinstance(data, dict) else None


@dataclass
class Stored:
    """One results file and where it sits."""

    path: Path
    res: Results
    run: RunInfo | None

    def sort_key(self) -> tuple[str, str]:
        return (self.res.created or "", str(self.path))


@dataclass
class Row:
    kind: str  # "base" | "run" | "model"
    base: str | None
    method: str | None = None
    variant: str | None = None
    run_id: str | None = None
    iteration: int | None = None
    model_id: str | None = None
    results: dict[str, list[Stored]] = field(default_factory=lambda: defaultdict(list))
    chosen: dict[str, Stored] = field(default_factory=dict)
    run: RunInfo | None = None
    label: str = ""
    display_variant: str = ""

    def sort_key(self) -> tuple:
        group = {"base": 0, "run": 1, "model": 2}[self.kind]
        return (group, self.base or "", self.method or "", self.variant or "", self.run_id or "",
                self.iteration if self.iteration is not None else -1, self.model_id or "")


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


# ----------------------------------------------------------------------------------- scanning


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _find_run(path: Path, root: Path, cache: dict[Path, RunInfo | None],
              warnings: list[str]) -> RunInfo | None:
    """The nearest manifest.json above ``path``, not above the scanned folder ``root``."""
    for parent in path.parents:
        manifest = parent / "manifest.json"
        if manifest in cache:
            return cache[manifest]
        if manifest.is_file():
            try:
                raw = manifest.read_bytes()
                data = json.loads(raw.decode("utf-8"))
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                cache[manifest] = RunInfo(parent, data, hashlib.sha256(raw).hexdigest())
            except (OSError, ValueError) as exc:
                warnings.append(f"{manifest}: unreadable run manifest ({exc}); provenance left out")
                cache[manifest] = None
            return cache[manifest]
        if parent == root:
            break
    return None


def scan_results(dirs: list[Path], warnings: list[str]) -> list[Stored]:
    """Every readable results.json under ``dirs`` (recursively), sorted by path.

    A file of another schema version or a corrupt one is named in ``warnings`` and skipped.
    """
    found: dict[Path, Path] = {}
    for d in dirs:
        d = Path(d)
        if d.is_file() and d.name == "results.json":
            found.setdefault(d.resolve(), d.parent)
            continue
        if not d.is_dir():
            warnings.append(f"{d}: no such folder; nothing read from it")
            continue
        for p in sorted(d.rglob("results.json")):
            found.setdefault(p.resolve(), d)
    manifests: dict[Path, RunInfo | None] = {}
    stored: list[Stored] = []
    for real in sorted(found):
        root = found[real]
        try:
            res = load_results(real)
            if not isinstance(res.metrics, dict) or not isinstance(res.std or {}, dict) \
                    or not isinstance(res.protocol or {}, dict):
                raise HarnessError(f"{real}: corrupt results file (metrics/std/protocol are not objects)")
        except HarnessError as exc:
            warnings.append(f"skipped {exc}")
            continue
        run = _find_run(real, root.resolve(), manifests, warnings)
        if run is not None and res.model.run_id and run.manifest.get("run_id") not in (None, res.model.run_id):
            warnings.append(f"{real}: model.run_id {res.model.run_id!r} differs from the manifest's "
                            f"{run.manifest.get('run_id')!r}; provenance left out")
            run = None
        stored.append(Stored(real, res, run))
    return stored


def _rows(stored: list[Stored], warnings: list[str]) -> list[Row]:
    rows: dict[tuple, Row] = {}
    pending_models: list[Stored] = []
    for s in stored:
        m = s.res.model
        man = s.run.manifest if s.run else {}
        if s.res.benchmark not in BENCHES:
            warnings.append(f"{s.path}: benchmark {s.res.benchmark!r} has no leaderboard column; not shown")
            continue
        base = m.base or man.get("base_model")
        if m.iteration == 0:
            key = ("base", base or m.id)
            row = rows.setdefault(key, Row("base", base or m.id))
        elif m.iteration is not None and m.iteration > 0 and (m.method or man.get("method")):
            method = m.method or man.get("method")
            variant = m.variant or man.get("variant") or method
            run_id = m.run_id or man.get("run_id")
            key = ("run", base, method, variant, run_id, m.iteration)
            row = rows.setdefault(key, Row("run", base, method, variant, run_id, m.iteration))
            if row.run is None:
                row.run = s.run
        else:
            pending_models.append(s)
            continue
        row.results[s.res.benchmark].append(s)
    # A model evaluated outside a run whose id is a base checkpoint is that θ0 row.
    for s in pending_models:
        m = s.res.model
        if ("base", m.id) in rows:
            row = rows[("base", m.id)]
        elif m.path and ("base", m.path) in rows:
            row = rows[("base", m.path)]
        else:
            row = rows.setdefault(("model", m.id), Row("model", m.base, model_id=m.id))
        row.results[s.res.benchmark].append(s)
    ordered = sorted(rows.values(), key=Row.sort_key)
    distinct_runs: dict[tuple, set] = defaultdict(set)
    for r in ordered:
        if r.kind == "run":
            distinct_runs[(r.method, r.variant)].add(r.run_id)
    for r in ordered:
        if r.kind == "base":
            r.label = f"θ0 = {r.base}"
        elif r.kind == "run":
            r.display_variant = r.variant or ""
            if len(distinct_runs[(r.method, r.variant)]) > 1:
                r.display_variant += f" ({r.run_id})"
            r.label = f"{r.display_variant} θ{r.iteration}"
        else:
            r.label = str(r.model_id)
    return ordered


# ---------------------------------------------------------------------------------- rendering


def _fmt(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def _fmt_delta(value: float, decimals: int) -> str:
    text = f"{value:+.{decimals}f}"
    return "+" + text[1:] if float(text) == 0 else text


def _rel(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:
        return path.as_posix()


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


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)


def _failure_text(row: Row, s: Stored) -> str | None:
    f = s.res.failures or {}
    total = _num(f.get("total"))
    if total is None:
        total = sum(v for k, v in f.items() if k.startswith("run") and _num(v) is not None)
    if not total:
        return None
    runs = len(s.res.per_run) or int((s.res.protocol or {}).get("judge_runs") or 1)
    n = len(s.res.records) * runs
    if n:
        text = f"{row.label}, {s.res.benchmark}: {int(total)} of {n} judgements failed ({100 * total / n:.1f}%)"
    else:
        text = f"{row.label}, {s.res.benchmark}: {int(total)} judgements failed"
    if s.res.official:
        official = ", ".join(f"{k} {v}" for k, v in sorted(s.res.official.items()))
        text += f"; with the official failure handling: {official}"
    return text + "."


def _value(s: Stored | None, col: Column) -> float | None:
    if s is None:
        return None
    return _num(s.res.metrics.get(col.metric))


def _choose(rows: list[Row], out_dir: Path, warnings: list[str]) -> dict[tuple[int, str], str]:
    """Pick the newest result per (row, benchmark); note where several disagree."""
    notes: dict[tuple[int, str], str] = {}
    for i, row in enumerate(rows):
        for bench, cands in sorted(row.results.items()):
            cands = sorted(cands, key=Stored.sort_key)
            newest = cands[-1]
            row.chosen[bench] = newest
            metric_names = [c.metric for c in COLUMNS if c.bench == bench]
            distinct = {_canon({k: c.res.metrics.get(k) for k in metric_names}) for c in cands}
            if len(distinct) > 1:
                others = ", ".join(f"`{_rel(c.path, out_dir)}`" for c in cands[:-1])
                notes[(i, bench)] = (f"{row.label}, {bench}: {len(cands)} stored results with different "
                                     f"numbers; the newest is shown (`{_rel(newest.path, out_dir)}`, "
                                     f"created {newest.res.created or 'unknown'}); also stored: {others}.")
                warnings.append(notes[(i, bench)])
            missing = [m for m in metric_names if m not in newest.res.metrics]
            if missing:
                warnings.append(f"{newest.path}: no metric {', '.join(map(repr, missing))} for {bench} "
                                f"(has {', '.join(sorted(newest.res.metrics))}); shown as {DASH}")
    return notes


def _render(rows: list[Row], stored: list[Stored], dirs: list[Path], out: Path,
            plot_files: list[tuple[Column, str]], dup_notes: dict[tuple[int, str], str]) -> str:
    out_dir = out.parent
    notes = _Notes()
    lines: list[str] = []
    sources = ", ".join(f"`{_rel(Path(d), out_dir)}`" for d in dirs)
    lines += ["# Leaderboard", "",
              f"Built by `harness leaderboard` from {len(stored)} stored results file(s) under {sources}. "
              "Measured numbers only; numbers reported in papers are in a separate table below.", "",
              "Cells: mean ± population std over judge runs where a judge is involved; (Δ) is the "
              "difference from θ0 of the same base model; **bold** is the best measured value in the "
              f"column (↓: lower is better); {DASH} means no stored result.", ""]

    # Protocol cards: the most common card per benchmark goes on the header.
    main_card: dict[str, str] = {}
    for bench in BENCHES:
        cards = Counter(_canon(r.chosen[bench].res.protocol or {}) for r in rows if bench in r.chosen)
        if cards:
            main_card[bench] = sorted(cards.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    header = ["Method", "Variant", "θ"]
    for col in COLUMNS:
        mark = ""
        if col.bench in main_card and col is next(c for c in COLUMNS if c.bench == col.bench):
            mark = notes.ref(_protocol_text(col.bench, json.loads(main_card[col.bench])))
        header.append(col.label + mark)

    base_rows = {r.base: r for r in rows if r.kind == "base"}
    best: dict[str, float] = {}
    for col in COLUMNS:
        vals = [round(v, col.decimals) for r in rows if (v := _value(r.chosen.get(col.bench), col)) is not None]
        if len(vals) >= 2:
            best[col.label] = min(vals) if col.lower_is_better else max(vals)

    body: list[list[str]] = []
    for i, row in enumerate(rows):
        if row.kind == "base":
            cells = ["base", f"{row.base}", "θ0"]
        elif row.kind == "run":
            cells = [row.method or "", row.display_variant, f"θ{row.iteration}"]
        else:
            cells = ["model", f"{row.model_id}", DASH]
        base_row = base_rows.get(row.base) if row.kind != "base" else None
        marked: set[str] = set()
        for col in COLUMNS:
            s = row.chosen.get(col.bench)
            v = _value(s, col)
            if v is None:
                cells.append(DASH)
                continue
            text = _fmt(v, col.decimals)
            judged = bool((s.res.protocol or {}).get("judge_model")) or len(s.res.per_run) > 1
            sd = _num((s.res.std or {}).get(col.metric))
            if judged and sd is not None and (len(s.res.per_run) > 1 or int((s.res.protocol or {}).get("judge_runs") or 1) > 1):
                text += f" ± {_fmt(sd, col.decimals)}"
            if col.label in best and round(v, col.decimals) == best[col.label]:
                text = f"**{text}**"
            bv = _value(base_row.chosen.get(col.bench), col) if base_row else None
            if bv is not None:
                text += f" ({_fmt_delta(v - bv, col.decimals)})"
            marks = ""
            if col.bench not in marked:  # benchmark-level notes go on the row's first cell of it
                marked.add(col.bench)
                if col.bench in main_card and _canon(s.res.protocol or {}) != main_card[col.bench]:
                    marks += notes.ref("Scored under a different protocol than the column header: "
                                       + _protocol_text(col.bench, s.res.protocol or {}))
                if (i, col.bench) in dup_notes:
                    marks += notes.ref(dup_notes[(i, col.bench)])
                ftext = _failure_text(row, s)
                if ftext:
                    marks += notes.ref(ftext)
            cells.append(text + marks)
        body.append(cells)

    lines.append("## Measured")
    lines.append("")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join([":--"] * 3 + ["--:"] * len(COLUMNS)) + "|")
    for cells in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if not rows:
        lines.append("")
        lines.append("No stored results were found.")
    lines.append("")

    # Provenance per row.
    lines += ["## Provenance", "",
              "| Row | Run id | Base checkpoint | Images | Pairs | Manifest SHA-256 |",
              "|:--|:--|:--|--:|--:|:--|"]
    for row in rows:
        if row.kind == "base":
            run_ids = sorted({s.res.model.run_id for ss in row.results.values() for s in ss if s.res.model.run_id})
            lines.append(f"| {row.label} | {', '.join(run_ids) or DASH} | {row.base} | {DASH} | {DASH} | {DASH} |")
            continue
        run = row.run
        man = run.manifest if run else {}
        images = pairs = DASH
        if run is not None and row.iteration is not None:
            stats = run.stats(row.iteration) or {}
            if _num(stats.get("images")) is not None:
                images = str(int(stats["images"]))
            elif isinstance(man.get("images"), dict) and man["images"].get("per_iter") is not None:
                images = str(man["images"]["per_iter"])
            if _num(stats.get("pairs")) is not None:
                pairs = str(int(stats["pairs"]))
        base = row.base or man.get("base_model") or DASH
        sha = f"`{run.sha256}`" if run else DASH
        lines.append(f"| {row.label} | {row.run_id or man.get('run_id') or DASH} | {base} | {images} | {pairs} | {sha} |")
    lines.append("")

    if plot_files:
        lines += ["## Plots", ""]
        for col, name in plot_files:
            lines.append(f"![{col.label} against iteration]({name})")
            lines.append("")

    lines += _render_reported(rows)

    rendered = notes.render()
    if rendered:
        lines += ["## Notes", ""] + [n + "\n" for n in rendered]
    return "\n".join(lines).rstrip("\n") + "\n"


def _render_reported(rows: list[Row]) -> list[str]:
    lines = ["## Reported in papers (not measured here)", "",
             "Numbers as published, copied from the sources named; they are never mixed with the "
             "measured rows above and were produced with other judges and setups.", ""]
    cols = [c for c in COLUMNS if any((c.bench, c.metric) in r.values for r in REPORTED)]
    if REPORTED and cols:
        lines.append("| Source | Model | " + " | ".join(c.label for c in cols) + " |")
        lines.append("|:--|:--|" + "|".join(["--:"] * len(cols)) + "|")
        for r in REPORTED:
            vals = [_fmt(r.values[(c.bench, c.metric)], c.decimals) if (c.bench, c.metric) in r.values else DASH
                    for c in cols]
            lines.append(f"| {r.source} | {r.model} | " + " | ".join(vals) + " |")
        lines.append("")
        for note in sorted({r.note for r in REPORTED if r.note}):
            lines.append(f"- {note}")
    lines.append(f"- {SENA_TABLE4_NOTE}")
    # Reference numbers the benchmark adapters put on their protocol cards.
    refs: dict[str, dict[str, Any]] = {}
    for row in rows:
        for bench, s in sorted(row.chosen.items()):
            ref = (s.res.protocol or {}).get("reference_numbers") or {}
            if isinstance(ref, dict) and ref:
                refs.setdefault(bench, {}).update(ref)
    for bench in sorted(refs):
        items = ", ".join(f"{k} = {v}" for k, v in sorted(refs[bench].items()))
        lines.append(f"- {bench} protocol card reference numbers: {items}")
    lines.append("")
    return lines


def _plots(rows: list[Row], out: Path) -> list[tuple[Column, str, bytes]]:
    base_rows = {r.base: r for r in rows if r.kind == "base"}
    made = []
    for col in COLUMNS:
        if not col.headline:
            continue
        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for row in rows:
            if row.kind != "run":
                continue
            v = _value(row.chosen.get(col.bench), col)
            if v is None:
                continue
            label = row.display_variant
            if row.method and row.method != row.variant:
                label = f"{row.method}: {label}"
            series[label].append((int(row.iteration or 0), v))
            b = base_rows.get(row.base)
            bv = _value(b.chosen.get(col.bench), col) if b else None
            if bv is not None and (0, bv) not in series[label]:
                series[label].append((0, bv))
        if not series:
            continue
        slug = "".join(ch if ch.isalnum() else "_" for ch in f"{col.bench}_{col.metric}").lower()
        name = f"{out.stem}_{slug}.png"
        png = render_metric_plot(series, title=f"{col.label} ({col.bench} {col.metric})",
                                 ylabel=col.metric, lower_is_better=col.lower_is_better)
        made.append((col, name, png))
    return made


def build_leaderboard(runs_dirs: list[Path], out: Path) -> LeaderboardReport:
    """Build ``out`` (markdown) and one PNG per headline metric next to it, from stored results only.

    Unreadable results files (another schema version, corrupt JSON) are skipped and named in the
    returned warnings. The PNGs are written first, then the markdown, each atomically.
    """
    out = Path(out)
    warnings: list[str] = []
    stored = scan_results([Path(d) for d in runs_dirs], warnings)
    rows = _rows(stored, warnings)
    dup_notes = _choose(rows, out.parent, warnings)
    plots = _plots(rows, out)
    text = _render(rows, stored, [Path(d) for d in runs_dirs], out, [(c, n) for c, n, _ in plots], dup_notes)
    written = [atomic.write_bytes(out.parent / name, png) for _, name, png in plots]
    atomic.write_text(out, text)
    used = sum(len(ss) for r in rows for ss in r.results.values())
    return LeaderboardReport(out=out, plots=written, warnings=warnings, results_used=used,
                             rows=len(rows), markdown=text)
