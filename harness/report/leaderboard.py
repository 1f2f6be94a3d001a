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

import hashlib
import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import atomic
from harness.errors import HarnessError
from harness.report.plots import render_benchmark_plot
from harness.report.results import Results, load_results


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a benchmark's metric as its plugin declares it (LeaderboardColumn)."""

    label: str
    bench: str
    metric: str
    lower_is_better: bool = False
    decimals: int = 1
    headline: bool = False  # gets a plot against iteration
    order: int = 100

    @property
    def header(self) -> str:
        return self.label + (" ↓" if self.lower_is_better else "")


DASH = "–"
INCOMPLETE = "incomplete"


def _declared(raw: Any) -> list[dict[str, Any]]:
    """The column dicts of a protocol card or a plugin class, or [] when absent or malformed."""
    out = []
    for c in raw or ():
        c = c.to_dict() if hasattr(c, "to_dict") else c
        if isinstance(c, dict) and isinstance(c.get("label"), str) and isinstance(c.get("metric"), str):
            out.append(c)
    return out


def leaderboard_columns(stored: list[Stored], benchmark_classes: dict[str, type], warnings: list[str]) -> list[Column]:
    """The columns of every benchmark with stored results, in (order, benchmark) order.

    A benchmark's columns come from the protocol card of its newest stored result; results written
    before cards carried columns fall back to the registered plugin class. A benchmark that declares
    none is named in ``warnings`` and not shown.
    """
    by_bench: dict[str, list[dict[str, Any]]] = {}
    for s in sorted(stored, key=Stored.sort_key):
        cols = _declared((s.res.protocol or {}).get("columns"))
        if cols:
            by_bench[s.res.benchmark] = cols
    out: list[Column] = []
    for bench in sorted({s.res.benchmark for s in stored}):
        cols = by_bench.get(bench) or _declared(getattr(benchmark_classes.get(bench), "columns", ()))
        if not cols:
            warnings.append(
                f"benchmark {bench!r} has no leaderboard column (its plugin declares none, or it is "
                "not installed); its results are not shown"
            )
            continue
        for c in cols:
            out.append(
                Column(
                    label=c["label"],
                    bench=bench,
                    metric=c["metric"],
                    lower_is_better=bool(c.get("lower_is_better", False)),
                    decimals=int(c.get("decimals", 1)),
                    headline=bool(c.get("headline", False)),
                    order=int(c.get("order", 100)),
                )
            )
    return sorted(out, key=lambda c: (c.order, c.bench))  # stable: a benchmark's own order kept


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

    @property
    def subset(self) -> dict[str, Any] | None:
        """The item subset of a smoke result (``--limit``), or None for the benchmark's full item set."""
        sub = getattr(self.res, "subset", None)
        return sub if isinstance(sub, dict) and sub.get("limit") is not None else None

    @property
    def missing(self) -> list[Any]:
        """Judgements that never came back; non-empty means the result is incomplete."""
        miss = getattr(self.res, "missing", None)
        return list(miss) if isinstance(miss, list) else []


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
    smoke: list[Stored] = field(default_factory=list)  # --limit results: never shown as the benchmark's
    run: RunInfo | None = None
    label: str = ""
    display_variant: str = ""
    members: list[Row] = field(default_factory=list)  # kind "seeds": the runs that differ only in seed

    @property
    def shown(self) -> bool:
        return bool(self.results) or bool(self.members)

    def sort_key(self) -> tuple:
        group = {"base": 0, "run": 1, "seeds": 1, "model": 2}[self.kind]
        return (
            group,
            self.base or "",
            self.method or "",
            self.variant or "",
            self.run_id or "",
            self.iteration if self.iteration is not None else -1,
            self.model_id or "",
        )


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


def _find_run(path: Path, root: Path, cache: dict[Path, RunInfo | None], warnings: list[str]) -> RunInfo | None:
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


RESULTS_GLOB = "results*.json"  # results.json, and results stored beside it (smoke, partial)


