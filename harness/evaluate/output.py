"""What `harness eval` prints and where a score goes: metrics and failures, the output paths, and the error
for a result with judgements still missing."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.benchmark import Benchmark, ScoreReport
from harness.errors import HarnessError
from harness.evaluate.models import RESULTS_FILENAME, results_path
from harness.report.results import ModelRef
from harness.report.store import (
    ResultSlot,
    result_slot,
)


def print_metrics(console: Console, bench: str, model_id: str, report: ScoreReport) -> None:
    console.print(f"[bold]{bench}[/bold] · {model_id}", highlight=False)
    table = Table("metric", "mean ± std" if report.std else "value")
    for name, value in report.metrics.items():
        std = report.std.get(name)
        table.add_row(name, f"{value:.2f} ± {std:.2f}" if std is not None else f"{value:.2f}")
    console.print(table)


def print_failures(console: Console, report: ScoreReport, n_items: int, usage: dict[str, Any]) -> None:
    if not report.failures.get("total"):
        return
    table = Table(
        "judge run",
        "failed judgements",
        "items",
        title="Judge failures (left out of the headline)",
        title_style="bold red",
    )
    for key, count in report.failures.items():
        if key != "total":
            table.add_row(key, str(count), str(n_items))
    table.add_row("total", str(report.failures["total"]), "")
    console.print(table)
    reasons = usage.get("failure_reasons") or {}
    if reasons:
        console.print("reasons: " + ", ".join(f"{k} × {v}" for k, v in reasons.items()), highlight=False)


def output_paths(
    out: Path | None, ref: ModelRef, bench: Benchmark, runs_dir: Path, results_dir: Path, limit: int | None
) -> ResultSlot:
    if out is None:
        results_file = results_path(ref, bench.name, runs_dir, results_dir)
    else:
        out = Path(out)
        results_file = out if out.suffix == ".json" else out / RESULTS_FILENAME
    name = getattr(bench, "predictions_filename", None) or "predictions.jsonl"
    return result_slot(results_file, name, limit)


class IncompleteResultError(HarnessError):
    """Scoring finished with judgements missing: the partial state is stored apart, nothing became a result.

    The CLI exits with ``exit_code`` (1), not 2: the input was fine, the judge was not.
    """

    exit_code = 1

    def __init__(self, message: str, partial: Path | None = None) -> None:
        super().__init__(message)
        self.partial = partial


def missing_message(
    bench: str, missing: list[dict[str, Any]], judgements: int, slot: ResultSlot, use_cache: bool
) -> str:
    reasons = Counter(re.sub(r"^judge_error: ", "", str(m.get("reason") or "no answer")) for m in missing)
    why = ", ".join(f"{reason} × {n}" for reason, n in reasons.most_common(3))
    kept = f"{slot.results} is unchanged" if slot.results.exists() else "nothing was stored as a result"
    answered = max(judgements - len(missing), 0)
    if use_cache:
        how = f"rerun the same command: it asks the judge only for these {len(missing)}" + (
            f" (the judge cache holds the other {answered})" if answered else ""
        )
    else:
        how = "rerun the same command without --no-judge-cache, so that the judge cache keeps what was answered"
    return (
        f"{bench}: {len(missing)} of {judgements} judgements are missing (the judge never answered: {why}); "
        f"the result is incomplete and {kept}. Partial state: {slot.partial}. To complete it, {how}."
    )
