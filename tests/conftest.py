"""Shared fixtures: the built-in tiny model is built once per test session in a temporary cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    """The cache folder of this test session (also exported for CLI subprocesses): a fresh one, unless
    HARNESS_CACHE_DIR is already set (developers reuse a built tiny model across sessions that way)."""
    preset = os.environ.get("HARNESS_CACHE_DIR")
    root = Path(preset) if preset else tmp_path_factory.mktemp("harness-cache")
    os.environ["HARNESS_CACHE_DIR"] = str(root)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return root


@pytest.fixture(scope="session")
def tiny_path(cache_root) -> Path:
    """The built-in tiny model, built offline from scratch (with every installed plugin's tasks)."""
    from harness.policy.tiny import ensure_tiny

    return ensure_tiny(cache_root, progress=False)


@pytest.fixture(scope="session")
def tiny_policy(tiny_path):
    from harness.policy import load_policy

    return load_policy(tiny_path)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (a user's clone has none)")
    return SHARED