def scan_results(dirs: list[Path], warnings: list[str], skipped: list[str] | None = None) -> list[Stored]:
    """Every readable results file under ``dirs`` (recursively), sorted by path.

    A file of another schema version or a corrupt one is named in ``skipped`` (and ``warnings``)
    with the reason, and left out. A folder that does not exist is an error.
    """
    skipped = skipped if skipped is not None else []
    found: dict[Path, Path] = {}
    for d in dirs:
        d = Path(d)
        if d.is_file() and d.suffix == ".json":
            found.setdefault(d.resolve(), d.parent)
            continue
        if not d.is_dir():
            raise HarnessError(f"--runs {d}: no such folder")
        for p in sorted(d.rglob(RESULTS_GLOB)):
            if p.is_file():
                found.setdefault(p.resolve(), d)
    manifests: dict[Path, RunInfo | None] = {}
    stored: list[Stored] = []
    for real in sorted(found):
        root = found[real]
        try:
            res = load_results(real)
            if (
                not isinstance(res.metrics, dict)
                or not isinstance(res.std or {}, dict)
                or not isinstance(res.protocol or {}, dict)
            ):
                raise HarnessError(f"{real}: corrupt results file (metrics/std/protocol are not objects)")
        except HarnessError as exc:
            skipped.append(str(exc))
            warnings.append(f"skipped {exc}")
            continue
        run = _find_run(real, root.resolve(), manifests, warnings)
        if run is not None and res.model.run_id and run.manifest.get("run_id") not in (None, res.model.run_id):
            warnings.append(
                f"{real}: model.run_id {res.model.run_id!r} differs from the manifest's "
                f"{run.manifest.get('run_id')!r}; provenance left out"
            )
            run = None
        stored.append(Stored(real, res, run))
    return stored


def _file(row: Row, s: Stored) -> None:
    """A smoke result (``--limit``) is kept apart: never a candidate for the row's cell."""
    if s.subset is not None:
        row.smoke.append(s)
    else:
        row.results[s.res.benchmark].append(s)


def _rows(stored: list[Stored], benches: set[str]) -> list[Row]:
    rows: dict[tuple, Row] = {}
    pending_models: list[Stored] = []
    for s in stored:
        m = s.res.model
        man = s.run.manifest if s.run else {}
        if s.res.benchmark not in benches:
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
        _file(row, s)
    # A model evaluated outside a run whose id is a base checkpoint is that θ0 row.
    for s in pending_models:
        m = s.res.model
        if ("base", m.id) in rows:
            row = rows[("base", m.id)]
        elif m.path and ("base", m.path) in rows:
            row = rows[("base", m.path)]
        else:
            row = rows.setdefault(("model", m.id), Row("model", m.base, model_id=m.id))
        _file(row, s)
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
    return _group_seeds(ordered)


_NOT_CONFIG = ("seed", "run_id", "created", "command", "git_rev", "history", "finished", "packages")


def _config_key(run: RunInfo | None) -> str | None:
    """What a run's manifest says produced it, less the seed (None: no manifest, never grouped)."""
    if run is None:
        return None
    man = run.manifest
    config = man.get("config") if isinstance(man.get("config"), dict) else man
    return _canon({k: v for k, v in config.items() if k not in _NOT_CONFIG})


def _group_seeds(rows: list[Row]) -> list[Row]:
    """Runs of one configuration that differ only in the seed become one row per iteration (mean ± std
    over seeds); each run stays a member of it."""
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        key = _config_key(r.run)
        if r.kind == "run" and key is not None:
            groups[(r.base, r.method, r.variant, r.iteration, key)].append(r)
    grouped: dict[int, Row] = {}
    for (base, method, variant, iteration, _), members in groups.items():
        if len({m.run_id for m in members}) < 2:
            continue
        row = Row("seeds", base, method, variant, None, iteration, members=members, run=members[0].run)
        row.display_variant = f"{variant} ({len(members)} seeds)"
        row.label = f"{row.display_variant} θ{iteration}"
        for m in members:
            grouped[id(m)] = row
    out: list[Row] = []
    for r in rows:
        g = grouped.get(id(r))
        if g is None:
            out.append(r)
        elif g not in out:
            out.append(g)
    return out


