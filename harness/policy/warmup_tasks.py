"""Instruction tasks over synthetic shape scenes, used to warm up the built-in tiny model.

A random tiny network emits noise, which no self-evolution method can parse (a method may drop
a question without "?", for instance). The built-in ``tiny`` model is therefore briefly trained on
instructions about shape scenes whose answers are known, so that its generations have the formats
the methods and the synthetic-scene benchmark read. Plugins add their own instruction formats through
the ``harness_warmup_tasks`` hook (a method contributes its prompts), so the tiny model speaks
every installed method's protocol.

A task is a callable ``(scene, rng) -> list[WarmupExample]``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from harness.images.synthetic import COLORS, NUMBER_WORDS, SHAPES, Scene


@dataclass(frozen=True)
class WarmupExample:
    prompt: str
    answer: str
    with_image: bool = True


WarmupTask = Callable[[Scene, random.Random], list[WarmupExample]]

DESCRIBE_PROMPTS = (
    "Describe the image.",
    "What is in the image?",
    "Describe this image in one sentence.",
)
PHRASE_SUFFIX = "\nAnswer the question using a single word or phrase."


def describe_task(scene: Scene, rng: random.Random) -> list[WarmupExample]:
    return [WarmupExample(rng.choice(DESCRIBE_PROMPTS), scene.caption())]


def existence_task(scene: Scene, rng: random.Random) -> list[WarmupExample]:
    present = {s.kind for s in scene.shapes}
    kind = rng.choice(SHAPES)
    answer = "Yes" if kind in present else "No"
    named = {s.name for s in scene.shapes}
    color, kind2 = rng.choice(sorted(COLORS)), rng.choice(SHAPES)
    answer2 = "Yes" if f"{color} {kind2}" in named else "No"
    return [
        WarmupExample(f"Is there a {kind} in this image?", answer),
        WarmupExample(f"Is there a {color} {kind2} in the image?{PHRASE_SUFFIX}", answer2),
    ]


def attribute_task(scene: Scene, rng: random.Random) -> list[WarmupExample]:
    s = rng.choice(scene.shapes)
    n = len(scene.shapes)
    return [
        WarmupExample(f"What color is the {s.kind}?{PHRASE_SUFFIX}", s.color.capitalize()),
        WarmupExample(f"How many shapes are in the image?{PHRASE_SUFFIX}", NUMBER_WORDS[n].capitalize()),
    ]


BUILTIN_TASKS: tuple[WarmupTask, ...] = (describe_task, existence_task, attribute_task)


@dataclass(frozen=True)
class BalancedPools:
    """One scene's curriculum examples: captions, and existence questions answered "Yes" or "No"
    (``yes``/``no``: about a shape kind; ``yes_color``/``no_color``: about a colour and kind).

    A model warmed up on the tasks above answers "Yes" to nearly every existence question (most
    questions a random draw asks are about a present shape, and "Yes" is the cheap answer); drawing
    the warm-up batches from these pools in fixed shares (the tiny model's curriculum) balances them.
    """

    captions: list[WarmupExample]
    yes: list[WarmupExample]
    no: list[WarmupExample]
    yes_color: list[WarmupExample]
    no_color: list[WarmupExample]


def balanced_pools(scene: Scene) -> BalancedPools:
    """Every describe prompt with the caption; per kind "Is there a {kind} in this image?" (Yes when a
    shape of that kind is drawn); per colour and kind the phrase-suffixed coloured question."""
    captions = [WarmupExample(p, scene.caption()) for p in DESCRIBE_PROMPTS]
    present = {s.kind for s in scene.shapes}
    named = {s.name for s in scene.shapes}
    yes = [WarmupExample(f"Is there a {k} in this image?", "Yes") for k in SHAPES if k in present]
    no = [WarmupExample(f"Is there a {k} in this image?", "No") for k in SHAPES if k not in present]
    yes_color, no_color = [], []
    for color in sorted(COLORS):
        for kind in SHAPES:
            hit = f"{color} {kind}" in named
            (yes_color if hit else no_color).append(
                WarmupExample(f"Is there a {color} {kind} in the image?{PHRASE_SUFFIX}", "Yes" if hit else "No")
            )
    return BalancedPools(captions, yes, no, yes_color, no_color)
