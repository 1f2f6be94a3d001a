"""`harness rejudge`: the stored predictions of results judged again by another judge; nothing is generated.

For each stored result of a judged benchmark (a results file, or every ``results.json`` below the folders
given: a run, an iteration, a model folder, ``runs/`` or ``results/``):

1. its predictions file must still be the one scored (its SHA-256 is stored with the result), and the
   benchmark's data must still be what was scored: the release's checksums (or the user's own data's digest,
   for a result scored with ``--own-data``), the data version, the item ids and the digest of the items'
   content (harness/evaluate/data_digest.py). Otherwise the result is refused with the reason: the two judges
   would not be judging the same thing;
2. the benchmark scores the predictions with the new judge exactly as ``harness eval`` would (same prompts,
   parsing and aggregation; ``--judge-runs`` defaults to the original's);
3. the new result is stored **beside** the original as ``results.judge-<judge>.json`` (a smoke result's as
   ``results.limit<N>.judge-<judge>.json``), identified like any result (the judge is part of its identity), with
   ``rejudge`` naming the original. The original is never touched; an existing rejudged result with the same
   identity is reused (no call), one with another identity is kept and named.

Every answer goes to the judge cache as it arrives, so a rejudge killed mid-way resumes where it stopped: the
rerun sends only the requests that never got an answer (at most the ``--judge-concurrency`` in flight when it
died). Judgements that never come back leave the new result incomplete (``results.judge-<judge>.partial.json``,
exit 1), exactly as ``harness eval`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import HarnessError
from harness.evaluate.data_check import check_release_data, own_data_card
from harness.evaluate.data_digest import items_digest
from harness.evaluate.dry_run import dry_run_report
from harness.evaluate.generate import load_items
from harness.evaluate.models import DEFAULT_DATA_ROOT, model_slug
from harness.evaluate.output import IncompleteResultError, missing_message
from harness.evaluate.run import _instantiate, _TrackingJudge
from harness.plugins import Registry, registry
from harness.report.judge_slots import judge_of
from harness.report.results import Results, load_results, make_identity
from harness.report.store import file_sha256, items_identity, remove_partial, result_slot, stored_result
from harness.runs import RunLock

OWN_DATA_PREFIX = "own data (--own-data)"


@dataclass
class RejudgeOutcome:
    """What happened to one stored result: ``scored``, ``reused``, ``incomplete``, ``skipped``, ``rule-based``,
    ``refused`` or ``dry-run``; ``path`` is the rejudged result (or its partial state)."""

    original: Path
    status: str
    message: str
    path: Path | None = None
    results: Results | None = None
    benchmark: str | None = None


def rejudged_path(original: Path, judge_model: str) -> Path:
    """``results.json`` → ``results.judge-<judge slug>.json`` beside it (the tag before the last suffix)."""
    original = Path(original)
    return original.with_name(f"{original.stem}.judge-{model_slug(judge_model)}{original.suffix}")


def _is_original(path: Path) -> bool:
    name = path.name
    return name.startswith("results") and name.endswith(".json") and ".partial." not in name and ".judge-" not in name


def find_originals(paths: Sequence[Path], benches: set[str] | None = None) -> list[Path]:
    """The stored results to rejudge: files given, and the full-set ``results.json`` below folders given."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(q for q in p.rglob("results.json") if q.is_file()))
        else:
            raise HarnessError(f"{p}: no such results file or folder")
    out = []
    for p in dict.fromkeys(found):
        if benches and p.is_file() and _bench_of(p) not in benches:
            continue
        out.append(p)
    return out


def _bench_of(path: Path) -> str | None:
    try:
        return load_results(path).benchmark
    except HarnessError:
        return None


def _refuse(path: Path, why: str) -> HarnessError:
    return HarnessError(f"{path}: not rejudged: {why}")


def _predictions(original: Results, path: Path) -> Path:
    if not original.predictions_file:
        raise _refuse(path, "the result names no predictions file, so there is nothing to judge again")
    pred = Path(original.predictions_file)
    pred = pred if pred.is_absolute() else path.parent / pred
    if not pred.is_file():
        raise _refuse(path, f"its predictions file {pred} is gone")
    if original.predictions_sha256 and file_sha256(pred) != original.predictions_sha256:
        raise _refuse(
            path,
            f"its predictions file {pred} changed since it was scored (SHA-256 {file_sha256(pred)[:12]}… now, "
            f"{original.predictions_sha256[:12]}… then); score the new predictions with `harness eval`",
        )
    return pred


