"""The rows and columns of the leaderboard, read from stored results only.

``scan_results`` reads every results file under the scanned folders (unreadable ones are listed, not
shown); ``leaderboard_columns`` takes each benchmark's columns from its results' protocol card (or
its plugin class); ``build_rows`` groups results into rows (θ0 of each base model, every method
variant × iteration, runs that differ only in the seed as one row) and ``choose`` picks the result a
cell shows. harness/report/leaderboard.py renders them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import atomic
from harness.errors import HarnessError
from harness.report.judge_slots import slot_key, slot_of
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
    unranked: bool = False  # no better direction (a yes-ratio): never bold; the header gets a footnote
    judge: str | None = None  # the judge whose results this column shows (harness/report/judge_slots.py)

    @property
    def slot(self) -> str:
        """The key of the results this column shows in ``Row.results``/``Row.chosen``: benchmark (and judge)."""
        return slot_key(self.bench, self.judge)

    @property
    def header(self) -> str:
        return self.label + (" ↓" if self.lower_is_better else "") + (f" (judge {self.judge})" if self.judge else "")


DASH = "–"
INCOMPLETE = "incomplete"


def declared(raw: Any) -> list[dict[str, Any]]:
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
        cols = declared((s.res.protocol or {}).get("columns"))
        if cols:
            by_bench[s.res.benchmark] = cols
    out: list[Column] = []
    for bench in sorted({s.res.benchmark for s in stored}):
        cols = by_bench.get(bench) or declared(getattr(benchmark_classes.get(bench), "columns", ()))
        if not cols:
            warnings.append(
                f"benchmark {bench!r} has no leaderboard column (its plugin declares none, or it is "
                "not installed); its results are not shown"
            )
            continue
        # a result stored before cards carried ``unranked`` takes it from the installed plugin
        unranked = {
            c["metric"] for c in declared(getattr(benchmark_classes.get(bench), "columns", ())) if c.get("unranked")
        }
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
                    unranked=bool(c.get("unranked", False)) or c["metric"] in unranked,
                )
            )
    return sorted(out, key=lambda c: (c.order, c.bench))  # stable: a benchmark's own order kept


@dataclass
class RunInfo:
    """A run folder's manifest, read once."""

    run_dir: Path
    manifest: dict[str, Any]
    sha256: str

    def _iteration_json(self, iteration: int, name: str) -> dict[str, Any] | None:
        """``iter<i>/<name>`` as a dict, or None when it is missing or unreadable."""
        path = self.run_dir / f"iter{iteration}" / name
        if not path.is_file():
            return None
        try:
            data = atomic.read_json(path)
        except HarnessError:
            return None
        return data if isinstance(data, dict) else None

    def stats(self, iteration: int) -> dict[str, Any] | None:
        return self._iteration_json(iteration, "stats.json")

    def audit(self, iteration: int) -> dict[str, Any] | None:
        """The summary of ``iter<i>/audit.json`` (harness/audit.py), or None before an audit."""
        summary = (self._iteration_json(iteration, "audit.json") or {}).get("summary")
        return summary if isinstance(summary, dict) else None

    def heldout(self, iteration: int) -> dict[str, Any] | None:
        """``iter<i>/heldout.json``: the reward margin of θi vs θi−1 on the held-out pairs (harness/evolve/heldout.py)."""
        return self._iteration_json(iteration, "heldout.json")

    def training(self, iteration: int) -> dict[str, Any] | None:
        """``iter<i>/train.json``: steps, loss and the trainer's last logged step (rewards, margins)."""
        return self._iteration_json(iteration, "train.json")


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


# ----------------------------------------------------------------------------------- scanning


def num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def find_run(path: Path, root: Path, cache: dict[Path, RunInfo | None], warnings: list[str]) -> RunInfo | None:
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
        run = find_run(real, root.resolve(), manifests, warnings)
        if run is not None and res.model.run_id and run.manifest.get("run_id") not in (None, res.model.run_id):
            warnings.append(
                f"{real}: model.run_id {res.model.run_id!r} differs from the manifest's "
                f"{run.manifest.get('run_id')!r}; provenance left out"
            )
            run = None
        stored.append(Stored(real, res, run))
    return stored


def file_result(row: Row, s: Stored) -> None:
    """A smoke result (``--limit``) is kept apart: never a candidate for the row's cell."""
    if s.subset is not None:
        row.smoke.append(s)
    else:
        row.results[slot_of(s.res)].append(s)  # one judge's results per slot: never mixed in a column


