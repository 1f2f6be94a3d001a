"""The engine behind ``harness eval``: generate predictions with a policy, score them, store results.json.

``evaluate`` runs one (model, benchmark) pair:

1. every numeric option is checked, then the benchmark comes from the plugin registry (an unknown
   name lists the registered ones);
2. for a judged benchmark the judge credentials are checked and the judge client is built first,
   so a missing key fails before any loading or generation;
3. items are loaded (``Benchmark.load``; errors name the file and id); ``--limit N`` keeps the first N;
4. the result's identity is computed (harness/report/results.py: model, benchmark, protocol, items):
   a stored result with the same identity is reused, one with another identity is never replaced;
5. predictions are read from a file in the benchmark's official format, reused when this model already
   generated them for these items, or generated with the policy in journaled chunks (a killed run resumes
   at its first unfinished chunk, and only the chunk's images are held) and written in that format next
   to the results *before* scoring, so a crash while scoring keeps them;
6. ``Benchmark.score`` (judge × runs) gives metrics, per-run values, failures and per-item records. A
   complete score is written atomically as results.json (``results.limit<N>.json`` for a smoke run); an
   incomplete one (judgements that never came back) goes to ``results.partial.json`` beside it, the
   stored result stays byte-identical, and ``IncompleteResultError`` says how many are missing and
   that rerunning the same command asks the judge only for those.

``pending_models`` lists what ``harness eval`` without ``--model`` still has to score: every θi of the
stored runs, then each base model θ0 once. ``results_path`` says where a model's results go.
"""

from __future__ import annotations

import inspect
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness import atomic
from harness.benchmark import BenchItem, Benchmark, ScoreReport
from harness.errors import HarnessError
from harness.journal import Journal, recorded
from harness.judge.pricing import CostEstimate
from harness.judge.types import JudgeReply, JudgeRequest
from harness.plugins import Registry, registry
from harness.report.results import ModelRef, Results, make_identity
from harness.report.store import (
    ResultSlot,
    file_sha256,
    folder_sha256,
    items_identity,
    record_generation,
    remove_partial,
    result_slot,
    reusable_predictions,
    stored_result,
)

DEFAULT_RUNS_DIR = Path("runs")
DEFAULT_RESULTS_DIR = Path("results")
DEFAULT_DATA_ROOT = Path("data")
RESULTS_FILENAME = "results.json"
_RUN_ITER = re.compile(r"^(?P<run>[^:/\\]+):(?P<iter>\d+)$")


# ------------------------------------------------------------------------------------ where things go


def model_slug(model_id: str) -> str:
    """A folder name for a model id: runs of characters other than letters, digits, ``.-_`` become ``_``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("_.")
    return slug or "model"


def results_path(
    ref: ModelRef, bench: str, runs_dir: Path = DEFAULT_RUNS_DIR, results_dir: Path = DEFAULT_RESULTS_DIR
) -> Path:
    """``runs/<run_id>/iter<i>/eval/<bench>/results.json`` for a run's model, else
    ``results/<model-slug>/<bench>/results.json``."""
    if ref.run_id is not None and ref.iteration is not None:
        return Path(runs_dir) / ref.run_id / f"iter{ref.iteration}" / "eval" / bench / RESULTS_FILENAME
    return Path(results_dir) / model_slug(ref.id) / bench / RESULTS_FILENAME


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    manifest = atomic.read_json(path)
    if not isinstance(manifest, dict):
        raise HarnessError(f"{path}: a run manifest must be a JSON object")
    return manifest


def _run_fields(run_dir: Path, manifest: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    """(run_id, base model, method, variant) of a run, from its manifest."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    run_id = str(manifest.get("run_id") or run_dir.name)
    base = manifest.get("base_model") or config.get("base_model")
    method = manifest.get("method") or config.get("method")
    variant = manifest.get("variant") or config.get("variant") or method
    return run_id, (str(base) if base is not None else None), method, variant


def _iterations(run_dir: Path) -> list[int]:
    found = []
    for child in run_dir.iterdir():
        m = re.fullmatch(r"iter(\d+)", child.name)
        if m and child.is_dir():
            found.append(int(m.group(1)))
    return sorted(found)


