"""One process at a time in a run folder, a results file or a leaderboard: the second is refused with a
message naming the holder, and a killed holder leaves nothing stuck."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness.errors import HarnessError
from harness.evolve import EvolveOptions, evolve
from harness.runs import RunLock

HOLD = """
import sys, time
from pathlib import Path
from harness.runs import RunLock
with RunLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def _holder(target):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_evolve_into_a_held_run_folder_is_refused_and_a_killed_holder_frees_it(tiny_path, tmp_path):
    run_dir = tmp_path / "runs" / "seva-run"
    opts = EvolveOptions(
        method="seva",
        iters=1,
        run_dir=run_dir,
        overrides=["max_new_tokens=8"],
        images_per_iter=2,
        evals=[],
        progress=False,
    )
    holder = _holder(run_dir)
    try:
        with pytest.raises(HarnessError, match=rf"seva-run: this run folder is in use by pid {holder.pid} .*--run-id"):
            evolve(opts)
        assert not run_dir.exists()  # refused before anything was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    summaries = evolve(opts)  # the killed holder's lock died with it
    assert [s.iteration for s in summaries] == [0, 1]
    assert (tmp_path / "runs" / ".seva-run.lock").read_text() == ""  # released: names nobody
    evolve(opts)  # and the same process can open it again


def test_the_lock_is_exclusive_between_processes_and_names_the_holder(tmp_path):
    target = tmp_path / "results.json"
    holder = _holder(target)
    try:
        with pytest.raises(HarnessError, match=rf"results.json: this results file is in use by pid {holder.pid}"):
            with RunLock(target, "results file"):
                pass
    finally:
        holder.terminate()
        holder.wait()
    started = time.monotonic()
    with RunLock(target, "results file"):
        assert (tmp_path / ".results.json.lock").read_text().startswith(f"pid {os.getpid()} ")
    assert time.monotonic() - started < 5
