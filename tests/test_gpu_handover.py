"""The GPU handed back between stages (harness/evolve/handover.py): memory a stage keeps past its hand-over
fails loudly, naming the stage; within the tolerance, or without CUDA, nothing is raised."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.evolve.handover import GIB, GpuMark, check_handed_over, gpu_memory_in_use, mark_gpu


def test_memory_kept_past_the_hand_over_names_the_stage_and_the_device():
    mark = GpuMark("synthesize-1 (vllm engine)", (2 * GIB, 1 * GIB))
    with pytest.raises(HarnessError, match=r"synthesize-1 \(vllm engine\): .*GPU 1: 1.0 → 9.0 GiB") as err:
        check_handed_over(mark, (2 * GIB + GIB // 2, 9 * GIB))
    assert "GPU 0" not in str(err.value)  # half a GiB is within the tolerance
    check_handed_over(mark, (2 * GIB, int(1.9 * GIB)))  # within 1 GiB: handed back
    with pytest.raises(HarnessError, match="GPU 0"):
        check_handed_over(mark, (int(2.6 * GIB), GIB), tolerance_gib=0.5)


def test_without_cuda_nothing_is_marked_or_checked():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: the check runs for real (test below)")
    assert gpu_memory_in_use() is None and mark_gpu("synthesize-1") is None
    check_handed_over(None)


def test_a_tensor_kept_on_the_gpu_fails_the_check():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    mark = mark_gpu("a stage")
    kept = torch.empty(int(1.5 * GIB), dtype=torch.uint8, device="cuda")
    with pytest.raises(HarnessError, match="a stage: the GPU memory was not handed back"):
        check_handed_over(mark)
    del kept
    torch.cuda.empty_cache()
    check_handed_over(mark)
