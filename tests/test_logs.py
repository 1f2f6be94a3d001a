"""What a run's log looks like in a file (nohup, SLURM, CI), where rich's bars are invisible."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

STAGES = [
    "θ0 · evaluate on shapes",
    "θ1 · synthesize pairs with θ0",
    "θ1 · reference log-probs of θ0",
    "θ1 · DPO training from θ0",
    "θ1 · evaluate on shapes",
]


def _evolve(tmp_path: Path, cache_root: Path) -> str:
    log = tmp_path / "run.log"
    env = dict(os.environ, HARNESS_CACHE_DIR=str(cache_root), HF_HUB_OFFLINE="1", COLUMNS="80")
    with log.open("w") as fh:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "evolve",
                "--method",
                "sena",
                "--iters",
                "1",
                "--images-per-iter",
                "6",
                "--runs-dir",
                str(tmp_path / "runs"),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            timeout=600,
        )
    text = log.read_text(encoding="utf-8")
    assert proc.returncode == 0, text
    return text


def test_log_file_has_a_line_per_stage_and_no_noise(tmp_path: Path, cache_root: Path, tiny_path: Path) -> None:
    text = _evolve(tmp_path, cache_root)
    lines = text.splitlines()
    for stage in STAGES:  # one start and one end line per stage, with a clock time
        assert sum(bool(re.match(rf"\d\d:\d\d:\d\d ▶ {re.escape(stage)}", line)) for line in lines) == 1, stage
        assert sum(bool(re.match(rf"\d\d:\d\d:\d\d ✓ {re.escape(stage)}.* \(\d", line)) for line in lines) == 1, stage
    assert re.search(r"✓ θ1 · synthesize pairs with θ0: 6 images → \d+ pairs", text)
    assert re.search(r"^  step 1/\d+ · loss \d\.\d{4} · reward margin [+-]\d", text, re.M)
    # no raw Trainer dicts, library bars or warnings from our own calls
    for noise in ("{'loss'", "train_runtime", "Loading weights", "Writing model shards", "FutureWarning", "it/s]"):
        assert noise not in text, noise
    # lines are as long as their content: no padding, no 240-column rules, tables not cut at 80 columns
    assert all(line == line.rstrip() for line in lines)
    assert not any(re.fullmatch(r"[─━-]{40,}", line.strip()) for line in lines)
    header = next(line for line in lines if "images" in line and "pairs" in line and "┃" in line)
    assert "Shapes CHAIR" in header and "Shapes Cover" in header and len(header) > 80


def test_resumed_stages_say_so(tmp_path: Path, cache_root: Path, tiny_path: Path) -> None:
    _evolve(tmp_path, cache_root)
    again = _evolve(tmp_path, cache_root)
    assert "▶" not in again  # every stage was finished: nothing runs
    row = next(line for line in again.splitlines() if line.lstrip("│ ").startswith("θ1"))
    assert "resumed (done earlier)" in row
