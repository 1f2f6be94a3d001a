"""Shared pieces of the judged benchmarks (LLaVA-W, MM-Vet, MMHal-Bench, MMBench's extractor).

The rule every judged benchmark follows, for each of ``k`` judge runs:

- a judgement the judge **answered** is scored exactly as the official script scores it, parsed
  or not (LLaVA-W: [-1, -1]; MM-Vet: 0.0 after its retries; MMHal: 0, a hallucination; MMBench:
  the random letter), and an unparseable answer is counted by kind in ``ScoreReport.unparsed``;
- a judgement **never answered** (network error, refusal, budget exhausted, after the client's
  retries) is never scored: it is listed in ``ScoreReport.missing`` and left out of that run's
  numbers, and the report is incomplete. It is not cached, so rerunning asks only for it.

The headline is the arithmetic mean over runs of each run's official numbers, with the population
standard deviation (ddof 0). ``ScoreReport.excluded`` is a secondary figure: the same means over
the parsed answers only. ``ScoreReport.failures`` counts, per run, the never-answered plus the
unparseable judgements.

Also here: line-numbered JSONL reading and strict JSON reading, so that every input error names
the file and the line or id at fault.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.judge.types import Judge, JudgeModelNotFound, JudgeReply, JudgeRequest

# The judge of the protocol the harness reproduces: the SENA paper's (AAAI 2025) GPT-4-1106-preview.
PROTOCOL_JUDGE = "gpt-4-1106-preview"


def require_judge(judge: Judge | None, benchmark: str) -> Judge:
    """The judge, or a HarnessError saying that ``benchmark`` needs one."""
    if judge is None:
        raise HarnessError(f"benchmark {benchmark!r} needs a judge (none was configured)")
    return judge


def check_runs(runs: int, benchmark: str) -> int:
    """Validate the number of judge runs (an int >= 1)."""
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise HarnessError(f"benchmark {benchmark!r}: judge runs must be an integer >= 1, got {runs!r}")
    return runs


def ask(judge: Judge, requests: Sequence[JudgeRequest], benchmark: str = "") -> list[JudgeReply]:
    """Send ``requests`` to the judge in one batch; the replies come back in request order.

    A judge model the server does not know is one ``JudgeModelNotFound`` naming ``benchmark``.
    """
    if not requests:
        return []
    try:
        replies = list(judge.judge(list(requests)))
    except JudgeModelNotFound as exc:
        raise exc.for_benchmark(benchmark) if benchmark else exc from None
    if len(replies) != len(requests):
        raise HarnessError(f"judge returned {len(replies)} replies for {len(requests)} requests")
    for req, rep in zip(requests, replies):
        if rep.request.key != req.key or rep.request.run_index != req.run_index or rep.request.attempt != req.attempt:
            raise HarnessError(
                f"judge reply out of order: expected {req.key!r} run {req.run_index} attempt {req.attempt}, "
                f"got {rep.request.key!r} run {rep.request.run_index} attempt {rep.request.attempt}"
            )
    return replies


def mean_and_std(per_run: Sequence[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Arithmetic mean and population std (ddof 0) of each metric over the runs that have it.

    A metric can be missing from a run (e.g. every judgement of a category failed in that run);
    it is then averaged over the runs where it exists.
    """
    keys: list[str] = []
    for run in per_run:
        keys.extend(k for k in run if k not in keys)
    means: dict[str, float] = {}
    stds: dict[str, float] = {}
    for key in keys:
        values = [run[key] for run in per_run if key in run]
        mu = math.fsum(values) / len(values)
        means[key] = mu
        stds[key] = math.sqrt(math.fsum((v - mu) ** 2 for v in values) / len(values))
    return means, stds


def failure_counts(per_run_failures: Sequence[int]) -> dict[str, int]:
    """``{"run0": n0, "run1": n1, ..., "total": n0 + n1 + ...}``."""
    counts = {f"run{r}": int(n) for r, n in enumerate(per_run_failures)}
    counts["total"] = int(sum(per_run_failures))
    return counts


def with_run_suffix(per_run: Sequence[dict[str, float]]) -> dict[str, float]:
    """Flatten per-run numbers into ``{"metric@run0": v, ...}`` (for ScoreReport.official)."""
    flat: dict[str, float] = {}
    for r, run in enumerate(per_run):
        for key, value in run.items():
            flat[f"{key}@run{r}"] = value
    return flat


def reply_failure(reply: JudgeReply) -> str | None:
    """Why a judgement was never answered (its call failed), else None (it has a text)."""
    if reply.error is not None:
        return f"judge_error: {reply.error}"
    if reply.text is None:
        return "judge_error: no text"
    return None


def missing_entry(item_id: str, run: int, reason: str) -> dict[str, Any]:
    """One ``ScoreReport.missing`` entry: a judgement never answered, never scored."""
    return {"item": item_id, "run": run, "reason": reason}


def unparsed_counts(kinds: Iterable[str]) -> dict[str, int]:
    """``{"<kind>": n, ..., "total": n}`` for the answered-but-unparseable judgements."""
    counts = Counter(kinds)
    out = {kind: int(n) for kind, n in sorted(counts.items())}
    out["total"] = int(sum(counts.values()))
    return out


def judge_deviations(judge_model: str, benchmark: str, official_judge: str, substitutes: Sequence[str]) -> list[str]:
    """Protocol-card lines about the judge: always the official script's judge; a warning when
    ``judge_model`` differs from the protocol's (``PROTOCOL_JUDGE``), naming the documented substitutes.

    The warning starts with "judge substituted:" so that the leaderboard can show it.
    """
    lines = [
        f"judge model defaults to {PROTOCOL_JUDGE} (SENA paper); the official {benchmark} script "
        f"hard-codes {official_judge}"
    ]
    if judge_model != PROTOCOL_JUDGE:
        lines.insert(
            0,
            f"judge substituted: {judge_model} instead of the protocol's {PROTOCOL_JUDGE}; numbers "
            f"are not comparable with the protocol's (documented substitutes: {', '.join(substitutes)})",
        )
    return lines


# ---------------------------------------------------------------------------------------------
# Input files


def read_jsonl_numbered(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; malformed lines name the file and line."""
    if not path.is_file():
        raise HarnessError(f"{path}: file not found")
    rows: list[tuple[int, dict[str, Any]]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{path}:{lineno}: malformed JSON line ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise HarnessError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            rows.append((lineno, obj))
    return rows


def _no_duplicate_keys(path: Path):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise HarnessError(f"{path}: duplicated key {key!r}")
            out[key] = value
        return out

    return hook


def read_json_strict(path: Path) -> Any:
    """Read a JSON file; malformed JSON or a key given twice in one object is a HarnessError."""
    if not path.is_file():
        raise HarnessError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_keys(path))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None


def require_fields(obj: dict[str, Any], fields: Iterable[tuple[str, type | tuple[type, ...]]], where: str) -> None:
    """Every ``(name, type)`` must be present with that type; ``where`` is "file:line" or "file id"."""
    for name, typ in fields:
        if name not in obj:
            raise HarnessError(f"{where}: missing field {name!r}")
        if not isinstance(obj[name], typ) or isinstance(obj[name], bool) and typ is not bool:
            raise HarnessError(f"{where}: field {name!r} has type {type(obj[name]).__name__}")


def first_existing(candidates: Sequence[Path], what: str) -> Path:
    """The first existing path among ``candidates``, else a HarnessError listing them."""
    for path in candidates:
        if path.is_file():
            return path
    raise HarnessError(f"{what} not found; looked for: " + ", ".join(str(p) for p in candidates))