def run_model_ref(runs_dir: Path, run_id: str, iteration: int) -> ModelRef:
    """The model θ``iteration`` of run ``run_id``: its checkpoint (i ≥ 1) or the run's base model (i = 0)."""
    run_dir = Path(runs_dir) / run_id
    if not (run_dir / "manifest.json").is_file():
        raise HarnessError(f"{run_dir}: no such run (no manifest.json under {runs_dir})")
    rid, base, method, variant = _run_fields(run_dir, _read_manifest(run_dir))
    if iteration == 0:
        if base is None:
            raise HarnessError(f"{run_dir / 'manifest.json'}: no base_model recorded, so θ0 is unknown")
        return ModelRef(id=f"{rid}/theta0", path=base, run_id=rid, iteration=0, base=base)
    checkpoint = run_dir / f"iter{iteration}" / "checkpoint"
    if not (checkpoint / "config.json").is_file():
        raise HarnessError(f"{checkpoint}: no checkpoint for θ{iteration} of run {rid} (not trained yet?)")
    return ModelRef(
        id=f"{rid}/theta{iteration}",
        path=str(checkpoint),
        run_id=rid,
        iteration=iteration,
        method=method,
        variant=variant,
        base=base,
    )


def pending_models(runs_dir: Path, bench: str) -> list[ModelRef]:
    """Models of the runs under ``runs_dir`` with no results for ``bench`` yet.

    Every θi (i ≥ 1) whose checkpoint exists, run by run (sorted by folder name), then θ0: each
    distinct base model once (attached to the first run that uses it), unless some run already holds
    a θ0 result for that base. A folder without manifest.json is not a run and is skipped.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    trained: list[ModelRef] = []
    bases: dict[str, ModelRef] = {}
    base_done: set[str] = set()
    for run_dir in sorted(p for p in runs_dir.iterdir() if (p / "manifest.json").is_file()):
        rid, base, method, variant = _run_fields(run_dir, _read_manifest(run_dir))
        for i in _iterations(run_dir):
            done = (run_dir / f"iter{i}" / "eval" / bench / RESULTS_FILENAME).is_file()
            if i == 0:
                if done and base is not None:
                    base_done.add(base)
                continue
            checkpoint = run_dir / f"iter{i}" / "checkpoint"
            if done or not (checkpoint / "config.json").is_file():
                continue
            trained.append(
                ModelRef(
                    id=f"{rid}/theta{i}",
                    path=str(checkpoint),
                    run_id=rid,
                    iteration=i,
                    method=method,
                    variant=variant,
                    base=base,
                )
            )
        if base is not None and base not in bases:
            bases[base] = ModelRef(id=f"{rid}/theta0", path=base, run_id=rid, iteration=0, base=base)
    return trained + [ref for base, ref in bases.items() if base not in base_done]


def resolve_model(model: str | Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> ModelRef:
    """A model given on the command line: ``<run_id>:<i>`` (θi of a stored run), ``tiny``, or a folder."""
    text = str(model)
    m = _RUN_ITER.match(text)
    if m and (Path(runs_dir) / m.group("run") / "manifest.json").is_file():
        return run_model_ref(runs_dir, m.group("run"), int(m.group("iter")))
    if m and not Path(text).exists():
        raise HarnessError(
            f"{text}: no run {m.group('run')!r} under {runs_dir} (a model is '<run_id>:<i>', "
            "'tiny' or a checkpoint folder)"
        )
    if text == "tiny":
        return ModelRef(id="tiny", path="tiny", base="tiny")
    path = Path(text)
    return ModelRef(id=text, path=str(path.resolve()) if path.exists() else None)


# ------------------------------------------------------------------------------------ dry run


@dataclass
class DryRunReport:
    """What ``evaluate(dry_run=True)`` would do: items to generate and the judge calls it would pay for.

    ``exact``: the judge requests were built from the given predictions; otherwise from empty
    answers (the number of calls is right for one request per item and run; prompt tokens are a
    lower bound since answers are not known yet).
    """

    benchmark: str
    model: str
    items: int
    to_generate: int
    judge_runs: int
    estimate: CostEstimate | None
    exact: bool

    def describe(self) -> str:
        todo = (
            f"{self.to_generate} answers to generate" if self.to_generate else "predictions given, nothing to generate"
        )
        lines = [f"{self.benchmark}: {self.items} items for {self.model}; {todo}"]
        if self.estimate is None:
            lines.append("no judge: rule-based scoring, no calls, no cost")
        else:
            how = "from the predictions" if self.exact else "before generation (prompt tokens a lower bound)"
            lines.append(f"{self.estimate.describe()}; {self.judge_runs} run(s), estimated {how}")
        return "\n".join(lines)


class _RecordingJudge:
    """Collects the requests a benchmark would send and answers none of them (dry run)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.requests: list[JudgeRequest] = []

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeReply]:
        self.requests.extend(requests)
        return [JudgeReply(r, None, error="dry run: not sent") for r in requests]


