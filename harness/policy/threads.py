"""How many CPU threads torch uses for a tiny-scale model.

A model as small as the built-in tiny LLaVA (128 wide) gains little from a second thread on an idle
machine and loses much beside another busy process (perf/tiny_threads.py: a training step 0.79× the
one-thread time idle, 1.99× beside one busy process; generation 0.95× and 1.44×). One thread also
makes its sums, and so its runs, the same whatever the machine's core count. So a tiny-scale model on
the CPU runs on one thread; any other model keeps torch's default.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TINY_SCALE_HIDDEN = 256  # a language model at most this wide is tiny-scale
TINY_THREADS = 1


def threads_for(model_path: str | Path) -> int | None:
    """``TINY_THREADS`` for a tiny-scale checkpoint on a machine without CUDA, else None (torch's default).
    ``$HARNESS_TORCH_THREADS`` (read at call time) sets the count for a tiny-scale model instead."""
    import os

    import torch

    if torch.cuda.is_available():
        return None
    wanted = os.environ.get("HARNESS_TORCH_THREADS", "").strip()
    if wanted and not (wanted.isdigit() and int(wanted) >= 1):
        from harness.errors import HarnessError

        raise HarnessError(
            f"HARNESS_TORCH_THREADS={wanted!r}: a whole number ≥ 1 (torch threads of a tiny-scale model)"
        )
    try:
        config = json.loads((Path(model_path) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    text = config.get("text_config") or config
    hidden = text.get("hidden_size")
    if not (isinstance(hidden, int) and hidden <= TINY_SCALE_HIDDEN):
        return None
    return int(wanted) if wanted else TINY_THREADS


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (None: leave the count as it is), then restore it."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
