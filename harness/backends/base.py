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
from typing import Any, ClassVar

from PIL import Image

from harness.errors import HarnessError


@dataclass(frozen=True)
class GenerationRequest:
    image: Image.Image | None = field(compare=False, repr=False)
    prompt: str  # the user message; the backend applies the conversation template
    noise_step: int | None = None  # diffusion step t (0-999) for a corrupted image, None for clean
    max_new_tokens: int = 512
    seed: int = 0  # seeds the diffusion noise of this request
    with_image: bool = True  # False: text-only prompt, no <image> placeholder (a text-only self-questioning prompt)

    def __post_init__(self):
        if self.with_image and self.image is None:
            raise HarnessError(f"generation request {self.prompt[:40]!r}… needs an image (or with_image=False)")
        if self.noise_step is not None:
            from harness.noise import check_step

            check_step(self.noise_step)
        if self.max_new_tokens < 1:
            raise HarnessError(f"max_new_tokens must be ≥ 1, got {self.max_new_tokens}")


@dataclass(frozen=True)
class BackendOption:
    """An engine option a backend accepts through ``--backend-opt key=value``."""

    kind: type  # int, float or bool
    low: float | None = None  # inclusive lower bound
    high: float | None = None  # inclusive upper bound
    above: float | None = None  # exclusive lower bound
    help: str = ""

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false"
        bounds = []
        if self.above is not None:
            bounds.append(f"> {self.above:g}")
        if self.low is not None:
            bounds.append(f"≥ {self.low:g}")
        if self.high is not None:
            bounds.append(f"≤ {self.high:g}")
        return ("an integer" if self.kind is int else "a number") + (" " + " and ".join(bounds) if bounds else "")


def parse_backend_options(backend: str, options: dict[str, BackendOption], items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` items typed and checked against a backend's ``options``; HarnessError names the item."""
    import math

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise HarnessError(f"--backend-opt {item!r}: expected key=value")
        key, raw = (x.strip() for x in item.split("=", 1))
        if key not in options:
            known = ", ".join(sorted(options)) or "none"
            raise HarnessError(f"--backend-opt {key}: backend {backend!r} has no such option; accepted: {known}")
        opt = options[key]
        if opt.kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise HarnessError(f"--backend-opt {key}={raw}: expected true or false")
            out[key] = raw.lower() in ("true", "1", "yes")
            continue
        try:
            value = opt.kind(raw)
        except ValueError:
            raise HarnessError(f"--backend-opt {key}={raw}: expected {opt.describe()}") from None
        if (
            (isinstance(value, float) and not math.isfinite(value))
            or (opt.low is not None and value < opt.low)
            or (opt.high is not None and value > opt.high)
            or (opt.above is not None and value <= opt.above)
        ):
            raise HarnessError(f"--backend-opt {key}={raw}: expected {opt.describe()}")
        out[key] = value
    return out


class Backend(ABC):
    """Turns generation requests into texts, in request order."""

    name: str
    description: str
    options: ClassVar[dict[str, BackendOption]] = {}  # what --backend-opt accepts

    @classmethod
    def load_policy(cls, path, dtype: str):
        """The policy this backend generates from; the default loads it where generation runs (the GPU when
        there is one). Engines that load their own weights override this to keep the policy off the GPU."""
        from harness.policy.loading import load_policy

        return load_policy(path, dtype=dtype)

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest], *, desc: str = "generating") -> list[str]:
        """Greedy continuations, one per request, in order; ``desc`` labels the progress bar."""

    def close(self) -> None:  # noqa: B027 - optional hook: most backends hold nothing to release
        """Release devices (vLLM engines hold GPU memory)."""


def make_backend(name: str, policy, **options) -> Backend:
    """Instantiate a registered backend (``hf``, ``vllm`` or a plugin's) for a loaded policy."""
    from harness.plugins import registry

    cls = registry().backend(name)
    return cls(policy, **options)
