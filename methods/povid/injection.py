"""POVID's stage-1 rejected answers on the built-in synthetic scenes: the ground truth with a hallucination
injected by rule.

POVID asks GPT-4V to inject plausible hallucinations into a correct answer: a hallucinated entity, a
wrong attribute, a wrong relationship (Zhou et al. 2024, arXiv 2402.11411, §3.1 and the repository's
figures ``assets/main.png``, ``assets/data.png``). On a synthetic scene the truth is exact, so the edit
is a rule: the first shape (in drawing order) whose co-occurrence partner under the tiny model's training
prior (harness/images/synthetic.py ``SKEWED``: circle ↔ square) is absent from the scene becomes that
partner (the hallucination the prior predicts, an entity hallucination); a scene with no such shape (both
partners present, or triangles only) gets the first shape's colour changed to the first colour absent from
the scene (an attribute hallucination).
"""

from __future__ import annotations

from dataclasses import replace

from harness.images.synthetic import COLORS, SKEWED, Scene


def inject(scene: Scene) -> tuple[str, str]:
    """(the injected caption, what was changed), e.g. ("There is a red square.", "entity: circle → square")."""
    kinds = {s.kind for s in scene.shapes}
    shapes = list(scene.shapes)
    for k, shape in enumerate(shapes):
        partner = SKEWED.partner(shape.kind)
        if partner is not None and partner not in kinds:
            shapes[k] = replace(shape, kind=partner)
            return replace(scene, shapes=tuple(shapes)).caption(), f"entity: {shape.kind} → {partner}"
    colours = {s.color for s in scene.shapes}
    other = next(c for c in COLORS if c not in colours)
    first = shapes[0]
    shapes[0] = replace(first, color=other)
    return replace(scene, shapes=tuple(shapes)).caption(), f"attribute: {first.color} {first.kind} → {other}"
