"""The truth audit of preference pairs on the synthetic world (harness/audit.py), with this benchmark's
rules: a description (any answer that names shapes) scores as the benchmark scores one
(``describe_mentions``: the share of the scene's kinds it covers, penalised by its hallucinated
mentions), an answer to one of the world's short questions scores 1 when right and 0 when wrong:

- "Is there a <kind> …?" (existence): "Yes" exactly when a shape of that kind is drawn;
- "What color is the <kind>?": the colour of a shape of that kind;
- "How many shapes …?": the number of shapes, as a word or a digit;
- "Which shape is <colour>?": the kind of a shape of that colour.

Absent-kind mentions that the warm-up's co-occurrence prior predicts (the partner of a present kind)
are counted as from the prior. Images outside the synthetic source have no truth here.
"""

from __future__ import annotations

import re
from typing import Any

from benchmarks.shapes.benchmark import describe_mentions
from harness.audit import AnswerMark
from harness.images.synthetic import COLORS, NUMBER_WORDS, SHAPES, SKEWED, Scene, make_scene
from harness.method import PreferencePair
from harness.plugins import hookimpl

_WORD = re.compile(r"[a-z0-9]+")


def _scene(image_id: str) -> Scene | None:
    parts = image_id.split("/")
    if len(parts) != 3 or parts[0] != "synthetic" or not parts[2].isdigit():
        return None
    return make_scene(parts[1], int(parts[2]))


def _short_answer(question: str, answer: str, scene: Scene) -> float | None:
    """1/0 for an answer to one of the world's short questions; None when the question is not one."""
    q = _WORD.findall(question.lower())
    a = _WORD.findall(answer.lower())
    text = " ".join(q)
    kinds = [k for k in SHAPES if k in q]
    colours = [c for c in COLORS if c in q]
    if q[:2] in (["is", "there"], ["are", "there"]) and kinds:
        present = any(s.kind == kinds[-1] and (not colours or s.color == colours[-1]) for s in scene.shapes)
        said = "yes" in a[:2]
        return float(said == present) if a[:1] in (["yes"], ["no"]) else 0.0
    if text.startswith("what color is") and kinds:
        truth = {s.color for s in scene.shapes if s.kind == kinds[-1]}
        return float(any(c in a for c in truth) and not any(c in a for c in COLORS if c not in truth))
    if text.startswith("how many shapes"):
        n = len(scene.shapes)
        return float(NUMBER_WORDS.get(n) in a or str(n) in a)
    if text.startswith("which shape is") and colours:
        truth = {s.kind for s in scene.shapes if s.color == colours[-1]}
        named = {k for k in SHAPES if k in a or f"{k}s" in a}
        return float(bool(named) and named <= truth)
    return None


def mark_answer(question: str, answer: str, scene: Scene) -> AnswerMark:
    short = _short_answer(question, answer, scene)
    if short is not None:
        return AnswerMark(score=short, hallucinated=0, from_prior=0, mentions=0)
    d = describe_mentions(answer, scene)
    present = set(scene.objects)
    partners = {SKEWED.partner(k) for k in present} - {None}
    wrong = [m for m, h in zip(d.mentions, d.hallucinated) if h]
    prior = sum(m.split()[-1] not in present and m.split()[-1] in partners for m in wrong)
    return AnswerMark(
        score=round(d.score, 4),
        hallucinated=len(wrong),
        from_prior=prior,
        mentions=len(d.mentions),
        covered=len(d.covered),
        hallucinated_objects=tuple(wrong),
    )


class SyntheticPairAuditor:
    name = "shapes"

    def applies(self, source: dict[str, Any]) -> bool:
        return source.get("kind") == "synthetic"

    def mark(self, pair: PreferencePair) -> tuple[AnswerMark, AnswerMark] | None:
        scene = _scene(pair.image)
        if scene is None:
            return None
        question = pair.prompt.split("\n")[0]
        return mark_answer(question, pair.chosen, scene), mark_answer(question, pair.rejected, scene)


@hookimpl
def harness_pair_auditors() -> list[type]:
    return [SyntheticPairAuditor]
