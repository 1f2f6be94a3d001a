"""The tracker contract and how one is chosen by name: ``none`` (the default), ``tensorboard`` or ``wandb``.

A tracker records an evolve run's per-iteration numbers (the iteration is the step), tables and a sample
of preference pairs with their images. Trackers are made per run, at call time; nothing is global.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.errors import HarnessError

BACKENDS = ("none", "tensorboard", "wandb")
TRACK_EXTRA = "self-evolution-harness[track]"
_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb"}
WANDB_PROJECT = "self-evolution-harness"  # the project when WANDB_PROJECT is not set


@dataclass(frozen=True)
class PairSample:
    """One preference pair as a tracker shows it: its image (PIL, None when it cannot be opened) and texts."""

    image: Any
    prompt: str
    chosen: str
    rejected: str
    kind: str = ""
    verdict: str = ""  # the truth audit's verdict (correct, inverted, tied), "" when not audited


class Tracker(Protocol):
    backend: str

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        """Numbers of one iteration (``step``), by tag (``eval/shapes/CHAIR``)."""

    def table(self, tag: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> None:
        """A table of text cells."""

    def pairs(self, tag: str, samples: Sequence[PairSample], step: int) -> None:
        """A sample of preference pairs with their images."""

    def flush(self) -> None:
        """Everything logged so far on disk."""

    def pause(self) -> None:
        """Let training open its own run (wandb: one active run per process); the next call reopens."""

    def close(self) -> None: ...


def check_backend(name: str, option: str = "--track") -> None:
    """An unknown tracker, or one whose package is missing, is refused before anything runs."""
    if name not in BACKENDS:
        raise HarnessError(f"{option} {name}: unknown tracker; choose one of {', '.join(BACKENDS)}")
    package = _PACKAGES.get(name)
    if package and importlib.util.find_spec(package) is None:
        raise HarnessError(
            f"{option} {name} needs the {package} package, which is not installed: pip install '{TRACK_EXTRA}'"
        )


def wandb_id(name: str, run_dir: Path) -> str:
    """A wandb run id for a run folder: its name (letters, digits, ._-) and a hash of its absolute path,
    stable across resumes, distinct for same-named folders elsewhere."""
    digest = hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)[:60]}-{digest}"


def wandb_mode() -> str:
    """``WANDB_MODE`` when set, else online with an API key in the environment and offline without one
    (no account needed). Read at call time; only the key's presence matters here, it is never stored or written."""
    return os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")


def wandb_project() -> str:
    return os.environ.get("WANDB_PROJECT") or WANDB_PROJECT
