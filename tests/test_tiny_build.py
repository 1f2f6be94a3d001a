"""Building the tiny model once: concurrent builders take turns on a lock, killed builds leave nothing
behind that a later build trips on. ``build_once`` is exercised with a small stand-in build function
in real subprocesses (the real model's build is covered by the session fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.policy.build_cache import build_lock, build_once

REPO = Path(__file__).resolve().parents[1]

BUILDER = """
import sys, time
from pathlib import Path
from harness.policy.build_cache import build_once

target, log, pause = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])

def build(tmp):
    with log.open("a") as fh:
        fh.write(f"build {tmp.name}\\n")
    (tmp / "weights.bin").write_bytes(b"0" * 1000)
    time.sleep(pause)
    (tmp / "config.json").write_text("{}")

print(build_once(target, build), flush=True)
"""


def _spawn(target: Path, log: Path, pause: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", BUILDER, str(target), str(log), str(pause)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "-build-" in p.name)


def test_two_builders_at_once_build_once_and_both_get_the_model(tmp_path):
    target, log = tmp_path / "models" / "tiny-abc", tmp_path / "builds.log"
    first = _spawn(target, log, 3.0)
    deadline = time.time() + 60
    while not log.exists() and time.time() < deadline:  # the first one is building
        time.sleep(0.05)
    second = _spawn(target, log, 0.0)
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert out1.strip() == out2.strip() == str(target)
    assert len(log.read_text().splitlines()) == 1  # the second waited and reused the first's model
    assert (target / "config.json").is_file() and (target / "weights.bin").is_file()
    assert _leftovers(target.parent) == []


def test_a_build_killed_half_way_leaves_nothing_a_later_build_trips_on(tmp_path):
    target, log = tmp_path / "models" / "tiny-abc", tmp_path / "builds.log"
    victim = _spawn(target, log, 60.0)
    deadline = time.time() + 60
    while not log.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert len(_leftovers(target.parent)) == 1  # its temporary folder, half written
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert not target.exists()
    again = _spawn(target, log, 0.0)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert (target / "config.json").is_file()
    assert _leftovers(target.parent) == []  # the killed build's folder is gone, not left to grow
    assert len(log.read_text().splitlines()) == 2


def test_a_failed_build_removes_its_folder_and_raises(tmp_path):
    target = tmp_path / "models" / "tiny-abc"

    def broken(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"1")
        raise RuntimeError("out of memory")

    try:
        build_once(target, broken)
    except RuntimeError as exc:
        assert "out of memory" in str(exc)
    else:
        raise AssertionError("the build's error was swallowed")
    assert not target.exists() and _leftovers(target.parent) == []


def test_cleanup_spares_a_build_of_another_model_in_progress(tmp_path):
    models = tmp_path / "models"
    busy, stale = models / ".tiny-other-build-x1", models / ".tiny-gone-build-x2"
    busy.mkdir(parents=True)
    stale.mkdir()
    with build_lock(models / "tiny-other") as held:  # another process builds tiny-other right now
        assert held.acquired
        build_once(models / "tiny-abc", lambda tmp: (tmp / "config.json").write_text("{}"))
    assert busy.is_dir() and not stale.exists()
    assert (models / "tiny-abc" / "config.json").is_file()
