"""Warm-up tasks that teach the built-in tiny model STIC's prompt formats over synthetic shape scenes.

Contributed through the ``harness_warmup_tasks`` hook. The prompts are STIC's own (methods/stic/prompts.py):
the preferred step-by-step prompt and the simple captioning prompts are answered with the scene's
caption; a hallucination-inducing prompt ("describe the image with imaginative objects …") is answered
as an instruction-following LVLM answers it, with the caption plus one shape that is not there (the
kind the warm-up scenes' co-occurrence prior puts beside a present one where there is such a kind), so
that STIC's bad-prompt branch has on the tiny model the effect it has on LLaVA.
"""

from __future__ import annotations

import random

from harness.images.synthetic import COLORS, SHAPES, SKEWED, Scene
from harness.policy.warmup_tasks import WarmupExample
from methods.stic import prompts as P


def imagined_caption(scene: Scene, rng: random.Random) -> str:
    """The caption with one absent shape added (the prior's partner of a present kind when one is absent)."""
    present = [s.kind for s in scene.shapes]
    partners = [k for k in (SKEWED.partner(p) for p in present) if k and k not in present]
    absent = [k for k in SHAPES if k not in present]
    kind = partners[0] if partners else rng.choice(absent or list(SHAPES))
    names = [f"a {s.name}" for s in scene.shapes] + [f"a {rng.choice(sorted(COLORS))} {kind}"]
    return f"There is {', '.join(names[:-1])} and {names[-1]}."


def stic_describe_task(scene: Scene, rng: random.Random) -> list[WarmupExample]:
    return [
        WarmupExample(rng.choice((P.PREFERRED, *P.SIMPLE)), scene.caption()),
        WarmupExample(rng.choice(P.HALLUCINATION), imagined_caption(scene, rng)),
    ]


WARMUP_TASKS = (stic_describe_task,)
