"""The generation interface.

A request is (image, prompt text, optional noise step, max new tokens); the result is the text.
The backend renders the policy's conversation template, preprocesses the image as LLaVA-1.5 does
(pad to square), applies the seeded diffusion noise, batches and places on devices. Decoding is
greedy, as in the official code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from harness.errors import HarnessError


@dataclass(frozen=True)
class GenerationRequest:
    image: Image.Image | None = field(compare=False, repr=False)
    prompt: str  # the user message; the backend applies the conversation template
    noise_step: int | None = None  # diffusion step t (0-999) for a corrupted image, None for clean
    max_new_tokens: int = 512
    seed: int = 0  # seeds the diffusion noise of this request
    with_image: bool = True  # False: text-only prompt, no <image> placeholder (SENA code's p_sq)

    def __post_init__(self):
        if self.with_image and self.image is None:
            raise HarnessError(f"generation request {self.prompt[:40]!r}… needs an image (or with_image=False)")
        if self.noise_step is not None:
            from harness.noise import check_step

            check_step(self.noise_step)
        if self.max_new_tokens < 1:
            raise HarnessError(f"max_new_tokens must be ≥ 1, got {self.max_new_tokens}")


class Backend(ABC):
    """Turns generation requests into texts, in request order."""

    name: str
    description: str

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest], *, desc: str = "generating") -> list[str]:
        """Greedy continuations, one per request, in order; ``desc`` labels the progress bar."""

    def close(self) -> None:
        """Release devices (vLLM engines hold GPU memory)."""


def make_backend(name: str, policy, **options) -> Backend:
    """Instantiate a registered backend (``hf``, ``vllm`` or a plugin's) for a loaded policy."""
    from harness.plugins import registry

    cls = registry().backend(name)
    return cls(policy, **options)
