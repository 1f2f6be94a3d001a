"""Golden renderings of LLaVA-1.5's conversation templates (haotian-liu/LLaVA llava/conversation.py)."""

import pytest

from harness.errors import HarnessError
from harness.policy.templates import get_template


def test_llava_v1_generation_prompt():
    assert get_template("llava_v1").render("What is it?") == (
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the human's questions. USER: <image>\nWhat is it? ASSISTANT:"
    )


def test_vicuna_v1_training_prompt_says_user():
    assert get_template("vicuna_v1").render("Q") == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: <image>\nQ ASSISTANT:"
    )


def test_text_only_prompt_has_no_image_placeholder():
    assert "<image>" not in get_template("llava_v1").render("Q", with_image=False)
    assert get_template("llava_hf").render("Q", with_image=False) == "USER: Q ASSISTANT:"


def test_llava_hf_template():
    assert get_template("llava_hf").render("What is it?") == "USER: <image>\nWhat is it? ASSISTANT:"


def test_unknown_template():
    with pytest.raises(HarnessError, match="llava_v1"):
        get_template("chatml")
