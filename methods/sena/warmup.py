"""Warm-up tasks that teach the built-in tiny model SENA's formats over synthetic shape scenes.

Contributed through the ``harness_warmup_tasks`` hook (methods/sena/method.py). One example per task and
scene keeps the tiny model's warm-up short. The prompts are rendered by the same helpers the method
uses, so the tiny model sees exactly the messages SENA sends:

- p_base → a question about the scene ending with ``?`` ("What color is the circle?");
- p_sq (with the image, or text-only as in the release) → ``QUESTION: <that question>``;
- a P_des prompt + the description suffix → the scene caption, or a question + the phrase suffix →
  the short answer;
- p_se for a description or a question → ``Improved Answer: <caption or answer>``.
"""

from __future__ import annotations

import random

import methods.sena.prompts as P
from harness.images.synthetic import NUMBER_WORDS, Scene
from harness.policy.warmup_tasks import WarmupExample
from methods.sena.messages import first_image_message, sq_message


def scene_question(scene: Scene, rng: random.Random) -> tuple[str, str]:
    """A question about ``scene`` and its short answer."""
    shape = rng.choice(scene.shapes)
    choice = rng.randrange(3)
    if choice == 0:
        return f"What color is the {shape.kind}?", shape.color.capitalize()
    if choice == 1:
        return "How many shapes are in the image?", NUMBER_WORDS[len(scene.shapes)].capitalize()
    return f"Which shape is {shape.color}?", shape.kind.capitalize()


def question_task(scene: Scene, rng: random.Random) -> list[WarmupExample]:
    question, _ = scene_question(scene, rng)
    return [WarmupExample(first_image_message(P.P_BASE), question)]


def self_questioning_task(scene: Scene, rng: random.Random) -> list[WarmupExample]:
    question, _ = scene_question(scene, rng)
    with_image = rng.random() < 0.5
    return [WarmupExample(sq_message(question, with_image), f"{P.QUESTION_LABEL}{question}", with_image=with_image)]


def answer_task(scene: Scene, rng: random.Random) -> list[WarmupExample]:
    if rng.random() < 0.5:
        return [WarmupExample(rng.choice(P.P_DES) + P.SUFFIX_DES, scene.caption())]
    question, answer = scene_question(scene, rng)
    return [WarmupExample(question + P.SUFFIX_GEN, answer)]


def self_enhancement_task(scene: Scene, rng: random.Random) -> list[WarmupExample]:
    caption = scene.caption()
    if rng.random() < 0.5:
        prompt = rng.choice(P.P_DES) + P.SUFFIX_DES
        return [WarmupExample(P.fill_se(caption, prompt, caption), f"{P.IMPROVED_LABEL}{caption}")]
    question, answer = scene_question(scene, rng)
    return [WarmupExample(P.fill_se(caption, question + P.SUFFIX_GEN, answer), f"{P.IMPROVED_LABEL}{answer}")]


WARMUP_TASKS = (question_task, self_questioning_task, answer_task, self_enhancement_task)