def build_rows(stored: list[Stored], benches: set[str]) -> list[Row]:
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
        file_result(row, s)
    # A model evaluated outside a run whose id is a base checkpoint is that θ0 row.
    for s in pending_models:
        m = s.res.model
        if ("base", m.id) in rows:
            row = rows[("base", m.id)]
        elif m.path and ("base", m.path) in rows:
            row = rows[("base", m.path)]
        else:
            row = rows.setdefault(("model", m.id), Row("model", m.base, model_id=m.id))
        file_result(row, s)
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
    return group_seeds(ordered)


_NOT_CONFIG = ("seed", "run_id", "created", "command", "git_rev", "history", "finished", "packages")


def config_key(run: RunInfo | None) -> str | None:
    """What a run's manifest says produced it, less the seed (None: no manifest, never grouped)."""
    if run is None:
        return None
    man = run.manifest
    config = man.get("config") if isinstance(man.get("config"), dict) else man
    return canon({k: v for k, v in config.items() if k not in _NOT_CONFIG})


def group_seeds(rows: list[Row]) -> list[Row]:
    """Runs of one configuration that differ only in the seed become one row per iteration (mean ± std
    over seeds); each run stays a member of it."""
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        key = config_key(r.run)
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


def seed_stats(row: Row, col: Column) -> tuple[float, float, int] | None:
    """(mean, sample std, n) of a column over a seeds row's runs; None unless every run has a value."""
    values = [value_of(m.chosen.get(col.slot), col) for m in row.members]
    if not values or any(v is None for v in values):
        return None
    arr = np.array(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, len(arr)


def row_value(row: Row, col: Column) -> float | None:
    if row.kind == "seeds":
        stats = seed_stats(row, col)
        return stats[0] if stats else None
    return value_of(row.chosen.get(col.slot), col)


def rel(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:
        return path.as_posix()


def canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)


def value_of(s: Stored | None, col: Column) -> float | None:
    if s is None or s.missing:
        return None
    return num(s.res.metrics.get(col.metric))


def interval(s: Stored | None, col: Column) -> tuple[float, float] | None:
    """The stored 95 % bootstrap interval of a rule-based metric, if the benchmark gives one."""
    if s is None:
        return None
    ci = (getattr(s.res, "intervals", None) or {}).get(col.metric)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(num(x) is not None for x in ci):
        return float(ci[0]), float(ci[1])
    return None


def error_bar(s: Stored, col: Column, value: float) -> tuple[float, float]:
    """(below, above) the value: the bootstrap interval where stored, else ± the std over judge runs."""
    ci = interval(s, col)
    if ci is not None:
        return max(0.0, value - ci[0]), max(0.0, ci[1] - value)
    sd = num((s.res.std or {}).get(col.metric)) or 0.0
    return sd, sd


def choose(rows: list[Row], columns: list[Column], out_dir: Path, warnings: list[str]) -> dict[tuple[int, str], str]:
    """Pick the newest complete result per (row, benchmark), else the newest incomplete one (shown as
    incomplete); note where several complete ones disagree."""
    notes: dict[tuple[int, str], str] = {}
    for i, row in enumerate(rows):
        for bench, cands in sorted(row.results.items()):
            cands = sorted(cands, key=Stored.sort_key)
            complete = [c for c in cands if not c.missing]
            newest = (complete or cands)[-1]
            row.chosen[bench] = newest
            metric_names = [c.metric for c in columns if c.slot == bench]  # ``bench``: the slot (judge_slots.py)
            distinct = {canon({k: c.res.metrics.get(k) for k in metric_names}) for c in complete}
            if len(distinct) > 1:
                others = ", ".join(f"`{rel(c.path, out_dir)}`" for c in complete[:-1])
                notes[(i, bench)] = (
                    f"{row.label}, {bench}: {len(complete)} stored results with different "
                    f"numbers; the newest is shown (`{rel(newest.path, out_dir)}`, "
                    f"created {newest.res.created or 'unknown'}); also stored: {others}."
                )
                warnings.append(notes[(i, bench)])
            later = [c for c in cands if c.missing and c.sort_key() > newest.sort_key()]
            if complete and later:
                notes[(i, bench)] = (
                    notes.get((i, bench), "")
                    + (f" A later attempt is incomplete and was not used: `{rel(later[-1].path, out_dir)}`.").lstrip()
                )
            missing = [m for m in metric_names if m not in newest.res.metrics and not newest.missing]
            if missing:
                warnings.append(
                    f"{newest.path}: no metric {', '.join(map(repr, missing))} for {bench} "
                    f"(has {', '.join(sorted(newest.res.metrics))}); shown as {DASH}"
                )
    return notes
