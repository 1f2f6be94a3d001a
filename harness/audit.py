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
audited says so (with the reason an auditor gave, e.g. a missing ``--audit-truth`` file), and the
leaderboard shows "–".

Truth the run folder does not hold (COCO's instance annotations for a LLaVA-665k source, a benchmark's
vocabulary) comes from ``--audit-truth PATH`` (``harness audit``, ``harness evolve``): the paths reach the
auditors as ``source["audit_truth"]``; given paths that no auditor can use are an error, never a silent
"not audited".

Pairs whose prompt is a question the method wrote itself carry ``question_well_formed`` (a bool) in
their provenance (harness/method.py); the summary then counts them (``own_questions``: pairs, well-formed),
for the leaderboard's pair table.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
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
    from_prior: int | None = 0  # of those, the ones the world's co-occurrence prior predicts; None: no prior known
    mentions: int = 0
    covered: int | None = None  # objects of the truth it names correctly (None: not a description)
    hallucinated_objects: tuple[str, ...] = ()  # what it invents, one entry per hallucinated mention


class PairAuditor(Protocol):
    name: str

    def applies(self, source: dict[str, Any]) -> bool:
        """Whether this auditor knows the truth of images of this source (``ImageSource.describe()``, plus
        ``audit_truth``: the paths the user gave with ``--audit-truth``, where any). An instance serves one
        source: ``applies`` may load the truth ``mark`` needs. When it returns False it may set ``declined``
        (a sentence: why, and what would let it audit). A given path it cannot read is a HarnessError."""

    def mark(self, pair: PreferencePair) -> tuple[AnswerMark, AnswerMark] | None:
        """(chosen, rejected) marks, or None when this pair's image has no known truth."""


def find_auditor(source: dict[str, Any], reg=None, truth: Sequence[Path | str] = ()):
    """The registered auditor that knows this image source's truth, or None."""
    return _find(source, reg, truth)[0]


def _find(source: dict[str, Any], reg, truth: Sequence[Path | str]) -> tuple[Any, list[str]]:
    """(the auditor or None, the reasons the auditors that declined gave)."""
    if reg is None:
        from harness.plugins import registry

        reg = registry()
    described = dict(source, audit_truth=[str(p) for p in truth]) if truth else source
    notes = []
    for cls in reg.pair_auditors:
        auditor = cls()
        if auditor.applies(described):
            return auditor, []
        if getattr(auditor, "declined", None):
            notes.append(str(auditor.declined))
    if truth:
        given = ", ".join(str(p) for p in truth)
        raise HarnessError(
            f"--audit-truth {given}: no registered pair auditor audits images of this source "
            f"(kind {source.get('kind')!r}) with it" + (f" ({'; '.join(notes)})" if notes else "")
        )
    return None, notes


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


def audit_pairs(pairs: list[PreferencePair], auditor, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The audit of one iteration's pairs: summary and per-pair marks (see the module docstring). ``notes``:
    why no auditor applies (shown when none is audited)."""
    marks, verdicts = [], []
    chosen_h = rejected_h = prior_h = chosen_m = rejected_m = 0
    prior_known = False
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
        prior_known |= chosen.from_prior is not None or rejected.from_prior is not None
        prior_h += (chosen.from_prior or 0) + (rejected.from_prior or 0)
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
    if getattr(auditor, "truth", None):
        summary["truth"] = list(auditor.truth)  # the files the truth came from
    if not n and notes:
        summary["note"] = "; ".join(notes)
    asked = [p.provenance.get("question_well_formed") for p in pairs if isinstance(p.provenance, dict)]
    asked = [a for a in asked if isinstance(a, bool)]
    if asked:
        summary["own_questions"] = {"pairs": len(asked), "well_formed": sum(asked)}
    if n:
        summary.update(
            precision=round(100 * verdicts.count("correct") / n, 1),
            precision_interval=_precision_interval(verdicts),
            inverted=round(100 * verdicts.count("inverted") / n, 1),
            tied=round(100 * verdicts.count("tied") / n, 1),
            hallucinated_per_chosen=round(chosen_h / n, 3),
            hallucinated_per_rejected=round(rejected_h / n, 3),
            from_prior=(
                round(100 * prior_h / (chosen_h + rejected_h), 1) if prior_known and chosen_h + rejected_h else None
            ),
            mentions_per_chosen=round(chosen_m / n, 3),
            mentions_per_rejected=round(rejected_m / n, 3),
        )
    return {"summary": summary, "marks": marks}


def audit_iteration(
    iter_dir: Path, source: dict[str, Any], reg=None, truth: Sequence[Path | str] = (), found=None
) -> dict[str, Any]:
    """Audit ``iter_dir/pairs.jsonl`` and write ``iter_dir/audit.json``; returns the summary. ``truth``: the
    ``--audit-truth`` paths; ``found``: an (auditor, notes) already found for this source (``_find``)."""
    pairs_file = iter_dir / "pairs.jsonl"
    if not pairs_file.is_file():
        raise HarnessError(f"{iter_dir}: no pairs.jsonl (the iteration's synthesis has not finished)")
    pairs = [PreferencePair.from_dict(d) for d in atomic.read_jsonl(pairs_file)]
    auditor, notes = found if found is not None else _find(source, reg, truth)
    report = audit_pairs(pairs, auditor, notes)
    atomic.write_json(iter_dir / AUDIT_FILE, report)
    return report["summary"]


def auditor_for_run(run_dir: Path, reg=None, truth: Sequence[Path | str] = (), cache: dict | None = None):
    """(the auditor or None, why none) for a run folder's image source; ``cache`` (a dict) keeps what was found
    per source and truth, so runs of one source read their truth once. Bad ``truth`` raises here."""
    manifest = run_dir / "manifest.json"
    if not manifest.is_file():
        raise HarnessError(f"{run_dir}: not a run folder (no manifest.json)")
    source = (atomic.read_json(manifest).get("config") or {}).get("images", {}).get("source") or {}
    key = json.dumps([source, [str(p) for p in truth]], sort_keys=True, default=str)
    if cache is not None and key in cache:
        return cache[key]
    found = _find(source, reg, truth)
    if cache is not None:
        cache[key] = found
    return found


def audit_run(
    run_dir: Path, reg=None, truth: Sequence[Path | str] = (), cache: dict | None = None
) -> dict[int, dict[str, Any]]:
    """Audit every finished synthesis of a run folder (post hoc, for runs made before audits existed, or
    with truth given now: ``--audit-truth``). The truth is read once for all iterations."""
    found = auditor_for_run(run_dir, reg, truth, cache)
    markers = sorted((run_dir / "stages").glob("synthesize-*.done"), key=lambda m: int(m.stem.split("-")[1]))
    out = {}
    for marker in markers:
        i = int(marker.stem.split("-")[1])
        out[i] = audit_iteration(run_dir / f"iter{i}", {}, found=found)
    return out
