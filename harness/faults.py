"""Crash injection for the resume tests: ``HARNESS_KILL_AT=<point>`` makes the process SIGKILL itself.

Points: ``synthesize-<i>-chunk-<k>`` (after chunk k of a synthesis is journaled), ``synthesize-<i>``
(after the pairs are generated, before they are written), ``synthesized-<i>`` (the stage finished),
``reference-<i>`` (after the first batch of the reference pass), ``train-<i>`` (after the first
optimiser step), ``eval-<bench>-chunk-<k>`` (after chunk k of an evaluation's answers is journaled),
``judge-answer-<n>`` (after a judge client has stored its n-th answer in the judge cache).
Read at call time; unset in normal use, where this does nothing.
"""

from __future__ import annotations

import os
import signal


def maybe_kill(point: str) -> None:
    if os.environ.get("HARNESS_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
