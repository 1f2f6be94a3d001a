"""The evaluation stage: θi scored on each benchmark of the run (``--eval``), results stored per iteration."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from harness.evolve.options import EvolveOptions
from harness.progress import stage_end, stage_start
from harness.runs import Run


def checkpoint_path(run: Run, i: int, base_path: Path) -> Path:
    """θi's checkpoint folder; θ0 is the base model."""
    return base_path if i == 0 else run.iter_dir(i) / "checkpoint"


def evaluate_stage(
    run: Run, i: int, base_path: Path, opts: EvolveOptions, console: Console, label: str, helpers=None
) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = {}
    for bench in opts.evals:
        results_path = run.iter_dir(i) / "eval" / bench / "results.json"
        stage = f"eval-{i}-{bench}"
        if not run.done(stage):
            title = f"θ{i} · evaluate on {bench}"
            t_stage = stage_start(console, title)
            from harness.evaluate import evaluate
            from harness.report.results import ModelRef

            ref = ModelRef(
                id=f"{run.id}/theta{i}" if i else str(opts.model),
                path=str(checkpoint_path(run, i, base_path)),
                run_id=run.id,
                iteration=i,
                method=opts.method,
                variant=label,
                base=str(opts.model),
            )
            evaluate(
                bench,
                model=checkpoint_path(run, i, base_path),
                out=results_path,
                model_ref=ref,
                backend="hf",
                console=console,
                helpers=helpers,
                **opts.eval_options,
            )
            run.mark_done(stage)
            stage_end(console, title, t_stage, str(results_path))
        from harness.report.results import load_results

        metrics[bench] = load_results(results_path).metrics
    return metrics