def _dry_run(
    bench: Benchmark, judge, items: list[BenchItem], predictions: dict[str, str] | None, runs: int, model_id: str
) -> DryRunReport:
    estimate = None
    exact = predictions is not None
    if judge is not None:
        recorder = _RecordingJudge(judge.model)
        answers = predictions if predictions is not None else {item.id: "" for item in items}
        try:
            bench.score(items, answers, recorder, runs=runs)
            first_calls = [r for r in recorder.requests if r.attempt == 0]  # retries only follow failures
        except HarnessError:
            first_calls = []
        if not first_calls:  # the scorer builds no request without answers: one per item and run
            exact = False
            first_calls = [
                JudgeRequest.chat(
                    f"{bench.name}/{item.id}", None, item.prompt, temperature=0.0, max_tokens=1024, run_index=r
                )
                for r in range(runs)
                for item in items
            ]
        estimate = judge.estimate(first_calls)
    return DryRunReport(
        benchmark=bench.name,
        model=model_id,
        items=len(items),
        to_generate=0 if predictions is not None else len(items),
        judge_runs=runs,
        estimate=estimate,
        exact=exact,
    )


# ------------------------------------------------------------------------------------ evaluate


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


def _load_items(bench: Benchmark, data_dir: Path | None) -> list[BenchItem]:
    if data_dir is None and bench.data_sources():
        data_dir = DEFAULT_DATA_ROOT / bench.name
    items = bench.load(data_dir)  # type: ignore[arg-type]  # a benchmark without data files takes None
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise HarnessError(f"benchmark {bench.name!r}: item id {item.id!r} appears twice in {data_dir}")
        seen.add(item.id)
    return items


def _open_images(items: Sequence[BenchItem]) -> dict[Path, Any]:
    """The images of ``items``, each opened once (items sharing an image share it)."""
    from PIL import Image

    opened: dict[Path, Any] = {}
    for item in items:
        if item.image is None or Path(item.image) in opened:
            continue
        try:
            with Image.open(item.image) as im:
                opened[Path(item.image)] = im.convert("RGB")
        except (OSError, ValueError) as exc:
            raise HarnessError(f"{item.image}: cannot open the image of item {item.id!r} ({exc})") from None
    return opened


