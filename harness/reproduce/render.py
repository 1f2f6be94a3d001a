"""The reproduced table beside the published one: markdown (``table.md``), a rich table, ``table.json``."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from harness import atomic
from harness.reproduce.grid import NOT_MEASURED
from harness.reproduce.options import Cell, ReproductionResult


def _num(value: float | None, decimals: int) -> str:
    return "–" if value is None else f"{value:.{decimals}f}"


def column_decimals(result: ReproductionResult, key: str) -> int:
    """As the paper prints the column (the table's ``decimals``; one by default)."""
    return dict(result.reproduction.decimals).get(key, 1)


def cell_text(cell: Cell, decimals: int = 1) -> str:
    """ "ours vs paper (Δ ours − paper)"; "not measured here" where the benchmark was not run."""
    if not cell.measured:
        return NOT_MEASURED + (f" (paper {_num(cell.paper, decimals)})" if cell.paper is not None else "")
    if cell.paper is None:
        return f"{_num(cell.ours, decimals)} (paper –)"
    if cell.ours is None:
        return f"– vs {_num(cell.paper, decimals)}"
    diff = cell.ours - cell.paper
    return (
        f"{_num(cell.ours, decimals)} vs {_num(cell.paper, decimals)} (Δ {'+' if diff >= 0 else '−'}"
        f"{_num(abs(diff), decimals)})"
    )


def paper_note_numbers(result: ReproductionResult) -> tuple[dict[str, int], list[str]]:
    """Each row's caveat on its published numbers, numbered by first use in row order: (reported model → N,
    the caveats in order); rows sharing a caveat share its number."""
    numbers: dict[str, int] = {}
    by_model: dict[str, int] = {}
    for row, _, _ in result.rows:
        note = result.paper_notes.get(row.reported_model or "")
        if note:
            by_model[row.reported_model or ""] = numbers.setdefault(note, len(numbers) + 1)
    return by_model, list(numbers)


def render_markdown(result: ReproductionResult) -> str:
    rep = result.reproduction
    number, notes = paper_note_numbers(result)
    lines = [
        f"# {rep.title}",
        "",
        f"Paper: {rep.source}. Ours: `harness reproduce {rep.name}`, runs under "
        f"`{result.out}`; benchmarks run: {', '.join(result.evals) or 'none'}.",
        "",
        'Each cell: ours vs the paper\'s number (Δ = ours − paper); "not measured here" where the benchmark '
        "was not run. ↓: lower is better.",
        "",
    ]
    lower = set(rep.lower_is_better)
    header = ["row", "run", *[label + (" ↓" if k in lower and "↓" not in label else "") for k, label in result.columns]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, run, cells in result.rows:
        lines.append(
            "| "
            + " | ".join(
                [
                    row.label + (f"[^p{number[row.reported_model]}]" if row.reported_model in number else ""),
                    f"{run} θ{row.iteration}",
                    *[cell_text(cells[k], column_decimals(result, k)) for k, _ in result.columns],
                ]
            )
            + " |"
        )
    lines += [""] + [f"- {n}" for n in rep.notes]
    if notes:  # footnotes: each caveat on the rows it qualifies
        lines += [""] + [f"[^p{n}]: Published numbers of this row: {note}" for n, note in enumerate(notes, 1)]
    return "\n".join(lines).rstrip() + "\n"


def render_rich(result: ReproductionResult) -> Table:
    rep = result.reproduction
    number, notes = paper_note_numbers(result)
    caption = "\n".join(
        [
            rep.source,
            *(escape(f"note {n}: published numbers of the rows marked so: {t}") for n, t in enumerate(notes, 1)),
        ]
    )
    table = Table(title=f"{rep.name}: ours vs paper (Δ)", caption=caption)
    table.add_column("row")
    for _, label in result.columns:
        table.add_column(label, justify="right")
    for row, _, cells in result.rows:
        mark = f" (note {number[row.reported_model]})" if row.reported_model in number else ""  # no [..]: rich markup
        table.add_row(row.label + mark, *[cell_text(cells[k], column_decimals(result, k)) for k, _ in result.columns])
    return table


def write_table(result: ReproductionResult) -> None:
    atomic.write_text(result.out / "table.md", render_markdown(result))
    atomic.write_json(result.out / "table.json", result.to_dict())


# ------------------------------------------------------------------------------------ dry run
