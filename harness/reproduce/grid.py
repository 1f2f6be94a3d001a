"""A paper's table as a plugin declares it (``GridRow``, ``Reproduction``) and as runs (``PlannedRun``):
which rows share one evolve run, which share θ1's pairs, and the published values of each row."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.errors import HarnessError

NOT_MEASURED = "not measured here"


@dataclass(frozen=True)
class GridRow:
    """One row of a published table and how to produce it.

    ``label``: as printed (e.g. "θ1^SQ"); ``method``/``variant``/``options``: the evolve run that
    produces it (``options``: ``--set`` values); ``iteration``: the θi of that run the row shows
    (0 = the base model); ``reported_model``: the ``ReportedNumbers.model`` holding the paper's
    numbers in the table's ``reported_table`` (None: the paper prints no such row).
    """

    label: str
    method: str
    variant: str | None = None
    options: tuple[str, ...] = ()
    iteration: int = 1
    reported_model: str | None = None

    @property
    def run_key(self) -> str:
        text = self.method + (f"-{self.variant}" if self.variant else "")
        if self.options:
            text += "-" + "-".join(sorted(self.options))
        return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")


@dataclass(frozen=True)
class Reproduction:
    """A published table ``harness reproduce <name>`` re-runs.

    ``columns``: (``"<benchmark>/<metric>"``, header) in the paper's order; ``lower_is_better``
    marks the ↓ columns; ``decimals``: columns printed with other than one decimal (e.g. 2 for a
    1.90 score); ``reported_table``: the ``ReportedNumbers.table`` with the paper's numbers;
    ``source``: the public source of the table (paper and table number, or repository and commit).
    """

    name: str
    title: str
    source: str
    rows: tuple[GridRow, ...]
    columns: tuple[tuple[str, str], ...]
    reported_table: str
    lower_is_better: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    decimals: tuple[tuple[str, int], ...] = ()

    @property
    def benchmarks(self) -> list[str]:
        return list(dict.fromkeys(key.split("/", 1)[0] for key, _ in self.columns))


@dataclass
class PlannedRun:
    """One evolve run of a reproduction: the rows it serves and how far it goes."""

    key: str
    method: str
    variant: str | None
    options: tuple[str, ...]
    iters: int
    rows: list[GridRow] = field(default_factory=list)
    eval_theta0: bool = False
    share_from: str | None = None  # an earlier run of the table with the same θ1 synthesis (key)


def known_reproductions(reg=None) -> dict[str, tuple[Reproduction, type]]:
    """Every table declared by the installed method plugins: name → (Reproduction, method class)."""
    from harness.plugins import registry

    reg = reg or registry()
    out: dict[str, tuple[Reproduction, type]] = {}
    for cls in reg.methods.values():
        for rep in getattr(cls, "reproductions", ()) or ():
            if rep.name in out and out[rep.name][1] is not cls:
                raise HarnessError(
                    f"two method plugins declare the table {rep.name!r}: "
                    f"{out[rep.name][1].__module__} and {cls.__module__}"
                )
            out[rep.name] = (rep, cls)
    return out


def find_reproduction(name: str, reg=None) -> tuple[Reproduction, type]:
    known = known_reproductions(reg)
    if name not in known:
        raise HarnessError(f"unknown table {name!r}; known tables: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def plan_runs(rep: Reproduction) -> list[PlannedRun]:
    """The evolve runs of a table, in row order; the first one evaluates θ0 (once for all)."""
    runs: dict[str, PlannedRun] = {}
    for row in rep.rows:
        key = row.run_key
        run = runs.get(key)
        if run is None:
            run = runs[key] = PlannedRun(key, row.method, row.variant, row.options, max(1, row.iteration))
        run.iters = max(run.iters, row.iteration, 1)
        run.rows.append(row)
    planned = list(runs.values())
    if planned and any(r.iteration == 0 for r in rep.rows):
        owner = next(r for r in planned if any(row.iteration == 0 for row in r.rows))
        owner.eval_theta0 = True
    return planned


def synthesis_key(cls: type, run: PlannedRun, overrides: Sequence[str] = ()) -> str:
    """What θ1's pairs depend on: the method and its synthesis options (``Method.synthesis_config()`` where
    a method declares which options only shape training, else its whole config)."""
    from harness.method import build_config

    method = cls(build_config(cls, [*run.options, *overrides], run.variant))
    config = getattr(method, "synthesis_config", method.config_dict)()
    return json.dumps([run.method, config], sort_keys=True, default=str)


def share_synthesis(runs: Sequence[PlannedRun], reg=None, overrides: Sequence[str] = ()) -> None:
    """Point each run at the first earlier run with the same θ1 synthesis (e.g. θ1^Base and θ1^CA differ only
    in the loss): its pairs and reference log-probs are copied instead of generated again."""
    from harness.plugins import registry

    reg = reg or registry()
    first: dict[str, str] = {}
    for run in runs:
        key = synthesis_key(reg.method(run.method), run, overrides)
        if key in first:
            run.share_from = first[key]
        else:
            first[key] = run.key


def reported_values(rep: Reproduction, reg=None) -> dict[str, dict[str, float]]:
    """The paper's numbers of each row (by reported model name) from the plugins' ``reported``."""
    from harness.plugins import registry

    reg = reg or registry()
    out: dict[str, dict[str, float]] = {}
    for cls in reg.methods.values():
        for rn in getattr(cls, "reported", ()) or ():
            if rn.table == rep.reported_table:
                out[rn.model] = dict(rn.values)
    return out


def reported_notes(rep: Reproduction, reg=None) -> dict[str, str]:
    """The caveat the plugins attach to each row's published numbers (``ReportedNumbers.note``), by reported
    model name; rows without one are absent."""
    from harness.plugins import registry

    reg = reg or registry()
    return {
        rn.model: rn.note
        for cls in reg.methods.values()
        for rn in getattr(cls, "reported", ()) or ()
        if rn.table == rep.reported_table and rn.note
    }


# ------------------------------------------------------------------------------------ running a table