def _seed_stats(row: Row, col: Column) -> tuple[float, float, int] | None:
    """(mean, sample std, n) of a column over a seeds row's runs; None unless every run has a value."""
    values = [_value(m.chosen.get(col.bench), col) for m in row.members]
    if not values or any(v is None for v in values):
        return None
    arr = np.array(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, len(arr)


def _row_value(row: Row, col: Column) -> float | None:
    if row.kind == "seeds":
        stats = _seed_stats(row, col)
        return stats[0] if stats else None
    return _value(row.chosen.get(col.bench), col)


def _paired_marks(rows: list[Row], columns: list[Column], classes: dict[str, type]) -> dict[tuple[int, str], float]:
    """p-values of the paired bootstrap test of each run row against θ0 of its base, per column, for
    benchmarks whose plugin gives resampling units (``bootstrap_units``/``metrics_from_counters``)."""
    from harness.report.bootstrap import paired_test

    base_rows = {r.base: r for r in rows if r.kind == "base"}
    out: dict[tuple[int, str], float] = {}
    for bench in dict.fromkeys(c.bench for c in columns):
        cls = classes.get(bench)
        if cls is None or not hasattr(cls, "bootstrap_units") or not hasattr(cls, "metrics_from_counters"):
            continue
        try:
            plugin = cls()
        except Exception:  # a benchmark that needs options to construct: no test, no mark
            continue
        metrics = {c.metric for c in columns if c.bench == bench}
        for i, row in enumerate(rows):
            base = base_rows.get(row.base)
            sa = base.chosen.get(bench) if base else None
            sb = row.chosen.get(bench)
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
                    out[(i, f"{bench}/{name}")] = change.p_value
    return out


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
    """A note on judgements that were answered but did not parse (scored as the official script does)."""
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
    unparsed = getattr(s.res, "unparsed", None) or {}
    kinds = {k: v for k, v in unparsed.items() if k != "total" and _num(v)}
    if kinds:
        text += (
            " (answered but unparseable, scored as the official script scores them: "
            + ", ".join(f"{k} × {int(v)}" for k, v in sorted(kinds.items()))
            + ")"
        )
    excluded = getattr(s.res, "excluded", None) or {}
    if excluded:
        text += "; mean over parsed answers only (secondary, not the headline): " + ", ".join(
            f"{k} {v:g}" for k, v in sorted(excluded.items()) if _num(v) is not None
        )
    return text + "."


def _incomplete_text(row: Row, s: Stored, out_dir: Path) -> str:
    items = sorted({str(m.get("item")) for m in s.missing if isinstance(m, dict)})
    shown = ", ".join(items[:10]) + (f", … ({len(items) - 10} more)" if len(items) > 10 else "")
    return (
        f"{row.label}, {s.res.benchmark}: incomplete, {len(s.missing)} judgement(s) never came back "
        f"(items {shown}); not a result. Rerunning the same `harness eval` asks the judge only for "
        f"those (`{_rel(s.path, out_dir)}`)."
    )


def _value(s: Stored | None, col: Column) -> float | None:
    if s is None or s.missing:
        return None
    return _num(s.res.metrics.get(col.metric))


def _interval(s: Stored | None, col: Column) -> tuple[float, float] | None:
    """The stored 95 % bootstrap interval of a rule-based metric, if the benchmark gives one."""
    if s is None:
        return None
    ci = (getattr(s.res, "intervals", None) or {}).get(col.metric)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_num(x) is not None for x in ci):
        return float(ci[0]), float(ci[1])
    return None


def _error_bar(s: Stored, col: Column, value: float) -> tuple[float, float]:
    """(below, above) the value: the bootstrap interval where stored, else ± the std over judge runs."""
    ci = _interval(s, col)
    if ci is not None:
        return max(0.0, value - ci[0]), max(0.0, ci[1] - value)
    sd = _num((s.res.std or {}).get(col.metric)) or 0.0
    return sd, sd


