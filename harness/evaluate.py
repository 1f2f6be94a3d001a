"""The engine behind ``harness eval``: generate predictions with a policy, score them, store results.json.

``evaluate`` runs one (model, benchmark) pair:

1. the benchmark comes from the plugin registry (an unknown name lists the registered ones);
2. for a judged benchmark the judge credentials are checked and the judge client is built first,
   so a missing key fails before any loading or generation;
3. items are loaded (``Benchmark.load``; errors name the file and id);
4. predictions are read from a file in the benchmark's official format, or generated with the policy
   in one batched backend call and written in that format next to the results *before* scoring, so a
   crash while scoring keeps them;
5. ``Benchmark.score`` (judge × runs) gives metrics, per-run values, failures and per-item records,
   written atomically as a versioned results.json (harness/report/results.py): an error leaves no file.

``pending_models`` lists what ``harness eval`` without ``--model`` still has to score: every θi of the
stored runs, then each base model θ0 once. ``results_path`` says where a model's results go.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness import atomic
from harness.benchmark import Benchmark, BenchItem, ScoreReport
from harness.errors import HarnessError
from harness.judge.pricing import CostEstimate
from harness.judge.types import JudgeReply, JudgeRequest
from harness.plugins import Registry, registry
from harness.report.results import ModelRef, Results

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


def results_path(ref: ModelRef, bench: str, runs_dir: Path = DEFAULT_RUNS_DIR,
                 results_dir: Path = DEFAULT_RESULTS_DIR) -> Path:
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
    return ModelRef(id=f"{rid}/theta{iteration}", path=str(checkpoint), run_id=rid, iteration=iteration,
                    method=method, variant=variant, base=base)


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
            trained.append(ModelRef(id=f"{rid}/theta{i}", path=str(checkpoint), run_id=rid, iteration=i,
                                    method=method, variant=variant, base=base))
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
        raise HarnessError(f"{text}: no run {m.group('run')!r} under {runs_dir} (a model is '<run_id>:<i>', "
                           "'tiny' or a checkpoint folder)")
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
        todo = (f"{self.to_generate} answers to generate" if self.to_generate
                else "predictions given, nothing to generate")
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


def _dry_run(bench: Benchmark, judge, items: list[BenchItem], predictions: dict[str, str] | None,
             runs: int, model_id: str) -> DryRunReport:
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
            first_calls = [JudgeRequest.chat(f"{bench.name}/{item.id}", None, item.prompt, temperature=0.0,
                                             max_tokens=1024, run_index=r) for r in range(runs) for item in items]
        estimate = judge.estimate(first_calls)
    return DryRunReport(benchmark=bench.name, model=model_id, items=len(items),
                        to_generate=0 if predictions is not None else len(items), judge_runs=runs,
                        estimate=estimate, exact=exact)


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


def _generate(bench: Benchmark, items: list[BenchItem], model_path: str, *, backend: str, batch_size: int,
              reg: Registry, console: Console) -> dict[str, str]:
    from PIL import Image

    from harness.backends.base import GenerationRequest
    from harness.policy import load_policy

    max_new_tokens = int(bench.generation_params().get("max_new_tokens", 1024))
    requests = []
    opened: dict[Path, Image.Image] = {}  # items sharing an image (AMBER: 15k questions, 1k images) share it
    for item in items:
        image = None
        if item.image is not None:
            image = opened.get(Path(item.image))
            if image is None:
                try:
                    with Image.open(item.image) as im:
                        image = opened[Path(item.image)] = im.convert("RGB")
                except (OSError, ValueError) as exc:
                    raise HarnessError(f"{item.image}: cannot open the image of item {item.id!r} ({exc})") from None
        requests.append(GenerationRequest(image=image, prompt=item.prompt, max_new_tokens=max_new_tokens,
                                          with_image=image is not None))
    console.print(f"loading {model_path} …")
    policy = load_policy(model_path)
    cls = reg.backend(backend)
    params = inspect.signature(cls).parameters
    options = {"batch_size": batch_size} if "batch_size" in params else {}
    engine = cls(policy, **options)
    try:
        texts = engine.generate(requests, desc=f"{bench.name}: generating")
    finally:
        engine.close()
    return {item.id: text for item, text in zip(items, texts)}


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
    table = Table("judge run", "failed judgements", "items", title="Judge failures (left out of the headline)",
                  title_style="bold red")
    for key, count in report.failures.items():
        if key != "total":
            table.add_row(key, str(count), str(n_items))
    table.add_row("total", str(report.failures["total"]), "")
    console.print(table)
    reasons = usage.get("failure_reasons") or {}
    if reasons:
        console.print("reasons: " + ", ".join(f"{k} × {v}" for k, v in reasons.items()), highlight=False)


def _output_paths(out: Path | None, ref: ModelRef, bench: Benchmark, runs_dir: Path,
                  results_dir: Path) -> tuple[Path, Path]:
    if out is None:
        results_file = results_path(ref, bench.name, runs_dir, results_dir)
    else:
        out = Path(out)
        results_file = out if out.suffix == ".json" else out / RESULTS_FILENAME
    name = getattr(bench, "predictions_filename", None) or "predictions.jsonl"
    return results_file, results_file.parent / name


def evaluate(bench_name: str, *, model: str | Path | None = None, data_dir: Path | None = None,
             predictions: Path | None = None, out: Path | None = None,
             judge_model: str | None = None, judge_base_url: str | None = None, judge_runs: int = 3,
             judge_concurrency: int = 16, use_cache: bool = True, max_cost: float | None = None,
             dry_run: bool = False, backend: str = "hf", batch_size: int = 16, limit: int | None = None,
             model_ref: ModelRef | None = None, console: Console | None = None,
             runs_dir: Path = DEFAULT_RUNS_DIR, results_dir: Path = DEFAULT_RESULTS_DIR,
             judge_cache_dir: Path | None = None, bench_options: dict[str, Any] | None = None,
             reg: Registry | None = None) -> Results | DryRunReport:
    """Score ``model`` (or a predictions file) on ``bench_name`` and write results.json.

    ``model``: ``tiny``, a checkpoint folder or ``<run_id>:<i>``; with ``predictions`` it only labels
    the results. ``out``: the results file (``*.json``) or its folder (default: ``results_path``).
    Generated predictions are written next to it in the benchmark's official format. ``judge_*``,
    ``use_cache``, ``max_cost``: the judge client's options (judged benchmarks only; ``judge_model``
    None: the SENA paper's gpt-4-1106-preview). ``limit``: score only the first N items (smoke runs).
    ``bench_options``: keyword arguments of the benchmark class (e.g. ``{"scenes": 12}`` for shapes).
    ``reg``: the plugin registry (default: the installed plugins). Returns the written ``Results``,
    or a ``DryRunReport`` (nothing generated, called or written) when ``dry_run``.
    """
    from harness.judge.client import DEFAULT_JUDGE_MODEL, OpenAIJudge, check_credentials

    console = console or Console()
    reg = reg or registry()
    cls = reg.benchmark(bench_name)
    judge_model = judge_model or DEFAULT_JUDGE_MODEL
    bench = _instantiate(cls, judge_model, judge_runs, bench_options)
    if limit is not None and limit < 1:
        raise HarnessError(f"--limit: must be >= 1, got {limit}")
    if predictions is None and model is None and model_ref is None:
        raise HarnessError("give a model (--model: 'tiny', a checkpoint folder or '<run_id>:<i>') "
                           "or a predictions file (--predictions)")

    judge = None
    if cls.needs_judge:
        if not dry_run:
            check_credentials(judge_base_url)  # before any loading or generation
        judge = OpenAIJudge(judge_model, judge_base_url, concurrency=judge_concurrency, use_cache=use_cache,
                            cache_dir=judge_cache_dir, max_cost_usd=max_cost)

    if model_ref is None:
        if model is not None:
            model_ref = resolve_model(model, runs_dir)
        else:
            model_ref = ModelRef(id=Path(predictions).stem)  # type: ignore[arg-type]
    runs = judge_runs if cls.needs_judge else 1

    all_items = _load_items(bench, Path(data_dir) if data_dir is not None else None)
    items = all_items[:limit] if limit is not None else all_items
    if not items:
        raise HarnessError(f"benchmark {bench_name!r}: no items to score")
    results_file, predictions_file = _output_paths(out, model_ref, bench, runs_dir, results_dir)

    preds: dict[str, str] | None = None
    if predictions is not None:
        predictions = Path(predictions)
        preds = bench.read_predictions(predictions, all_items)
        preds = {item.id: preds[item.id] for item in items}
    if dry_run:
        report = _dry_run(bench, judge, items, preds, runs, model_ref.id)
        console.print(report.describe(), highlight=False)
        return report

    if preds is None:
        path = model_ref.path if model_ref.path is not None else str(model)
        preds = _generate(bench, items, path, backend=backend, batch_size=batch_size, reg=reg, console=console)
        bench.write_predictions(predictions_file, items, preds)  # kept even if scoring fails
        console.print(f"predictions: {predictions_file}", highlight=False)
        stored_predictions = predictions_file.name
    else:
        assert predictions is not None
        same_folder = predictions.resolve().parent == results_file.resolve().parent
        stored_predictions = predictions.name if same_folder else str(predictions.resolve())

    report = bench.score(items, preds, judge, runs=runs)
    usage = judge.usage_dict() if judge is not None else {}
    results = Results(
        benchmark=bench.name, model=model_ref, protocol=bench.card().to_dict(), metrics=report.metrics,
        std=report.std, per_run=report.per_run, official=report.official, failures=report.failures,
        judge_usage=usage, records=report.records, predictions_file=stored_predictions)
    results.write(results_file)
    _print_failures(console, report, len(items), usage)
    _print_metrics(console, bench.name, model_ref.id, report)
    console.print(f"results: {results_file}", highlight=False)
    return results
