"""Which judge scored a result, and the leaderboard's rule that one column holds one judge's numbers.

A judged benchmark's result names its judge on its protocol card (``judge_model``); a rule-based one has
none. The leaderboard files every result under a *slot*: the benchmark for a rule-based result, the
benchmark and its judge for a judged one (``slot_of``). Each column shows one slot, so numbers from two
judges never share a column: when the stored results of a benchmark were scored by several judges
(``harness rejudge`` stores the new judge's result beside the original), the benchmark gets one set of
columns per judge, each headed with its judge (``split_by_judge``), and a cell says which judge scored it
through its column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any


def judge_of(res: Any) -> str | None:
    """The judge model that scored a ``Results`` (its protocol card's ``judge_model``), None when rule-based."""
    judge = (getattr(res, "protocol", None) or {}).get("judge_model")
    return judge if isinstance(judge, str) and judge else None


def slot_key(bench: str, judge: str | None) -> str:
    """The key a row files a result under: ``bench``, or ``"bench (judge <model>)"`` for a judged one."""
    return bench if judge is None else f"{bench} (judge {judge})"


def slot_of(res: Any) -> str:
    """The slot of a ``Results``: its benchmark and, when judged, its judge."""
    return slot_key(res.benchmark, judge_of(res))


def split_by_judge(columns: Iterable[Any], results: Iterable[Any]) -> list[Any]:
    """One copy of each judged benchmark's columns per judge among ``results`` (``Results`` objects), in the
    columns' order; the judges in the order they first scored the benchmark: an original judge before the ones
    that rejudged its predictions, then by the earliest ``created`` of their results, ties by name. Rule-based benchmarks'
    columns as they are. ``columns`` are the leaderboard's ``Column`` dataclasses (their ``judge`` is set here).
    """
    # benchmark → judge → (whether it only rejudged, earliest created): a judge that scored predictions first
    # comes before the ones that rejudged them, whatever the clock says (both can fall in the same second)
    first: dict[str, dict[str, tuple[bool, str]]] = {}
    for res in results:
        judge = judge_of(res)
        if judge is not None:
            seen = first.setdefault(res.benchmark, {})
            key = (bool(getattr(res, "rejudge", None)), res.created or "")
            seen[judge] = min(seen.get(judge, key), key)
    out: list[Any] = []
    for col in columns:
        found = sorted(first.get(col.bench, {}).items(), key=lambda kv: (kv[1], kv[0]))
        out.extend([dataclasses.replace(col, judge=j) for j, _ in found] or [col])
    # each judge's columns together, in the benchmark's declared order
    rank = {
        (bench, j): i
        for bench, seen in first.items()
        for i, (j, _) in enumerate(sorted(seen.items(), key=lambda kv: (kv[1], kv[0])))
    }
    order = {id(c): i for i, c in enumerate(out)}
    return sorted(out, key=lambda c: (c.order, c.bench, rank.get((c.bench, c.judge), -1), order[id(c)]))


def reported_judge_text(reported: Any, judged: set[str]) -> str:
    """The judge cell of a published-numbers row: each judge the source used and the benchmarks it scored,
    "not stated" for a judged benchmark whose judge the source does not name, "none" when nothing was judged.

    ``reported``: a ``ReportedNumbers``; ``judged``: the names of the benchmarks that need a judge.
    """
    declared = dict(getattr(reported, "judges", None) or {})
    benches = list(dict.fromkeys(key.split("/", 1)[0] for key in reported.values))
    by_judge: dict[str, list[str]] = {}
    for bench in benches:
        if bench in declared or bench in judged:
            by_judge.setdefault(declared.get(bench, "not stated"), []).append(bench)
    if not by_judge:
        return "none (rule-based)"
    order = sorted(by_judge, key=lambda j: (j == "not stated", j))
    return "; ".join(f"{judge} ({', '.join(by_judge[judge])})" for judge in order)
