"""`evaluate`: one (model, benchmark) pair from options to a stored results.json (the package docstring
says how, step by step)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from harness import atomic
from harness.benchmark import BenchItem, Benchmark
from harness.errors import HarnessError
from harness.evaluate.data_check import check_release_data, own_data_card
from harness.evaluate.data_digest import items_digest
from harness.evaluate.dry_run import DryRunReport, dry_run_report
from harness.evaluate.generate import generate_predictions, load_items
from harness.evaluate.models import DEFAULT_DATA_ROOT, DEFAULT_RESULTS_DIR, DEFAULT_RUNS_DIR, resolve_model
from harness.evaluate.output import IncompleteResultError, missing_message, output_paths, print_failures, print_metrics
from harness.journal import Journal, recorded
from harness.judge.types import JudgeReply, JudgeRequest
from harness.plugins import Registry, registry
from harness.report.results import ModelRef, Results, make_identity
from harness.report.store import (
    file_sha256,
    folder_sha256,
    items_identity,
    record_generation,
    remove_partial,
    reusable_predictions,
    stored_result,
)
from harness.runs import RunLock


def _instantiate(cls: type, judge_model: str, judge_runs: int, options: dict[str, Any] | None) -> Benchmark:
    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {}
    for name, value in (("judge_model", judge_model), ("judge_runs", judge_runs)):
        if name in params or accepts_any:
            kwargs[name] = value
    for name, value in (options or {}).items():
        if name not in params and not accepts_any:
            known = ", ".join(p for p in params if p != "self") or "none"
            raise HarnessError(f"benchmark {cls.name!r} has no option {name!r} (options: {known})")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise HarnessError(f"benchmark {cls.name!r}: bad options ({exc})") from None


class _TrackingJudge:
    """Passes requests to a judge and remembers, per (request key, judge run), whether the last attempt
    was answered: a judgement whose call failed (after the client's retries) and that no later
    attempt answered is missing, whatever the benchmark does with it."""

    def __init__(self, judge: Any) -> None:
        self.inner = judge
        self.model = judge.model
        self.last: dict[tuple[str, int], tuple[int, str | None]] = {}

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        replies = self.inner.judge(requests)
        for reply in replies:
            req = reply.request
            key = (req.key, req.run_index)
            if key not in self.last or req.attempt >= self.last[key][0]:
                error = None if reply.ok else (reply.error or "empty reply")
                self.last[key] = (req.attempt, error)
        return replies

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def never_answered(self) -> list[dict[str, Any]]:
        return [
            {"item": key, "run": run, "reason": error}
            for (key, run), (_, error) in sorted(self.last.items())
            if error is not None
        ]


def _check_options(
    judge_runs: int, judge_concurrency: int, max_cost: float | None, batch_size: int, limit: int | None
) -> None:
    from harness.options import at_least, non_negative_number

    at_least("--judge-runs", judge_runs, 1)
    at_least("--judge-concurrency", judge_concurrency, 1)
    at_least("--batch-size", batch_size, 1)
    if limit is not None:
        at_least("--limit", limit, 1)
    if max_cost is not None:
        non_negative_number("--max-cost", max_cost)


def _read_given_predictions(bench: Benchmark, path: Path, all_items: list[BenchItem]) -> dict[str, str]:
    if not path.is_file():
        raise HarnessError(f"--predictions {path}: file not found")
    try:
        atomic.read_text_utf8(path)
    except HarnessError as exc:
        raise HarnessError(f"--predictions {exc}") from None
    return bench.read_predictions(path, all_items)


def _model_identity(ref: ModelRef, model: str | Path | None, predictions_sha: str | None) -> dict[str, Any]:
    """What produced the predictions: a predictions file's content, a run's iteration, or a checkpoint's content."""
    if predictions_sha is not None:
        return {"kind": "predictions", "sha256": predictions_sha}
    if ref.run_id is not None and ref.iteration is not None:
        return {"kind": "run", "run_id": ref.run_id, "iteration": ref.iteration}
    from harness.policy.loading import resolve_model_path

    spec = ref.path or model or ref.id
    path = resolve_model_path(str(spec))  # "tiny" is built on first use; a missing folder is named
    return {"kind": "checkpoint", "sha256": folder_sha256(path)}


def evaluate(
    bench_name: str,
    *,
    model: str | Path | None = None,
    data_dir: Path | None = None,
    predictions: Path | None = None,
    out: Path | None = None,
    judge_model: str | None = None,
    judge_base_url: str | None = None,
    judge_runs: int = 3,
    judge_concurrency: int = 16,
    use_cache: bool = True,
    max_cost: float | None = None,
    dry_run: bool = False,
    backend: str = "hf",
    batch_size: int = 16,
    limit: int | None = None,
    model_ref: ModelRef | None = None,
    console: Console | None = None,
    runs_dir: Path = DEFAULT_RUNS_DIR,
    results_dir: Path = DEFAULT_RESULTS_DIR,
    judge_cache_dir: Path | None = None,
    bench_options: dict[str, Any] | None = None,
    reg: Registry | None = None,
    rescore: bool = False,
    chunk_items: int = 256,
    own_data: bool = False,
    helpers=None,
) -> Results | DryRunReport:
    """Score ``model`` (or a predictions file) on ``bench_name`` and write results.json.

    ``model``: ``tiny``, a checkpoint folder or ``<run_id>:<i>``; with ``predictions`` it only labels
    the results. ``out``: the results file (``*.json``) or its folder (default: ``results_path``; for a
    predictions file alone, ``results/<file stem>_<content hash>/<bench>/``).
    Generated predictions are written next to it in the benchmark's official format, with
    ``generation.json`` saying what generated them, so a rerun reuses them. ``judge_*``,
    ``use_cache``, ``max_cost``: the judge client's options (judged benchmarks only; ``judge_model``
    None: the papers' gpt-4-1106-preview). ``limit``: score only the first N items (a smoke run,
    stored apart as ``results.limit<N>.json``). ``rescore``: score again although a result with the same
    identity exists (it is replaced only by a complete one). ``own_data``: the files under ``data_dir`` are the
    user's own, not the benchmark's release: they are not compared with the release's checksums (otherwise a
    mismatch is an error) and the result's data version names them as the user's (harness/evaluate/data_check.py).
    ``helpers``: spare-core generation helpers (harness/backends/helpers.py; outputs unchanged).
    ``bench_options``: keyword arguments of
    the benchmark class (e.g. ``{"scenes": 12}`` for shapes). ``reg``: the plugin registry (default: the
    installed plugins).

    Returns the written (or reused) ``Results``, or a ``DryRunReport`` (nothing generated, called or
    written) when ``dry_run``. Raises ``IncompleteResultError`` when judgements are missing: the partial
    state goes to ``results.partial.json`` and any stored result stays byte-identical.
    """
    from harness.judge.types import DEFAULT_JUDGE_MODEL  # the client (openai) is imported only for a judge

    console = console or Console()
    _check_options(judge_runs, judge_concurrency, max_cost, batch_size, limit)
    from harness.options import at_least

    at_least("--chunk-items", chunk_items, 1)
    reg = reg or registry()
    cls = reg.benchmark(bench_name)
    judge_model = judge_model or DEFAULT_JUDGE_MODEL
    bench = _instantiate(cls, judge_model, judge_runs, bench_options)
    if predictions is None and model is None and model_ref is None:
        raise HarnessError(
            "give a model (--model: 'tiny', a checkpoint folder or '<run_id>:<i>') "
            "or a predictions file (--predictions)"
        )

    judge = None
    if bench.needs_judge:  # per instance: a benchmark option may switch a judge on
        from harness.judge.client import OpenAIJudge, check_credentials

        if not dry_run:
            check_credentials(judge_base_url)  # before any loading or generation
        judge = OpenAIJudge(
            judge_model,
            judge_base_url,
            concurrency=judge_concurrency,
            use_cache=use_cache,
            cache_dir=judge_cache_dir,
            max_cost_usd=max_cost,
        )

    predictions_sha = None
    if predictions is not None:
        predictions = Path(predictions)
        if not predictions.is_file():
            raise HarnessError(f"--predictions {predictions}: file not found")
        predictions_sha = file_sha256(predictions)
    if model_ref is None:
        if model is not None:
            model_ref = resolve_model(model, runs_dir)
        else:  # keyed by content: two files of the same name are two models
            assert predictions is not None and predictions_sha is not None
            model_ref = ModelRef(id=f"{predictions.stem}@{predictions_sha[:8]}")
    runs = judge_runs if bench.needs_judge else 1

    if data_dir is None and bench.data_sources():
        data_dir = DEFAULT_DATA_ROOT / bench.name
    if not own_data:  # a fixture or a truncated file is never scored under the release's name
        check_release_data(bench, Path(data_dir) if data_dir is not None else None)
    all_items = load_items(bench, Path(data_dir) if data_dir is not None else None)
    if limit is not None and limit >= len(all_items):
        limit = None  # every item: the full benchmark, not a smoke run
    items = all_items[:limit] if limit is not None else all_items
    if not items:
        raise HarnessError(f"benchmark {bench_name!r}: no items to score")
    slot = output_paths(out, model_ref, bench, runs_dir, results_dir, limit)
    preds: dict[str, str] | None = None
    if predictions is not None:
        preds = _read_given_predictions(bench, predictions, all_items)
        preds = {item.id: preds[item.id] for item in items}
    if dry_run:
        report = dry_run_report(bench, judge, items, preds, runs, model_ref.id)
        console.print(report.describe(), highlight=False)
        return report

    # one process at a time writes into a results file (taken once the inputs are checked: nothing before)
    with RunLock(slot.results, "results file"):
        card = bench.card()
        if own_data:
            card = own_data_card(bench, card, Path(data_dir) if data_dir is not None else None)
        items_id = items_identity([item.id for item in items], limit)
        model_id = _model_identity(model_ref, model, predictions_sha)
        protocol_id = {
            "judge_model": judge.model if judge is not None else None,
            "judge_runs": runs if judge else None,
            "prompt_version": card.prompt_version,
            "data_version": card.data_version,
            "options": dict(sorted((bench_options or {}).items())),
        }
        identity = make_identity(model_id, bench.name, protocol_id, items_id)
        stored = stored_result(slot, identity)
        if stored is not None and not rescore:
            console.print(
                f"{bench.name} · {model_ref.id}: already scored with the same model, protocol and items: "
                f"{slot.results} (reused; --rescore scores again)",
                highlight=False,
            )
            return stored
        subset = None if limit is None else {"limit": limit, "items": len(items), "total": len(all_items)}

        if preds is None:
            provenance = {
                "model": model_id,
                "benchmark": bench.name,
                "items": items_id,
                "generation": bench.generation_params(),
            }
            if reusable_predictions(slot, provenance):
                preds = bench.read_predictions(slot.predictions, all_items if limit is None else items)
                preds = {item.id: preds[item.id] for item in items}
                console.print(
                    f"predictions: {slot.predictions} (reused: generated earlier by this model for these items)",
                    highlight=False,
                )
            else:
                path = model_ref.path if model_ref.path is not None else str(model)
                jpath = slot.predictions.with_name(slot.predictions.name + ".journal.jsonl")
                size = recorded(jpath, "chunk_items", chunk_items)  # a resumed generation keeps its chunking
                # the header is compared with the one read back, so it must survive a JSON round trip unchanged
                header = json.loads(json.dumps({**provenance, "chunk_items": size, "n_items": len(items)}))
                journal = Journal(jpath, header)
                preds = generate_predictions(
                    bench, items, path, backend=backend, batch_size=batch_size, reg=reg, console=console,
                    journal=journal, chunk_items=size, helpers=helpers,
                )  # fmt: skip
                bench.write_predictions(slot.predictions, items, preds)  # kept even if scoring fails
                record_generation(slot, provenance)
                journal.remove()
                console.print(f"predictions: {slot.predictions}", highlight=False)
            stored_predictions = slot.predictions.name
            predictions_sha = file_sha256(slot.predictions)
        else:
            assert predictions is not None
            same_folder = predictions.resolve().parent == slot.results.resolve().parent
            stored_predictions = predictions.name if same_folder else str(predictions.resolve())

        tracker = _TrackingJudge(judge) if judge is not None else None
        report = bench.score(items, preds, tracker, runs=runs)
        missing = list(report.missing) or (tracker.never_answered() if tracker is not None else [])
        usage = judge.usage_dict() if judge is not None else {}
        results = Results(
            benchmark=bench.name,
            model=model_ref,
            protocol=card.to_dict(),
            metrics=report.metrics,
            std=report.std,
            per_run=report.per_run,
            official=report.official,
            failures=report.failures,
            judge_usage=usage,
            records=report.records,
            predictions_file=stored_predictions,
            identity=identity,
            subset=subset,
            unparsed=dict(report.unparsed),
            missing=missing,
            excluded=dict(report.excluded),
            intervals=dict(report.intervals),
            predictions_sha256=predictions_sha,
            data_sha256=items_digest(items),
        )
        print_failures(console, report, len(items), usage)
        if missing:
            results.write(slot.partial)  # beside the last good result, which stays as it is
            judgements = len(tracker.last) if tracker is not None and tracker.last else len(items) * runs
            raise IncompleteResultError(missing_message(bench.name, missing, judgements, slot, use_cache), slot.partial)
        results.write(slot.results)
        remove_partial(slot)
        print_metrics(console, bench.name, model_ref.id, report)
        smoke = f" (smoke run: {len(items)} of {len(all_items)} items, stored apart)" if subset else ""
        console.print(f"results: {slot.results}{smoke}", highlight=False)
        return results