def _check_data(bench: Any, original: Results, path: Path, data_dir: Path | None) -> tuple[Any, list, list, str]:
    """(card, all items, items scored, items digest) after refusing data that changed since ``original``."""
    own = str((original.protocol or {}).get("data_version") or "").startswith(OWN_DATA_PREFIX)
    if not own:
        try:
            check_release_data(bench, data_dir)
        except HarnessError as exc:
            raise _refuse(path, f"the benchmark data changed since it was scored ({exc})") from None
    card = bench.card()
    if own:
        card = own_data_card(bench, card, data_dir)
    then = (original.protocol or {}).get("data_version")
    if then and card.data_version != then:
        raise _refuse(
            path,
            f"the benchmark data changed since it was scored (data version {then!r} then, {card.data_version!r} now)",
        )
    all_items = load_items(bench, data_dir)
    limit = ((original.identity or {}).get("items") or {}).get("limit")
    items = all_items[:limit] if limit else all_items
    stored_items = (original.identity or {}).get("items")
    if stored_items and items_identity([i.id for i in items], limit) != stored_items:
        raise _refuse(
            path,
            f"the benchmark's items under {data_dir} are not those it scored ({len(items)} items now, "
            f"{stored_items.get('count')} then, or other ids)",
        )
    digest = items_digest(items)
    if original.data_sha256 and digest != original.data_sha256:
        raise _refuse(
            path,
            f"the benchmark data under {data_dir} changed since it was scored: the items' questions, references "
            f"or labels differ (items digest {original.data_sha256[:12]}… then, {digest[:12]}… now); the new "
            "judge would not judge what the old one judged. Restore the data it was scored on, or score the "
            "predictions on the new data with `harness eval`",
        )
    return card, all_items, items, digest


def rejudge_one(
    path: Path,
    judge: Any,
    *,
    judge_runs: int | None,
    data_dir: Path | None,
    reg: Registry,
    console: Console,
    use_cache: bool = True,
    dry_run: bool = False,
) -> RejudgeOutcome:
    """Judge the predictions of the stored result ``path`` again with ``judge`` (the module doc)."""
    from harness.judge.client import public_endpoint, resolve_base_url

    path = Path(path)
    original = load_results(path)
    if original.rejudge or ".judge-" in path.name:
        raise _refuse(path, "it is itself a rejudged result; give the original result (results.json) instead")
    cls = reg.benchmark(original.benchmark)
    options = dict(((original.identity or {}).get("protocol") or {}).get("options") or {})
    old_judge = judge_of(original)
    old_runs = int((original.protocol or {}).get("judge_runs") or 1)
    runs = judge_runs or old_runs
    bench = _instantiate(cls, judge.model, runs, options)
    if not bench.needs_judge:
        msg = f"{path}: {original.benchmark} is scored without a judge"
        return RejudgeOutcome(path, "rule-based", msg, benchmark=original.benchmark)
    if old_judge == judge.model and runs == old_runs:
        return RejudgeOutcome(
            path, "skipped", f"{path}: already scored by {judge.model} ({runs} run(s)); nothing to do"
        )
    pred_path = _predictions(original, path)
    if data_dir is None and bench.data_sources():
        data_dir = DEFAULT_DATA_ROOT / bench.name
    card, all_items, items, digest = _check_data(bench, original, path, data_dir)
    if not original.data_sha256:
        console.print(
            f"[yellow]{path}: scored before results stored an items digest: only the release checksums, the data "
            "version and the item ids were compared with what it scored[/]",
            highlight=False,
            soft_wrap=True,
        )
    limit = ((original.identity or {}).get("items") or {}).get("limit")
    preds = bench.read_predictions(pred_path, all_items if not limit else items)
    preds = {item.id: preds[item.id] for item in items}
    if dry_run:
        report = dry_run_report(bench, judge, items, preds, runs, original.model.id)
        return RejudgeOutcome(path, "dry-run", report.describe())

    out = rejudged_path(path, judge.model)
    slot = result_slot(out, pred_path.name, None)
    items_id = items_identity([item.id for item in items], limit)
    protocol_id = {
        "judge_model": judge.model,
        "judge_runs": runs,
        "prompt_version": card.prompt_version,
        "data_version": card.data_version,
        "options": dict(sorted(options.items())),
    }
    model_id = (original.identity or {}).get("model") or {"kind": "predictions", "sha256": file_sha256(pred_path)}
    identity = make_identity(model_id, bench.name, protocol_id, items_id)
    with RunLock(slot.results, "results file"):
        try:
            stored = stored_result(slot, identity, out_option="--judge-model")
        except HarnessError as exc:
            raise _refuse(path, f"{exc}") from None
        if stored is not None:
            return RejudgeOutcome(path, "reused", f"{out}: already rejudged by {judge.model} (reused)", out, stored)
        tracker = _TrackingJudge(judge)
        with judge.track() as usage:
            report = bench.score(items, preds, tracker, runs=runs)
        missing = list(report.missing) or tracker.never_answered()
        results = Results(
            benchmark=bench.name,
            model=original.model,
            protocol=card.to_dict(),
            metrics=report.metrics,
            std=report.std,
            per_run=report.per_run,
            official=report.official,
            failures=report.failures,
            judge_usage={**usage.to_dict(), "endpoint": public_endpoint(resolve_base_url(judge.base_url))},
            records=report.records,
            predictions_file=original.predictions_file,
            identity=identity,
            subset=original.subset,
            unparsed=dict(report.unparsed),
            missing=missing,
            excluded=dict(report.excluded),
            intervals=dict(report.intervals),
            predictions_sha256=file_sha256(pred_path),
            data_sha256=digest,
            rejudge={
                "of": path.name,
                "of_hash": (original.identity or {}).get("hash"),
                "of_judge": old_judge,
                "of_judge_runs": old_runs,
            },
        )
        if missing:
            results.write(slot.partial)
            judgements = len(tracker.last) or len(items) * runs
            return RejudgeOutcome(
                path,
                "incomplete",
                missing_message(bench.name, missing, judgements, slot, use_cache),
                slot.partial,
                results,
            )
        results.write(slot.results)
        remove_partial(slot)
    heads = [c["metric"] for c in (card.columns or []) if c.get("headline")] or list(report.metrics)[:1]
    moved = ", ".join(
        f"{m} {original.metrics.get(m, float('nan')):.2f} → {report.metrics.get(m, float('nan')):.2f}" for m in heads
    )
    text = f"{bench.name} · {original.model.id}: {old_judge} → {judge.model}: {moved} ({out})"
    return RejudgeOutcome(path, "scored", text, out, results)


