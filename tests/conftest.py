"""Shared fixtures: the built-in tiny model is built once per test session in a temporary cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    """A fresh cache folder for this test session (also exported for CLI subprocesses)."""
    root = tmp_path_factory.mktemp("harness-cache")
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