def _generate(
    bench: Benchmark,
    items: list[BenchItem],
    model_path: str,
    *,
    backend: str,
    batch_size: int,
    reg: Registry,
    console: Console,
    journal: Journal,
    chunk_items: int,
) -> dict[str, str]:
    """The policy's answers to ``items``, streamed: chunks of ``chunk_items`` items, each chunk's images
    opened, answered and appended to ``journal`` before the next chunk's are opened. Chunks already in
    the journal (a killed run's) are not generated again; the policy is loaded only if one is missing."""
    from harness.backends.base import GenerationRequest
    from harness.faults import maybe_kill
    from harness.journal import chunked

    max_new_tokens = int(bench.generation_params().get("max_new_tokens", 1024))
    chunks = list(chunked(items, chunk_items))
    todo = [k for k, _ in chunks if not journal.done(k)]
    for k in todo:  # a missing image fails before the model is loaded (opening them all would hold them all)
        for item in chunks[k][1]:
            if item.image is not None and not Path(item.image).is_file():
                raise HarnessError(f"{item.image}: the image of item {item.id!r} is missing")
    engine = None
    try:
        if todo:
            from harness.policy import load_policy

            if len(todo) < len(chunks):
                console.print(
                    f"{bench.name}: {len(chunks) - len(todo)} of {len(chunks)} chunks of answers were generated "
                    f"before the last run stopped ({journal.path}); generating the other {len(todo)}",
                    highlight=False,
                )
            console.print(f"loading {model_path} …", highlight=False)
            policy = load_policy(model_path)
            cls = reg.backend(backend)
            options = {"batch_size": batch_size} if "batch_size" in inspect.signature(cls).parameters else {}
            engine = cls(policy, **options)
        for k, chunk in chunks:
            if journal.done(k):
                continue
            opened = _open_images(chunk)
            requests = [
                GenerationRequest(
                    image=opened.get(Path(item.image)) if item.image is not None else None,
                    prompt=item.prompt,
                    max_new_tokens=max_new_tokens,
                    with_image=item.image is not None,
                )
                for item in chunk
            ]
            where = f" (chunk {k + 1} of {len(chunks)})" if len(chunks) > 1 else ""
            texts = engine.generate(requests, desc=f"{bench.name}: generating{where}")
            del opened, requests  # this chunk's images go before the next chunk's are opened
            journal.append(k, {"answers": list(texts)})
            maybe_kill(f"eval-{bench.name}-chunk-{k}")
    finally:
        if engine is not None:
            engine.close()
    answers = [a for rec in journal.records(len(chunks)) for a in rec["answers"]]
    return {item.id: text for item, text in zip(items, answers)}


def _print_metrics(console: Console, bench: str, model_id: str, report: ScoreReport) -> None:
    console.print(f"[bold]{bench}[/bold] · {model_id}", highlight=False)
    table = Table("metric", "mean ± std" if report.std else "value")
    for name, value in report.metrics.items():
        std = report.std.get(name)
        table.add_row(name, f"{value:.2f} ± {std:.2f}" if std is not None else f"{value:.2f}")
    console.print(table)


def _print_failures(console: Console, report: ScoreReport, n_items: int, usage: dict[str, Any]) -> None:
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


def _output_paths(
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


def _missing_message(
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
    identity exists (it is replaced only by a complete one). ``bench_options``: keyword arguments of
    the benchmark class (e.g. ``{"scenes": 12}`` for shapes). ``reg``: the plugin registry (default: the
    installed plugins).

    Returns the written (or reused) ``Results``, or a ``DryRunReport`` (nothing generated, called or
    written) when ``dry_run``. Raises ``IncompleteResultError`` when judgements are missing: the partial
    state goes to ``results.partial.json`` and any stored result stays byte-identical.
    """
    from harness.judge.client import DEFAULT_JUDGE_MODEL, OpenAIJudge, check_credentials

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

    all_items = _load_items(bench, Path(data_dir) if data_dir is not None else None)
    if limit is not None and limit >= len(all_items):
        limit = None  # every item: the full benchmark, not a smoke run
    items = all_items[:limit] if limit is not None else all_items
    if not items:
        raise HarnessError(f"benchmark {bench_name!r}: no items to score")
    slot = _output_paths(out, model_ref, bench, runs_dir, results_dir, limit)

    preds: dict[str, str] | None = None
    if predictions is not None:
        preds = _read_given_predictions(bench, predictions, all_items)
        preds = {item.id: preds[item.id] for item in items}
    if dry_run:
        report = _dry_run(bench, judge, items, preds, runs, model_ref.id)
        console.print(report.describe(), highlight=False)
        return report

    card = bench.card()
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
            preds = _generate(
                bench, items, path, backend=backend, batch_size=batch_size, reg=reg, console=console,
                journal=journal, chunk_items=size,
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
    )
    _print_failures(console, report, len(items), usage)
    if missing:
        results.write(slot.partial)  # beside the last good result, which stays as it is
        judgements = len(tracker.last) if tracker is not None and tracker.last else len(items) * runs
        raise IncompleteResultError(_missing_message(bench.name, missing, judgements, slot, use_cache), slot.partial)
    results.write(slot.results)
    remove_partial(slot)
    _print_metrics(console, bench.name, model_ref.id, report)
    smoke = f" (smoke run: {len(items)} of {len(all_items)} items, stored apart)" if subset else ""
    console.print(f"results: {slot.results}{smoke}", highlight=False)
    return results
