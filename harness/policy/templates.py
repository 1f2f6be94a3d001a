"""Conversation templates of LLaVA-1.5 as the official code renders them.

Source (protocol, reproduced verbatim): haotian-liu/LLaVA ``llava/conversation.py`` (the
``conv_llava_v1`` and ``conv_vicuna_v1`` templates of LLaVA-1.5).

- ``llava_v1``: the template the self-evolution papers' code *generates* data with (system prompt
  says "human").
- ``vicuna_v1``: the template they *train* with (``--version v1``; system prompt says "user").
- ``llava_hf``: the chat template shipped with ``llava-hf/llava-1.5-7b-hf`` (no system prompt).

Both v1 templates use separator style TWO: ``system + " " + "USER: " + msg + " " + "ASSISTANT:"``;
an assistant answer is followed by ``"</s>"``. The image placeholder is ``"<image>\\n"`` before the
first user message.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError

IMAGE_TOKEN = "<image>"

SYSTEM_LLAVA_V1 = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
SYSTEM_VICUNA_V1 = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@dataclass(frozen=True)
class ConversationTemplate:
    """A one-turn LLaVA conversation: ``[system ]USER: [<image>\\n]prompt ASSISTANT:[ answer</s>]``."""

    name: str
    system: str | None

    def render(self, prompt: str, *, with_image: bool = True) -> str:
        """The generation prompt (ends with ``ASSISTANT:``; the model continues after it)."""
        user = f"{IMAGE_TOKEN}\n{prompt}" if with_image else prompt
        head = f"{self.system} " if self.system else ""
        return f"{head}USER: {user} ASSISTANT:"

    def render_answer(self, answer: str) -> str:
        """The supervised continuation: a space, the answer, and the end-of-sequence marker is added
        by the tokenizer (EOS id), not as text, so a literal ``</s>`` never reaches the pre-tokenizer."""
        return f" {answer}"


TEMPLATES: dict[str, ConversationTemplate] = {
    "llava_v1": ConversationTemplate("llava_v1", SYSTEM_LLAVA_V1),
    "vicuna_v1": ConversationTemplate("vicuna_v1", SYSTEM_VICUNA_V1),
    "llava_hf": ConversationTemplate("llava_hf", None),
}


def get_template(name: str) -> ConversationTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise HarnessError(f"unknown conversation template {name!r}; known: {', '.join(TEMPLATES)}") from None
