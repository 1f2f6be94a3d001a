"""SENA's user messages: how a prompt goes through the official first-message path, and how a model
output is made safe to embed in a later prompt.

Shared by the method (methods/sena/method.py) and the tiny model's warm-up tasks
(methods/sena/warmup.py), so the tiny model sees exactly the messages SENA sends.
"""

from __future__ import annotations

import methods.sena.prompts as P


def embeddable(text: str) -> str:
    """A model output made safe to embed in a later prompt: a literal ``<image>`` is removed."""
    return text.replace("<image>", "")


def first_image_message(text: str) -> str:
    """generate_question.py's ``process_image_token`` for a first message with an image: the
    ``<image>`` literal removed, then ``strip()``; the backend adds ``<image>\\n`` in front."""
    return text.replace("<image>", "").strip()


def sq_message(question: str, with_image: bool) -> str:
    """The p_sq user message: stripped on the image path (official first-message branch), verbatim on
    the text-only path (the release)."""
    filled = P.fill_sq(embeddable(question))
    return first_image_message(filled) if with_image else filled
