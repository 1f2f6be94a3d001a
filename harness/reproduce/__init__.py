"""``harness reproduce <table>``: re-run a paper's table and print it beside the published numbers.

A method plugin declares the tables its paper publishes (``Method.reproductions``, a tuple of
``Reproduction``): the rows (each a method, a variant or options, and the iteration θi the row
shows), the benchmarks and metric columns, and which ``ReportedNumbers`` (``Method.reported``) hold
the paper's numbers. The engine knows no table by name.

Running a table:

- the rows become evolve runs (``harness.evolve.evolve``): rows with the same method, variant and
  options share one run, which goes as far as the row with the highest θi (Table 1's θ1, θ2, θ3 are
  one 3-iteration run); every run lives in ``<out>/<row key>/`` and resumes like ``harness evolve``;
- shared: the base model θ0 is evaluated once (by the first run; the others skip θ0's evaluation);
  every run uses the same seed and image source, so every row's θ1 is trained on the same images
  (the sampler's iteration i does not depend on the number of iterations drawn); and rows whose θ1
  pairs cannot differ (the same method and synthesis options, ``Method.synthesis_config()``; e.g.
  rows that differ only in the loss) copy θ1's pairs and reference log-probs from the first such run
  instead of generating them again (recorded as ``shared_from`` in the stage marker and stats.json);
- then ``table.md`` and ``table.json`` in ``<out>``: per row and column the paper's number, ours and
  the difference; "not measured here" where a benchmark was not run (e.g. on the built-in tiny model,
  which runs a synthetic benchmark: its columns are added with no paper number).

``--dry-run`` creates nothing: it lists the runs, the generations they make (synthesis estimates by
each method, plus one answer per benchmark item and evaluated model) and the judge calls and their
estimated cost (each judged benchmark's own dry run, times the models it scores).

Modules: grid.py (the declared table and its runs), options.py (options, cells, result), run.py
(``reproduce``, ``collect``), render.py (markdown, rich, json), dry_run.py (``--dry-run``).
"""

from harness.reproduce.dry_run import DryRun, dry_run
from harness.reproduce.grid import (
    NOT_MEASURED,
    GridRow,
    PlannedRun,
    Reproduction,
    find_reproduction,
    known_reproductions,
    plan_runs,
    reported_values,
    share_synthesis,
    synthesis_key,
)
from harness.reproduce.options import (
    Cell,
    ReproduceOptions,
    ReproductionResult,
    check_options,
    default_out,
    resolve_evals,
)
from harness.reproduce.render import cell_text, column_decimals, render_markdown, render_rich, write_table
from harness.reproduce.run import collect, reproduce

__all__ = [
    "NOT_MEASURED",
    "Cell",
    "DryRun",
    "GridRow",
    "PlannedRun",
    "ReproduceOptions",
    "Reproduction",
    "ReproductionResult",
    "cell_text",
    "check_options",
    "collect",
    "column_decimals",
    "default_out",
    "dry_run",
    "find_reproduction",
    "known_reproductions",
    "plan_runs",
    "render_markdown",
    "render_rich",
    "reported_values",
    "reproduce",
    "resolve_evals",
    "share_synthesis",
    "synthesis_key",
    "write_table",
]
