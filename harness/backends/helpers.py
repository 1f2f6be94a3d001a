"""Generation helpers: extra CPU processes that generate whole batches for the hf backend on spare cores.

A tiny-scale model runs on one torch thread (harness/policy/threads.py), so on a machine with more cores
than that one process leaves cores idle. Helpers fill them without changing a single output: the hf
backend cuts its requests into exactly the batches it would generate alone (harness/backends/hf.py), and
each batch is generated whole, by the main process or by a helper, with the same weights (loaded from the
same checkpoint in the same dtype), the same number of torch threads and the same code. Which process
generated a batch therefore changes nothing but the wall time (tests/test_gen_helpers.py checks that a
run with helpers writes the same files as a run without).

The main process never waits for a helper: a helper that is still importing torch, or is slower, simply
gets fewer batches, and the main process works from the front of the batch list while helpers take
batches from the back. A helper that fails is retired and its batch generated in the main process, which
then raises the same error if the batch itself is at fault. Helpers live as long as the pool (a whole
``harness evolve``: one start-up for every stage), load each θ once, and exit when the pool closes or
when the main process dies (their pipe closes).

Helpers are used only where this equality holds: the policy on the CPU with a fixed thread count (a
tiny-scale model, ``threads_for``). ``auto`` starts one helper per spare core (at most
``MAX_AUTO_HELPERS``); perf/cold_run.py measures what they buy.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from harness.errors import HarnessError

MAX_AUTO_HELPERS = 3
# ``auto`` starts helpers only for runs that generate for at least this many images per iteration: smaller
# ones (smoke runs, tests) end before a helper has imported torch and transformers
AUTO_MIN_IMAGES = 64


def _helper_main(conn) -> None:
    """A helper's loop: say it is ready, load θ when told (and say so), generate each batch it is sent,
    until told to stop. Messages to the main process: (kind, batch or key, payload)."""
    try:
        import torch

        from harness.backends.hf import HFBackend
        from harness.policy.loading import load_policy, weights_stamp

        conn.send(("ready", None, None))
        backend, loaded, load_error = None, None, None
        while True:
            msg = conn.recv()
            if msg is None:
                return
            kind, payload = msg
            if kind == "load":
                if loaded != payload:
                    path, dtype, threads, template, pad_to_square, stamp = payload
                    backend, loaded, load_error = None, payload, None
                    try:
                        if weights_stamp(path) != stamp:  # rewritten since the main process read it
                            raise RuntimeError(f"{path}: the weights changed since the main process loaded them")
                        torch.set_num_threads(threads)
                        policy = load_policy(path, dtype=dtype, template=template, pad_to_square=pad_to_square)
                        backend = HFBackend(policy, progress=False)
                        backend.warm_up()
                    except Exception:  # noqa: BLE001 - reported with the next batch
                        load_error = traceback.format_exc()
                conn.send(("loaded", payload, None))
                continue
            bid, batch, function = payload
            if backend is None:
                conn.send(("error", bid, load_error or "a batch before any policy was loaded"))
                continue
            try:
                result = function(backend.policy, batch) if function else backend._generate_batch(batch)
                conn.send(("done", bid, result))
            except Exception:  # noqa: BLE001 - reported to the main process, which generates the batch itself
                conn.send(("error", bid, traceback.format_exc()))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the main process is gone (or stopping): nothing to report to


class _Helper:
    def __init__(self, ctx, rank: int):
        self.rank = rank
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_helper_main, args=(child,), daemon=True, name=f"harness-gen-helper-{rank}")
        self.proc.start()
        child.close()
        self.ready = False  # it has imported what it needs
        self.asked: tuple | None = None  # the (path, dtype, threads) it was last told to load
        self.loaded: tuple | None = None  # the one it said it has loaded
        self.batch: tuple[int, int] | None = None  # (run() call, batch) it is generating

    def idle_with(self, key: tuple) -> bool:
        return self.ready and self.batch is None and self.loaded == key


def auto_helpers(threads: int | None, device: str = "cpu") -> int:
    """How many helpers ``auto`` starts: one per core the main process leaves idle (at most
    ``MAX_AUTO_HELPERS``); none unless generation runs on the CPU with a fixed thread count."""
    if threads is None or device != "cpu":
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(0, min(MAX_AUTO_HELPERS, cores // threads - 1))


def parse_helpers(value: str | int) -> str | int:
    """``--gen-helpers`` as typed: ``auto`` or a whole number ≥ 0."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text.isdigit():
        return int(text)
    raise HarnessError(f"--gen-helpers {value!r}: accepted: auto, or a whole number ≥ 0 (0: no helpers)")


