"""The GPU handed over between stages: a stage that promises to give its memory back (the generation engine
closed after synthesis, before the reference pass and training load their models) must have done so, or the
run stops here, naming the stage, instead of failing later with an out-of-memory error in another stage.

What is measured is the device's memory in use (``torch.cuda.mem_get_info``: total − free), which counts
every process on the GPU (vLLM's engine and data-parallel workers run in processes of their own), not only
this process's tensors. A stage is marked before it loads anything and checked after it released what it
held (``release_accelerator``); more than ``tolerance_gib`` still in use per device fails. Without CUDA there
is nothing to hand over and nothing is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError

GIB = 1024**3
DEFAULT_TOLERANCE_GIB = 1.0  # allocator caches, the CUDA context a stage may create, cuBLAS workspaces


@dataclass(frozen=True)
class GpuMark:
    stage: str
    in_use: tuple[int, ...]  # bytes in use per visible device when the stage started


def gpu_memory_in_use() -> tuple[int, ...] | None:
    """Bytes in use on each visible CUDA device (None without CUDA)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    if not torch.cuda.is_available():
        return None
    out = []
    for d in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(d)
        out.append(int(total - free))
    return tuple(out)


def mark_gpu(stage: str) -> GpuMark | None:
    """The memory in use before ``stage`` loads its models (None without CUDA: nothing will be checked)."""
    used = gpu_memory_in_use()
    return None if used is None else GpuMark(stage, used)


def check_handed_over(
    mark: GpuMark | None, in_use: tuple[int, ...] | None = None, *, tolerance_gib: float = DEFAULT_TOLERANCE_GIB
) -> None:
    """Raise when a device holds more than ``tolerance_gib`` beyond what it held at ``mark``; ``in_use``:
    the memory now (default: measured)."""
    if mark is None:
        return
    now = gpu_memory_in_use() if in_use is None else in_use
    if now is None:
        return
    kept = [
        (d, before, after)
        for d, (before, after) in enumerate(zip(mark.in_use, now))
        if after - before > tolerance_gib * GIB
    ]
    if kept:
        text = "; ".join(f"GPU {d}: {b / GIB:.1f} → {a / GIB:.1f} GiB" for d, b, a in kept)
        raise HarnessError(
            f"{mark.stage}: the GPU memory was not handed back after the stage ({text}, more than "
            f"{tolerance_gib:g} GiB over what was in use before it): an engine or model of the stage is still "
            "alive (a worker process that did not exit, or a reference kept to it), and the next stage would run "
            "out of memory. Finished stages are kept; rerun the same command to resume"
        )
