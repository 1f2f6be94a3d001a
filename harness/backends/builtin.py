"""Registers the engine's own backends through the same hook plugins use."""

from __future__ import annotations

from harness.plugins import hookimpl


@hookimpl
def harness_backends() -> list[type]:
    from harness.backends.hf import HFBackend
    from harness.backends.vllm import VLLMBackend, VLLMEmbedsBackend

    return [HFBackend, VLLMBackend, VLLMEmbedsBackend]