class GenerationHelpers:
    """``count`` helper processes, started at once and never waited for. ``prepare`` has them load a policy,
    ``run`` spreads whole batches over this process and the helpers that have loaded it; ``close`` stops
    them."""

    def __init__(self, count: int):
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's thread pools
        self._helpers = [_Helper(ctx, k) for k in range(count)]
        self.retired: list[str] = []  # why each retired helper was retired
        self._calls = 0  # run() calls so far: a helper's answer to an earlier call is dropped
        self._answers: list[tuple[_Helper, tuple[int, int], tuple | None]] = []  # (helper, job, message)
        self.batches_by_helpers = 0  # batches whose kept texts a helper generated (perf/, tests)
        self.batches_here = 0  # batches generated in this process

    def __enter__(self) -> GenerationHelpers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def count(self) -> int:
        return len(self._helpers)

    def _retire(self, helper: _Helper, why: str) -> None:
        self.retired.append(f"generation helper {helper.rank}: {why}")
        from rich.console import Console

        last = why.strip().splitlines()[-1] if why.strip() else why
        Console(stderr=True).print(
            f"generation helper {helper.rank} retired ({why.splitlines()[0]} … {last}); "
            "its batches are generated in this process, with the same results",
            style="yellow",
            markup=False,
            highlight=False,
        )
        self._helpers.remove(helper)
        if helper.batch is not None:
            self._answers.append((helper, helper.batch, None))  # its batch is generated elsewhere
            helper.batch = None
        helper.proc.kill()
        helper.proc.join(timeout=10)
        helper.conn.close()

    def _send(self, helper: _Helper, msg) -> bool:
        try:
            helper.conn.send(msg)
            return True
        except (OSError, BrokenPipeError):
            self._retire(helper, f"exited (exit code {helper.proc.exitcode})")
            return False

    def _drain(self, helper: _Helper, timeout: float = 0.0) -> None:
        """Read what ``helper`` has said (waiting up to ``timeout`` for the first message): readiness and
        loads update its state, answers to batches are queued in ``_answers`` for ``run``."""
        try:
            while helper.conn.poll(timeout):
                timeout = 0.0
                kind, ref, payload = helper.conn.recv()
                if kind == "ready":
                    helper.ready = True
                elif kind == "loaded":
                    helper.loaded = ref
                elif helper.batch is not None:  # "done" or "error" for its batch
                    self._answers.append((helper, helper.batch, (kind, payload)))
                    helper.batch = None
        except (EOFError, OSError):
            self._retire(helper, f"exited (exit code {helper.proc.exitcode})")

    def _drain_all(self) -> None:
        for helper in list(self._helpers):
            self._drain(helper)

    def wait_ready(self, timeout: float = 120.0, key: tuple | None = None) -> bool:
        """Block until every helper has started (and, with ``key``, loaded it), or ``timeout`` seconds pass;
        whether all have. For measurements and tests: ``run`` itself never waits."""
        end = time.monotonic() + timeout

        def waiting() -> list[_Helper]:
            return [h for h in self._helpers if not h.ready or (key is not None and h.loaded != key)]

        while waiting() and time.monotonic() < end:
            for helper in waiting():
                self._drain(helper, timeout=max(0.0, min(0.2, end - time.monotonic())))
        return not waiting()

    def prepare(self, key: tuple) -> None:
        """Tell every helper to load ``key`` (``HFBackend.helper_key``: checkpoint, dtype, torch threads, …)
        now (one still starting loads it as soon as it has started), so that it is ready when the batches come."""
        for helper in list(self._helpers):
            if helper.asked != key and self._send(helper, ("load", key)):
                helper.asked = key

    def run(
        self,
        key: tuple,
        batches: Sequence[Any],
        local: Callable[[Any], Any],
        done: Callable[[int], None] | None = None,
        function: Callable[[Any, Any], Any] | None = None,
    ) -> list[Any]:
        """The result of every batch, in order: ``local(batch)`` in this process for batches from the front,
        helpers that have loaded ``key`` for batches from the back. When only helpers' batches are left, this
        process generates them too and keeps whichever copy is first (they are the same results), so it
        never waits on a slow helper. A helper computes ``function(policy, batch)`` (a module-level function,
        sent by reference; the same computation as ``local``), or, without one, the hf backend's batch
        generation. ``done(n)`` is called as each batch of n items finishes."""
        self.prepare(key)
        self._calls += 1
        call = self._calls
        out: list[Any] = [None] * len(batches)
        pending = deque(range(len(batches)))

        def finish(bid: int, texts: Any, by_helper: bool = False) -> None:
            if out[bid] is None:
                out[bid] = texts
                if by_helper:
                    self.batches_by_helpers += 1
                else:
                    self.batches_here += 1
                if done:
                    done(len(texts))

        def settle() -> None:
            self._drain_all()
            answers, self._answers = self._answers, []
            for helper, job, msg in answers:
                if job[0] != call:  # an earlier call's batch, generated there already
                    continue
                if msg is not None and msg[0] == "done":
                    finish(job[1], msg[1], by_helper=True)
                    continue
                if msg is not None:
                    self._retire(helper, f"failed on a batch:\n{msg[1]}")
                if out[job[1]] is None:
                    pending.appendleft(job[1])  # generated here, where an error of the batch itself is raised

        while any(texts is None for texts in out):
            settle()
            for helper in [h for h in self._helpers if h.idle_with(key)]:
                if len(pending) < 2:  # the last batch is this process's
                    break
                bid = pending.pop()
                if self._send(helper, ("batch", (bid, batches[bid], function))):
                    helper.batch = (call, bid)
                else:
                    pending.append(bid)
            if pending:
                bid = pending.popleft()
                finish(bid, local(batches[bid]))
                continue
            settle()
            # only helpers' batches are left: generate the first of them here too
            bid = next((b for b, texts in enumerate(out) if texts is None), None)
            if bid is not None:
                finish(bid, local(batches[bid]))
        return out  # type: ignore[return-value]

    def close(self) -> None:
        """Stop every helper: a started one exits cleanly once its batch (if any) is done; one still starting
        is killed (nothing of it is needed)."""
        self._drain_all()
        for helper in self._helpers:
            if helper.ready:
                try:
                    helper.conn.send(None)
                except (OSError, BrokenPipeError):
                    pass
            else:
                helper.proc.kill()
        for helper in self._helpers:
            helper.proc.join(timeout=30)
            if helper.proc.is_alive():
                helper.proc.kill()
                helper.proc.join(timeout=10)
            helper.conn.close()
        self._helpers = []


def open_helpers(
    requested: str | int, threads: int | None, device: str = "cpu", images: int | None = None
) -> GenerationHelpers | None:
    """The helpers ``--gen-helpers`` asks for, or None for none. ``auto``: ``auto_helpers``, for a run that
    generates for at least ``AUTO_MIN_IMAGES`` images per iteration (``images``; None: unknown, so yes),
    since a helper's start-up (importing torch and transformers, seconds) must pay for itself. A number
    asked for where helpers cannot give identical outputs (not the CPU, or no fixed thread count) is an error."""
    requested = parse_helpers(requested)
    if requested == "auto":
        count = auto_helpers(threads, device) if images is None or images >= AUTO_MIN_IMAGES else 0
    else:
        count = int(requested)
        if count and (threads is None or device != "cpu"):
            raise HarnessError(
                f"--gen-helpers {count}: helpers serve the hf backend on the CPU, with a tiny-scale model's fixed "
                "torch thread count (harness/policy/threads.py), where they cannot change an output; this run "
                "has not that (another backend, a GPU, or a model that uses torch's default threads). "
                "Use --gen-helpers 0 (or auto)."
            )
    return GenerationHelpers(count) if count else None