def _choose(rows: list[Row], columns: list[Column], out_dir: Path, warnings: list[str]) -> dict[tuple[int, str], str]:
    """Pick the newest complete result per (row, benchmark), else the newest incomplete one (shown as
    incomplete); note where several complete ones disagree."""
    notes: dict[tuple[int, str], str] = {}
    for i, row in enumerate(rows):
        for bench, cands in sorted(row.results.items()):
            cands = sorted(cands, key=Stored.sort_key)
            complete = [c for c in cands if not c.missing]
            newest = (complete or cands)[-1]
            row.chosen[bench] = newest
            metric_names = [c.metric for c in columns if c.bench == bench]
            distinct = {_canon({k: c.res.metrics.get(k) for k in metric_names}) for c in complete}
            if len(distinct) > 1:
                others = ", ".join(f"`{_rel(c.path, out_dir)}`" for c in complete[:-1])
                notes[(i, bench)] = (
                    f"{row.label}, {bench}: {len(complete)} stored results with different "
                    f"numbers; the newest is shown (`{_rel(newest.path, out_dir)}`, "
                    f"created {newest.res.created or 'unknown'}); also stored: {others}."
                )
                warnings.append(notes[(i, bench)])
            later = [c for c in cands if c.missing and c.sort_key() > newest.sort_key()]
            if complete and later:
                notes[(i, bench)] = (
                    notes.get((i, bench), "")
                    + (f" A later attempt is incomplete and was not used: `{_rel(later[-1].path, out_dir)}`.").lstrip()
                )
            missing = [m for m in metric_names if m not in newest.res.metrics and not newest.missing]
            if missing:
                warnings.append(
                    f"{newest.path}: no metric {', '.join(map(repr, missing))} for {bench} "
                    f"(has {', '.join(sorted(newest.res.metrics))}); shown as {DASH}"
                )
    return notes


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
) -> str:
    out_dir = out.parent
    notes = _Notes()
    paired = paired or {}
    sig_note = ""
    lines: list[str] = []
    sources = ", ".join(f"`{_rel(Path(d), out_dir)}`" for d in dirs)
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
        f"column (↓: lower is better); {DASH} means no stored result; *{INCOMPLETE}* means some "
        "judgements never came back, so there is no number.",
        "",
    ]

    benches = list(dict.fromkeys(c.bench for c in columns))
    main_card: dict[str, str] = {}
    for bench in benches:
        cards = Counter(_canon(r.chosen[bench].res.protocol or {}) for r in shown if bench in r.chosen)
        if cards:
            main_card[bench] = sorted(cards.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    header = ["Method", "Variant", "θ"]
    first_col = {c.bench: c for c in reversed(columns)}
    for col in columns:
        mark = ""
        if col.bench in main_card and first_col[col.bench] is col:
            card = json.loads(main_card[col.bench])
            mark = notes.ref(_protocol_text(col.bench, card))
            jw = _judge_warning(card)
            if jw:
                mark += notes.ref(f"{col.bench}: {jw}; numbers are not comparable with the published ones.")
        header.append(col.header + mark)

    base_rows = {r.base: r for r in shown if r.kind == "base"}
    best: dict[Column, float] = {}
    for col in columns:
        vals = [round(v, col.decimals) for r in shown if (v := _row_value(r, col)) is not None]
        if len(vals) >= 2:
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
                stats = _seed_stats(row, col)
                if stats is None:
                    cells.append(DASH)
                    continue
                mean, sd, n = stats
                text = f"{_fmt(mean, col.decimals)} ± {_fmt(sd, col.decimals)}"
                if col in best and round(mean, col.decimals) == best[col]:
                    text = f"**{text}**"
                bv = _value(base_row.chosen.get(col.bench), col) if base_row else None
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
            s = row.chosen.get(col.bench)
            if s is None:
                cells.append(DASH)
                continue
            marks = ""
            if col.bench not in marked:  # benchmark-level notes go on the row's first cell of it
                marked.add(col.bench)
                if col.bench in main_card and _canon(s.res.protocol or {}) != main_card[col.bench]:
                    marks += notes.ref(
                        "Scored under a different protocol than the column header: "
                        + _protocol_text(col.bench, s.res.protocol or {})
                    )
                if (i, col.bench) in dup_notes:
                    marks += notes.ref(dup_notes[(i, col.bench)])
                if s.missing:
                    marks += notes.ref(_incomplete_text(row, s, out_dir))
                else:
                    ftext = _failure_text(row, s)
                    if ftext:
                        marks += notes.ref(ftext)
            if s.missing:
                cells.append(f"*{INCOMPLETE}*" + marks)
                continue
            v = _value(s, col)
            if v is None:
                cells.append(DASH + marks)
                continue
            text = _fmt(v, col.decimals)
            judged = bool((s.res.protocol or {}).get("judge_model")) or len(s.res.per_run) > 1
            sd = _num((s.res.std or {}).get(col.metric))
            ci = _interval(s, col)
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
            bv = _value(base_row.chosen.get(col.bench), col) if base_row else None
            if bv is not None:
                p = paired.get((i, f"{col.bench}/{col.metric}"))
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

    lines += _render_provenance(shown)
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
            lines.append(f"| {row.label} | {s.res.benchmark} | {items} | `{_rel(s.path, out_dir)}` |")
        lines.append("")

    if plot_files:
        lines += ["## Plots", ""]
        for bench, name in plot_files:
            lines.append(f"![{bench}: headline metrics against iteration]({name})")
            lines.append("")

    lines += _render_reported(shown, reported, label_of)

    if skipped:
        lines += ["## Skipped files", "", "Results files that could not be read; nothing of them is shown above.", ""]
        lines += [f"- {text}" for text in sorted(skipped)]
        lines.append("")

    rendered = notes.render()
    if rendered:
        lines += ["## Notes", ""] + [n + "\n" for n in rendered]
    return "\n".join(lines).rstrip("\n") + "\n"


def _render_provenance(rows: list[Row]) -> list[str]:
    lines = [
        "## Provenance",
        "",
        "| Row | Run id | Base checkpoint | Images | Pairs | Manifest SHA-256 |",
        "|:--|:--|:--|--:|--:|:--|",
    ]
    for row in rows:
        if row.kind == "base":
            run_ids = sorted({s.res.model.run_id for ss in row.results.values() for s in ss if s.res.model.run_id})
            lines.append(f"| {row.label} | {', '.join(run_ids) or DASH} | {row.base} | {DASH} | {DASH} | {DASH} |")
            continue
        if row.kind == "seeds":
            lines += _render_provenance(row.members)[4:-1]
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
        lines.append(
            f"| {row.label} | {row.run_id or man.get('run_id') or DASH} | {base} | {images} | {pairs} | {sha} |"
        )
    lines.append("")
    return lines


def reported_numbers(registry: Any) -> list[Any]:
    """Published numbers declared by the registered methods and benchmarks (``reported``)."""
    out, seen = [], set()
    for table in (registry.methods, registry.benchmarks):
        for _, cls in sorted(table.items()):
            for r in getattr(cls, "reported", ()) or ():
                key = (r.table or r.source, r.model, tuple(sorted(r.values.items())))
                if key not in seen:  # a row two plugins both declare (a comparison table) is shown once
                    seen.add(key)
                    out.append(r)
    return out


def _render_reported(rows: list[Row], reported: list[Any], label_of: dict[str, str]) -> list[str]:
    lines = [
        "## Reported in papers (not measured here)",
        "",
        "Numbers as published, copied from the sources named; they are never mixed with the "
        "measured rows above and were produced with other judges and setups.",
        "",
    ]
    keys = list(dict.fromkeys(k for r in reported for k in r.values))
    keys.sort(key=lambda k: list(label_of).index(k) if k in label_of else len(label_of))
    if reported and keys:
        lines.append("| Source | Model | " + " | ".join(label_of.get(k, k) for k in keys) + " |")
        lines.append("|:--|:--|" + "|".join(["--:"] * len(keys)) + "|")
        for r in reported:
            vals = [f"{r.values[k]:g}" if k in r.values else DASH for k in keys]
            lines.append(f"| {r.source} | {r.model} | " + " | ".join(vals) + " |")
        lines.append("")
        for note in sorted({r.note for r in reported if r.note}):
            lines.append(f"- {note}")
    else:
        lines.append("- No registered method or benchmark declares published numbers.")
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


def _plots(rows: list[Row], columns: list[Column], out: Path) -> list[tuple[str, str, bytes]]:
    """One figure per benchmark: its headline metrics against iteration, one line per method variant,
    error bars from the judge runs' std where there is one, θ0 shared by every line."""
    base_rows = {r.base: r for r in rows if r.kind == "base"}
    made = []
    for bench in dict.fromkeys(c.bench for c in columns):
        panels = []
        for col in (c for c in columns if c.bench == bench and c.headline):
            series: dict[str, list[tuple[int, float, float, float]]] = defaultdict(list)
            for row in rows:
                if row.kind not in ("run", "seeds"):
                    continue
                s = row.chosen.get(col.bench)
                if row.kind == "seeds":
                    stats = _seed_stats(row, col)
                    if stats is None:
                        continue
                    v, err = stats[0], (stats[1], stats[1])
                else:
                    v = _value(s, col)
                    if v is None:
                        continue
                    err = _error_bar(s, col, v)
                label = row.display_variant
                if row.method and row.method != row.variant:
                    label = f"{row.method}: {label}"
                series[label].append((int(row.iteration or 0), v, *err))
                b = base_rows.get(row.base)
                bs = b.chosen.get(col.bench) if b else None
                bv = _value(bs, col)
                if bv is not None and all(p[0] != 0 for p in series[label]):
                    series[label].append((0, bv, *_error_bar(bs, col, bv)))
            if series:
                panels.append((col.header, col.lower_is_better, dict(series)))
        if not panels:
            continue
        slug = "".join(ch if ch.isalnum() else "_" for ch in bench).lower()
        name = f"{out.stem}_{slug}.png"
        made.append((bench, name, render_benchmark_plot(bench, panels)))
    return made


def _benchmark_labels(columns: list[Column], benchmark_classes: dict[str, type]) -> dict[str, str]:
    """ "bench/metric" -> column header, for the reported table (stored columns, then declared ones)."""
    labels = {f"{c.bench}/{c.metric}": c.header for c in columns}
    for bench, cls in sorted(benchmark_classes.items(), key=lambda kv: kv[0]):
        for c in sorted(_declared(getattr(cls, "columns", ())), key=lambda c: int(c.get("order", 100))):
            labels.setdefault(f"{bench}/{c['metric']}", c["label"] + (" ↓" if c.get("lower_is_better") else ""))
    return labels


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
    columns = leaderboard_columns(stored, reg.benchmarks, warnings)
    if strict and any("has no leaderboard column" in w for w in warnings):
        raise HarnessError("--strict: " + "; ".join(w for w in warnings if "has no leaderboard column" in w))
    rows = _rows(stored, {c.bench for c in columns})
    if not any(r.shown for r in rows) and out.exists() and not force:
        raise HarnessError(
            f"no stored results under {', '.join(map(str, dirs))}; {out} left unchanged "
            "(pass --force to overwrite it with an empty leaderboard)"
        )
    dup_notes = _choose(rows, columns, out.parent, warnings)
    for r in rows:
        if r.kind == "seeds":
            _choose(r.members, columns, out.parent, warnings)
    shown = [r for r in rows if r.shown]
    plots = _plots(shown, columns, out)
    paired = _paired_marks(rows, columns, reg.benchmarks)
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
        _benchmark_labels(columns, reg.benchmarks),
        paired=paired,
    )
    written = [atomic.write_bytes(out.parent / name, png) for _, name, png in plots]
    atomic.write_text(out, text)
    used = sum(len(ss) for r in rows for ss in r.results.values())
    return LeaderboardReport(
        out=out, plots=written, warnings=warnings, skipped=skipped, results_used=used, rows=len(shown), markdown=text
    )