def rejudge(
    paths: Sequence[Path],
    *,
    judge_model: str,
    judge_base_url: str | None = None,
    judge_runs: int | None = None,
    judge_concurrency: int = 16,
    use_cache: bool = True,
    judge_cache_dir: Path | None = None,
    max_cost: float | None = None,
    data_dir: Path | None = None,
    benches: set[str] | None = None,
    dry_run: bool = False,
    reg: Registry | None = None,
    console: Console | None = None,
) -> list[RejudgeOutcome]:
    """Rejudge every stored result under ``paths`` with ``judge_model`` (the module doc); one judge client for all,
    so ``max_cost`` bounds the whole rejudge. Raises ``IncompleteResultError`` (exit 1) when judgements are
    missing and a HarnessError (exit 2) naming every refused result, after doing all the others."""
    from harness.judge.client import OpenAIJudge, check_credentials
    from harness.options import at_least, non_negative_number

    console = console or Console()
    if judge_runs is not None:
        at_least("--judge-runs", judge_runs, 1)
    at_least("--judge-concurrency", judge_concurrency, 1)
    if max_cost is not None:
        non_negative_number("--max-cost", max_cost)
    reg = reg or registry()
    originals = find_originals(paths, benches)
    if not originals:
        where = ", ".join(str(p) for p in paths)
        raise HarnessError(
            f"no stored results to rejudge under {where}"
            + (f" for --bench {', '.join(sorted(benches))}" if benches else "")
        )
    if data_dir is not None:
        kinds = sorted({b for p in originals if (b := _bench_of(p))})
        if len(kinds) > 1:
            raise HarnessError(
                f"--data-dir {data_dir}: one benchmark's data, but the results to rejudge are of {', '.join(kinds)}; "
                "add --bench NAME"
            )
    if not dry_run:
        check_credentials(judge_base_url)
    judge = OpenAIJudge(
        judge_model,
        judge_base_url,
        concurrency=judge_concurrency,
        use_cache=use_cache,
        cache_dir=judge_cache_dir,
        max_cost_usd=max_cost,
    )
    outcomes: list[RejudgeOutcome] = []
    for path in originals:
        try:
            outcome = rejudge_one(
                path, judge, judge_runs=judge_runs, data_dir=data_dir, reg=reg, console=console,
                use_cache=use_cache, dry_run=dry_run,
            )  # fmt: skip
        except HarnessError as exc:
            if type(exc) is not HarnessError or len(originals) == 1:
                raise  # a judge the server does not know, a budget: every result would fail alike
            outcome = RejudgeOutcome(path, "refused", str(exc))
        outcomes.append(outcome)
        if outcome.status == "rule-based":
            continue  # counted below: a run folder holds many
        style = {"refused": "bold red", "incomplete": "bold red", "skipped": "yellow"}.get(outcome.status, "")
        console.print(f"[{style}]{outcome.message}[/]" if style else outcome.message, highlight=False, soft_wrap=True)
    rule = [o for o in outcomes if o.status == "rule-based"]
    if rule:
        kinds = sorted({str(o.benchmark) for o in rule})
        console.print(
            f"{len(rule)} result(s) of benchmarks scored without a judge left as they are ({', '.join(kinds)})"
        )
    refused = [o for o in outcomes if o.status == "refused"]
    incomplete = [o for o in outcomes if o.status == "incomplete"]
    if refused:
        raise HarnessError(
            f"{len(refused)} of {len(originals)} result(s) refused (named above)"
            + (f"; {len(incomplete)} incomplete" if incomplete else "")
        )
    if incomplete:
        raise IncompleteResultError(
            f"{len(incomplete)} of {len(originals)} rejudged result(s) have missing judgements (named above); rerun "
            "the same command: it asks the judge only for those"
        )
    return outcomes
