"""Data-parallel generation: one engine per GPU (or group of GPUs), each over a contiguous shard.

A request list is cut into contiguous shards (``shard_bounds``), each worker process generates its
shard, and the results are put back in request order. Every request carries its own noise seed and
decoding is greedy, so neither the order of the results nor the seeds depend on the number of
workers. (The texts themselves match to the engine's batch-invariance: vLLM's continuous batching, or
the hf backend's padding, may change a low-order bit of a logit, and rarely a greedy token, when the
batch composition changes.)

Workers are started with the ``spawn`` method and see only their own GPUs
(``CUDA_VISIBLE_DEVICES``, set before anything touches CUDA). They live as long as the pool, so one
engine serves every call of a synthesis stage.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from harness.errors import HarnessError


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous [start, end) ranges covering 0…n−1, sizes differing by at most one."""
    if shards < 1:
        raise HarnessError(f"data_parallel_size must be ≥ 1, got {shards}")
    base, extra = divmod(n, shards)
    bounds, start = [], 0
    for k in range(shards):
        end = start + base + (1 if k < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def gpu_groups(shards: int, per_shard: int, visible: str | None = None) -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each worker: consecutive groups of ``per_shard`` GPUs out of
    the visible ones (``visible``: the parent's CUDA_VISIBLE_DEVICES, or None for 0…N−1)."""
    ids = (
        [x.strip() for x in visible.split(",") if x.strip()] if visible else [str(k) for k in range(shards * per_shard)]
    )
    if len(ids) < shards * per_shard:
        raise HarnessError(
            f"data_parallel_size={shards} × tensor_parallel_size={per_shard} needs "
            f"{shards * per_shard} GPUs; {len(ids)} visible ({visible})"
        )
    return [",".join(ids[k * per_shard : (k + 1) * per_shard]) for k in range(shards)]


def _worker(factory: Callable[[int], Any], rank: int, env: dict[str, str], conn) -> None:
    os.environ.update(env)  # before the engine (and CUDA) starts in this process
    try:
        engine = factory(rank)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", None))
    while True:
        msg = conn.recv()
        if msg is None:
            break
        method, args = msg
        try:
            conn.send(("ok", getattr(engine, method)(*args)))
        except BaseException:  # noqa: BLE001
            conn.send(("error", traceback.format_exc()))
    close = getattr(engine, "close", None)
    if close:
        close()


class ShardPool:
    """``shards`` worker processes, worker k built by ``factory(k)`` with ``envs[k]`` in its environment.

    ``map(method, items, *extra)`` calls ``engine.method(shard, *extra)`` on every worker at once and
    returns the concatenated results in the order of ``items``.
    """

    def __init__(self, factory: Callable[[int], Any], shards: int, envs: Sequence[dict[str, str]] | None = None):
        ctx = multiprocessing.get_context("spawn")
        self.shards = shards
        self._conns, self._procs = [], []
        for k in range(shards):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(factory, k, dict(envs[k]) if envs else {}, child), daemon=True)
            proc.start()
            self._conns.append(parent)
            self._procs.append(proc)
        for k, conn in enumerate(self._conns):
            status, payload = self._recv(k, conn)
            if status == "error":
                self.close()
                raise HarnessError(f"generation worker {k} failed to start:\n{payload}")

    def _recv(self, k: int, conn):
        try:
            return conn.recv()
        except EOFError:
            raise HarnessError(f"generation worker {k} exited (exit code {self._procs[k].exitcode})") from None

    def map(self, method: str, items: Sequence[Any], *extra: Any) -> list[Any]:
        bounds = shard_bounds(len(items), self.shards)
        for conn, (a, b) in zip(self._conns, bounds):
            conn.send((method, (list(items[a:b]), *extra)))
        out: list[Any] = []
        errors = []
        for k, conn in enumerate(self._conns):
            status, payload = self._recv(k, conn)
            if status == "error":
                errors.append(f"worker {k}:\n{payload}")
            else:
                out += payload
        if errors:
            raise HarnessError("generation failed in " + "\n".join(errors))
        return out

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for proc in self._procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
        self._conns, self._procs = [], []
