"""Where built models are cached and how a build happens once: ``build_once`` writes a model folder into a
temporary sibling and renames it, under an exclusive lock that dies with its holder, so concurrent
builders take turns and a killed build never leaves a half-written model (the tiny LLaVA, the tiny
CLIP)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness import atomic


def default_cache_root() -> Path:
    """``$HARNESS_CACHE_DIR`` if set, else the user cache folder (both read at call time)."""
    import os

    import platformdirs

    env = os.environ.get("HARNESS_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("harness"))


def build_once(target: Path, build) -> Path:
    """Build a model folder at ``target`` unless it exists: ``build(tmp)`` writes into a temporary
    sibling folder, which is then renamed, so a killed build never leaves a half-written model.

    Builders of one target take turns on an exclusive lock (``.<name>.lock`` beside it, ``fcntl``): the
    first builds, the others wait and then find the finished model. The lock holder first removes the
    temporary folders of builds that were killed half-way (their builder's lock is gone), of this
    target and of any other target of the same folder whose lock nobody holds.
    """
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(target):
        if (target / "config.json").is_file():  # another process built it while we waited
            return target
        _remove_stale_builds(target)
        tmp = atomic.make_temp_dir(f".{target.name}-build-", target.parent)  # the umask's mode, not 0700
        try:
            build(tmp)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


class build_lock:
    """An exclusive ``fcntl`` lock on ``.<name>.lock`` beside ``target`` (blocking, or ``blocking=False``:
    ``acquired`` says whether it was taken). The lock dies with its process, however it ends."""

    def __init__(self, target: Path, *, blocking: bool = True) -> None:
        self.path = lock_path(target)
        self.blocking = blocking
        self.acquired = False
        self._fh = None

    def __enter__(self) -> build_lock:
        import fcntl

        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
            self.acquired = True
        except BlockingIOError:
            self.acquired = False
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self.acquired:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def _remove_stale_builds(target: Path) -> None:
    """Remove ``.<name>-build-*`` folders left by killed builds (called with ``target``'s lock held)."""
    for tmp in target.parent.glob(".*-build-*"):
        name = tmp.name[1:].rsplit("-build-", 1)[0]
        if not tmp.is_dir() or not name:
            continue
        if name == target.name:
            shutil.rmtree(tmp, ignore_errors=True)
            continue
        with build_lock(target.parent / name, blocking=False) as lock:
            if lock.acquired:  # nobody is building that target: the folder is a leftover
                shutil.rmtree(tmp, ignore_errors=True)
