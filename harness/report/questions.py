"""The leaderboard's cell for a method's own questions: how many of the questions it wrote read as questions,
and how many of its pairs built on one have a well-formed question as their prompt.

A method that writes its own questions reports ``stats["questions"]`` (``generated``, ``well_formed``) in
``iter<i>/stats.json`` (per synthesis chunk, summed here) and marks the pairs whose prompt is one of them
(``provenance["question_well_formed"]``), which the pair audit counts (``own_questions`` in
``iter<i>/audit.json``, over the pairs the iteration trains on); harness/method.py ``PreferenceSet``.
A method that reports neither shows "–".
"""

from __future__ import annotations

from typing import Any

from harness.report.rows import DASH, num


def own_questions(run: Any, iteration: int) -> dict[str, float] | None:
    """``{"generated", "well_formed", "pairs", "pairs_well_formed"}`` (absent keys: not reported) of one run's
    iteration (a ``RunInfo``), or None when the method reports neither."""
    out: dict[str, float] = {}
    inner = (run.stats(iteration) or {}).get("stats")
    chunks = inner.get("chunks") if isinstance(inner, dict) and isinstance(inner.get("chunks"), list) else [inner]
    for chunk in chunks:
        asked = chunk.get("questions") if isinstance(chunk, dict) else None
        if isinstance(asked, dict) and num(asked.get("generated")) is not None:
            out["generated"] = out.get("generated", 0) + num(asked["generated"])
            out["well_formed"] = out.get("well_formed", 0) + (num(asked.get("well_formed")) or 0)
    in_pairs = (run.audit(iteration) or {}).get("own_questions")
    if isinstance(in_pairs, dict) and num(in_pairs.get("pairs")) is not None:
        out["pairs"] = num(in_pairs["pairs"])
        out["pairs_well_formed"] = num(in_pairs.get("well_formed")) or 0
    return out or None


def _share(found: list[dict[str, float]], part: str, whole: str) -> str:
    """One run: "99.2 (127/128)"; several: mean ± sample std of the runs' shares (n: the summed whole)."""
    have = [f for f in found if f.get(whole)]
    if not have:
        return DASH
    shares = [100 * f[part] / f[whole] for f in have]
    if len(have) == 1:
        return f"{shares[0]:.1f} ({have[0][part]:.0f}/{have[0][whole]:.0f})"
    mean = sum(shares) / len(shares)
    sd = (sum((s - mean) ** 2 for s in shares) / (len(shares) - 1)) ** 0.5
    return f"{mean:.1f} ± {sd:.1f} (n {sum(f[whole] for f in have):.0f})"


def own_questions_text(members: list[Any]) -> str:
    """The pair table's cell for a row (its runs: ``members``): "<written> / <pair prompts>", each the
    well-formed share (%); "–" where the method reports no own questions."""
    found = [own_questions(m.run, m.iteration) for m in members if m.run is not None and m.iteration]
    found = [f for f in found if f]
    if not found:
        return DASH
    if any(f.get("generated") for f in found):
        written = _share(found, "well_formed", "generated")
    else:  # the method reports its questions: it wrote none
        written = "none" if any("generated" in f for f in found) else DASH
    if any(f.get("pairs") for f in found):
        in_pairs = _share(found, "pairs_well_formed", "pairs")
    else:  # questions written, none a kept pair's prompt
        in_pairs = "no pair" if any("generated" in f for f in found) else DASH
    return f"{written} / {in_pairs}"
