"""Paired comparison of two models on the same benchmark items, from stored results only.

Per-item records of a results.json (``Results.records``) are read through these fields:

- ``id`` (str or int): the item id; pairs A's and B's records. Duplicates are an error.
- ``correct`` (bool): right/wrong items (circular multiple-choice hits, yes/no questions). Compared with an
  exact McNemar test (two-sided binomial test on the discordant pairs, scipy).
- ``score`` (number): graded items (judge ratings, mean over judge runs).
  Compared with a paired bootstrap over items (seeded; scipy.stats.bootstrap on the per-item
  differences B − A).
- A record whose ``score``/``correct`` is missing or null (a failed judgement) is left out of
  the test and counted.

A results file may hold both kinds (generative items graded, discriminative ones
right/wrong); then both tests are reported, each on its own items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.report.results import Results, load_results


@dataclass
class Flip:
    """One item whose outcome differs between A and B."""

    id: str
    a: float | bool
    b: float | bool


@dataclass
class McNemarResult:
    """Exact McNemar on right/wrong items: b_only = B right where A was wrong, and so on."""

    n: int
    both_right: int
    both_wrong: int
    a_only: int  # A right, B wrong (lost by B)
    b_only: int  # A wrong, B right (gained by B)
    acc_a: float
    acc_b: float
    p_value: float
    gained: list[Flip] = field(default_factory=list)
    lost: list[Flip] = field(default_factory=list)


@dataclass
class BootstrapResult:
    """Paired bootstrap of the mean per-item difference B − A on graded items."""

    n: int
    mean_a: float
    mean_b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    resamples: int
    seed: int
    confidence: float = 0.95
    improved: list[Flip] = field(default_factory=list)  # B > A, largest change first
    worsened: list[Flip] = field(default_factory=list)  # B < A, largest change first
    ties: int = 0


@dataclass
class ComparisonReport:
    """What ``compare`` found. ``a_path``/``b_path`` are the results files read."""

    bench: str
    a_label: str
    b_label: str
    a_path: Path
    b_path: Path
    mcnemar: McNemarResult | None = None
    bootstrap: BootstrapResult | None = None
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    unscored: list[str] = field(default_factory=list)  # paired ids left out (failed judgement)
    warnings: list[str] = field(default_factory=list)


def resolve_results(target: Path, bench: str) -> Path:
    """A results.json for ``bench`` from a file, a model folder, or an iteration folder."""
    target = Path(target)
    if target.is_file():
        return target
    for cand in (target / bench / "results.json", target / "eval" / bench / "results.json"):
        if cand.is_file():
            return cand
    if target.is_dir():
        hits = sorted(p for p in target.rglob("results.json") if p.parent.name == bench)
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise HarnessError(
                f"{target}: {len(hits)} results files for {bench!r} below it "
                f"({', '.join(map(str, hits[:3]))}…); name one file"
            )
    raise HarnessError(
        f"{target}: no results.json for benchmark {bench!r} "
        f"(looked for {bench}/results.json and eval/{bench}/results.json)"
    )


def _records(res: Results, path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i, rec in enumerate(res.records):
        if not isinstance(rec, dict) or "id" not in rec:
            raise HarnessError(f"{path}: record {i} has no 'id'")
        key = str(rec["id"])
        if key in out:
            raise HarnessError(f"{path}: duplicated record id {key!r}")
        out[key] = rec
    return out


def _score(rec: dict[str, Any], path: Path) -> float | None:
    v = rec.get("score")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise HarnessError(f"{path}: record {str(rec.get('id'))!r} has a non-numeric score {v!r}")
    return float(v)


def _correct(rec: dict[str, Any], path: Path) -> bool | None:
    v = rec.get("correct")
    if v is None:
        return None
    if not isinstance(v, bool):
        raise HarnessError(f"{path}: record {str(rec.get('id'))!r} has a non-boolean 'correct' {v!r}")
    return v


def _id_key(item_id: str) -> tuple:
    return (0, int(item_id), "") if item_id.lstrip("-").isdigit() else (1, 0, item_id)


def mcnemar(pairs: list[tuple[str, bool, bool]]) -> McNemarResult:
    """Exact two-sided McNemar test: a binomial test of B-only against A-only hits at p = 1/2."""
    from scipy.stats import binomtest

    a_only = [Flip(i, a, b) for i, a, b in pairs if a and not b]
    b_only = [Flip(i, a, b) for i, a, b in pairs if b and not a]
    discordant = len(a_only) + len(b_only)
    p = 1.0 if discordant == 0 else float(binomtest(len(b_only), discordant, 0.5).pvalue)
    n = len(pairs)
    return McNemarResult(
        n=n,
        both_right=sum(1 for _, a, b in pairs if a and b),
        both_wrong=sum(1 for _, a, b in pairs if not a and not b),
        a_only=len(a_only),
        b_only=len(b_only),
        acc_a=sum(a for _, a, _ in pairs) / n if n else float("nan"),
        acc_b=sum(b for _, _, b in pairs) / n if n else float("nan"),
        p_value=min(1.0, p),
        gained=sorted(b_only, key=lambda f: _id_key(f.id)),
        lost=sorted(a_only, key=lambda f: _id_key(f.id)),
    )


def paired_bootstrap(
    pairs: list[tuple[str, float, float]], *, resamples: int = 10_000, seed: int = 0, confidence: float = 0.95
) -> BootstrapResult:
    """Paired bootstrap over items of the mean difference B − A.

    The items are resampled with replacement (seeded, so the same input gives the same
    numbers). The CI is the percentile interval; the two-sided p-value is the share of
    resampled differences, centred on the observed one, at least as far from it as the
    observed difference is from 0, with the (1 + k)/(1 + B) correction.
    """
    from scipy.stats import bootstrap

    n = len(pairs)
    if n == 0:
        raise HarnessError("no paired graded items to compare")
    a = np.array([p[1] for p in pairs], dtype=float)
    b = np.array([p[2] for p in pairs], dtype=float)
    d = b - a
    delta = float(d.mean())
    if np.all(d == d[0]):  # degenerate: every resample gives the same mean
        lo = hi = delta
        p = 1.0 if delta == 0 else 1.0 / (resamples + 1)
    else:
        res = bootstrap(
            (d,),
            np.mean,
            n_resamples=resamples,
            vectorized=True,
            paired=False,
            confidence_level=confidence,
            method="percentile",
            batch=1000,
            rng=np.random.default_rng(seed),
        )
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        dist = np.asarray(res.bootstrap_distribution, dtype=float)
        extreme = int(np.sum(np.abs(dist - delta) >= abs(delta) - 1e-12))
        p = (1 + extreme) / (1 + resamples)
    improved = sorted((Flip(i, x, y) for i, x, y in pairs if y > x), key=lambda f: (-(f.b - f.a), _id_key(f.id)))
    worsened = sorted((Flip(i, x, y) for i, x, y in pairs if y < x), key=lambda f: (f.b - f.a, _id_key(f.id)))
    return BootstrapResult(
        n=n,
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        delta=delta,
        ci_low=lo,
        ci_high=hi,
        p_value=min(1.0, p),
        resamples=resamples,
        seed=seed,
        confidence=confidence,
        improved=improved,
        worsened=worsened,
        ties=int(np.sum(d == 0)),
    )


def compare(
    a: Path, b: Path, bench: str, *, resamples: int = 10_000, seed: int = 0, confidence: float = 0.95
) -> ComparisonReport:
    """Compare models A and B on ``bench`` over the items both were scored on.

    ``a``/``b``: a results.json, or a folder holding ``<bench>/results.json`` (``results/<model>``)
    or ``eval/<bench>/results.json`` (``runs/<run>/iter<i>``).
    """
    pa, pb = resolve_results(a, bench), resolve_results(b, bench)
    ra, rb = load_results(pa), load_results(pb)
    for res, path in ((ra, pa), (rb, pb)):
        if res.benchmark != bench:
            raise HarnessError(f"{path}: results are for benchmark {res.benchmark!r}, not {bench!r}")
    reca, recb = _records(ra, pa), _records(rb, pb)
    if not reca:
        raise HarnessError(f"{pa}: no per-item records to compare")
    if not recb:
        raise HarnessError(f"{pb}: no per-item records to compare")
    report = ComparisonReport(bench=bench, a_label=ra.model.id, b_label=rb.model.id, a_path=pa, b_path=pb)
    report.only_in_a = sorted(set(reca) - set(recb), key=_id_key)
    report.only_in_b = sorted(set(recb) - set(reca), key=_id_key)
    if _canon_protocol(ra) != _canon_protocol(rb):
        report.warnings.append(
            "A and B were scored under different protocol cards "
            "(judge, prompt or data version); differences may come from that"
        )
    if report.only_in_a or report.only_in_b:
        report.warnings.append(
            f"{len(report.only_in_a)} item(s) only in A and {len(report.only_in_b)} only in B are left out"
        )
    graded: list[tuple[str, float, float]] = []
    binary: list[tuple[str, bool, bool]] = []
    for item in sorted(set(reca) & set(recb), key=_id_key):
        x, y = reca[item], recb[item]
        if "correct" in x or "correct" in y:
            cx, cy = _correct(x, pa), _correct(y, pb)
            if cx is None or cy is None:
                report.unscored.append(item)
            else:
                binary.append((item, cx, cy))
        elif "score" in x or "score" in y:
            sx, sy = _score(x, pa), _score(y, pb)
            if sx is None or sy is None:
                report.unscored.append(item)
            else:
                graded.append((item, sx, sy))
        else:
            raise HarnessError(f"{pa}: record {item!r} has neither 'score' nor 'correct'")
    if not graded and not binary:
        raise HarnessError(f"{pa} and {pb}: no item has a score on both sides")
    if binary:
        report.mcnemar = mcnemar(binary)
    if graded:
        report.bootstrap = paired_bootstrap(graded, resamples=resamples, seed=seed, confidence=confidence)
    if report.unscored:
        report.warnings.append(
            f"{len(report.unscored)} paired item(s) without a score on one side (failed judgement) are left out"
        )
    return report


def _canon_protocol(res: Results) -> str:
    import json

    card = dict(res.protocol or {})
    card.pop("reference_numbers", None)
    return json.dumps(card, sort_keys=True, default=str)


def render_comparison(report: ComparisonReport, *, max_items: int = 20):
    """A rich renderable (tables) of the comparison, for the CLI to print."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [
        Text(
            f"{report.bench}: A = {report.a_label} ({report.a_path})\n"
            f"{' ' * len(report.bench)}  B = {report.b_label} ({report.b_path})"
        )
    ]
    if report.bootstrap:
        bs = report.bootstrap
        t = Table(title=f"Graded items: paired bootstrap ({bs.resamples} resamples, seed {bs.seed})")
        for c in ("items", "mean A", "mean B", "Δ (B − A)", f"{100 * bs.confidence:g}% CI", "p"):
            t.add_column(c, justify="right")
        t.add_row(
            str(bs.n),
            f"{bs.mean_a:.4g}",
            f"{bs.mean_b:.4g}",
            f"{bs.delta:+.4g}",
            f"[{bs.ci_low:+.4g}, {bs.ci_high:+.4g}]",
            f"{bs.p_value:.4g}",
        )
        parts.append(t)
        parts.append(
            _flip_table("Changed items", [("B better", bs.improved), ("B worse", bs.worsened)], max_items, graded=True)
        )
    if report.mcnemar:
        mc = report.mcnemar
        t = Table(title="Right/wrong items: exact McNemar")
        for c in ("items", "acc A", "acc B", "both right", "both wrong", "A only", "B only", "p"):
            t.add_column(c, justify="right")
        t.add_row(
            str(mc.n),
            f"{mc.acc_a:.4f}",
            f"{mc.acc_b:.4f}",
            str(mc.both_right),
            str(mc.both_wrong),
            str(mc.a_only),
            str(mc.b_only),
            f"{mc.p_value:.4g}",
        )
        parts.append(t)
        parts.append(
            _flip_table(
                "Flipped items", [("wrong → right", mc.gained), ("right → wrong", mc.lost)], max_items, graded=False
            )
        )
    for w in report.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    return Group(*parts)


def _flip_table(title: str, groups: list[tuple[str, list[Flip]]], max_items: int, *, graded: bool):
    from rich.table import Table

    t = Table(title=title)
    t.add_column("change")
    t.add_column("item")
    t.add_column("A", justify="right")
    t.add_column("B", justify="right")
    for name, flips in groups:
        for f in flips[:max_items]:
            t.add_row(name, f.id, f"{f.a:g}" if graded else str(f.a), f"{f.b:g}" if graded else str(f.b))
        if len(flips) > max_items:
            t.add_row(name, f"… {len(flips) - max_items} more", "", "")
        if not flips:
            t.add_row(name, "none", "", "")
    return t
