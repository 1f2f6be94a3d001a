"""The truth audit of preference pairs: is a method's chosen answer truly better than its rejected one?

Where the truth of an image is known, an auditor (a plugin's, registered through the
``harness_pair_auditors`` hook: the synthetic world's comes with its judge-free benchmark and scores
answers with its rules) marks each answer of a pair: a score (the share of the scene it gets right,
penalised by what it invents), its hallucinated mentions and how many of them the world's co-occurrence
prior predicts. A pair is *correct* when the chosen answer scores above the rejected one, *inverted*
when below, *tied* when equal. Per iteration ``iter<i>/audit.json`` holds the summary (pair precision
with its 95 % bootstrap interval over pairs, inverted and tied shares, hallucinations and mentions per
chosen and rejected answer, the prior's share of the hallucinations) and every pair's marks, beside
``pairs.jsonl``.
Pairs whose image has no known truth are counted as not audited, never as wrong; a run with none
audited says so, and the leaderboard shows "–".
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from harness import atomic
from harness.errors import HarnessError
from harness.method import PreferencePair

AUDIT_FILE = "audit.json"
RESAMPLES = 2000


@dataclass(frozen=True)
class AnswerMark:
    """One answer against the truth of its image."""

    score: float  # 0..1: the share of the truth it gets right, penalised by what it invents
    hallucinated: int = 0  # mentions of things that are not there
    from_prior: int = 0  # of those, the ones the world's co-occurrence prior predicts
    mentions: int = 0


class PairAuditor(Protocol):
    name: str

    def applies(self, source: dict[str, Any]) -> bool:
        """Whether this auditor knows the truth of images of this source (``ImageSource.describe()``)."""

    def mark(self, pair: PreferencePair) -> tuple[AnswerMark, AnswerMark] | None:
        """(chosen, rejected) marks, or None when this pair's image has no known truth."""


def find_auditor(source: dict[str, Any], reg=None):
    """The registered auditor that knows this image source's truth, or None."""
    if reg is None:
        from harness.plugins import registry

        reg = registry()
    for cls in reg.pair_auditors:
        auditor = cls()
        if auditor.applies(source):
            return auditor
    return None


def verdict(chosen: AnswerMark, rejected: AnswerMark) -> str:
    if chosen.score > rejected.score:
        return "correct"
    if chosen.score < rejected.score:
        return "inverted"
    return "tied"


def _precision_interval(verdicts: list[str], seed: int = 0) -> list[float] | None:
    """95 % percentile bootstrap interval of the correct share (%), resampling pairs."""
    if not verdicts:
        return None
    rng = random.Random(seed)
    hits = [v == "correct" for v in verdicts]
    n = len(hits)
    stats = sorted(100 * sum(hits[rng.randrange(n)] for _ in range(n)) / n for _ in range(RESAMPLES))
    return [round(stats[int(0.025 * RESAMPLES)], 1), round(stats[int(0.975 * RESAMPLES) - 1], 1)]


def audit_pairs(pairs: list[PreferencePair], auditor) -> dict[str, Any]:
    """The audit of one iteration's pairs: summary and per-pair marks (see the module docstring)."""
    marks, verdicts = [], []
    chosen_h = rejected_h = prior_h = chosen_m = rejected_m = 0
    for index, pair in enumerate(pairs):
        got = auditor.mark(pair) if auditor is not None else None
        if got is None:
            marks.append({"pair": index, "audited": False})
            continue
        chosen, rejected = got
        v = verdict(chosen, rejected)
        verdicts.append(v)
        chosen_h += chosen.hallucinated
        rejected_h += rejected.hallucinated
        prior_h += chosen.from_prior + rejected.from_prior
        chosen_m += chosen.mentions
        rejected_m += rejected.mentions
        marks.append(
            {"pair": index, "audited": True, "verdict": v, "chosen": asdict(chosen), "rejected": asdict(rejected)}
        )
    n = len(verdicts)
    summary: dict[str, Any] = {
        "auditor": getattr(auditor, "name", None),
        "pairs": len(pairs),
        "audited": n,
    }
    if n:
        summary.update(
            precision=round(100 * verdicts.count("correct") / n, 1),
            precision_interval=_precision_interval(verdicts),
            inverted=round(100 * verdicts.count("inverted") / n, 1),
            tied=round(100 * verdicts.count("tied") / n, 1),
            hallucinated_per_chosen=round(chosen_h / n, 3),
            hallucinated_per_rejected=round(rejected_h / n, 3),
            from_prior=round(100 * prior_h / (chosen_h + rejected_h), 1) if chosen_h + rejected_h else None,
            mentions_per_chosen=round(chosen_m / n, 3),
            mentions_per_rejected=round(rejected_m / n, 3),
        )
    return {"summary": summary, "marks": marks}


def audit_iteration(iter_dir: Path, source: dict[str, Any], reg=None) -> dict[str, Any]:
    """Audit ``iter_dir/pairs.jsonl`` and write ``iter_dir/audit.json``; returns the summary."""
    pairs_file = iter_dir / "pairs.jsonl"
    if not pairs_file.is_file():
        raise HarnessError(f"{iter_dir}: no pairs.jsonl (the iteration's synthesis has not finished)")
    pairs = [PreferencePair.from_dict(d) for d in atomic.read_jsonl(pairs_file)]
    report = audit_pairs(pairs, find_auditor(source, reg))
    atomic.write_json(iter_dir / AUDIT_FILE, report)
    return report["summary"]


def audit_run(run_dir: Path, reg=None) -> dict[int, dict[str, Any]]:
    """Audit every finished synthesis of a run folder (post hoc, for runs made before audits existed)."""
    manifest = run_dir / "manifest.json"
    if not manifest.is_file():
        raise HarnessError(f"{run_dir}: not a run folder (no manifest.json)")
    source = (atomic.read_json(manifest).get("config") or {}).get("images", {}).get("source") or {}
    out = {}
    for marker in sorted((run_dir / "stages").glob("synthesize-*.done")):
        i = int(marker.stem.split("-")[1])
        out[i] = audit_iteration(run_dir / f"iter{i}", source, reg)
    return out
