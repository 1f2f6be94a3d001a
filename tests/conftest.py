"""Shared fixtures: the built-in tiny model is the one shipped with the package; with ``HARNESS_TINY_SEED``
set it is rebuilt under that seed once per test session in a temporary cache (the tests hold for any
model of the recipe; the few that check the shipped model's recorded figures skip then)."""

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
    """The built-in tiny model: the shipped one, or built under ``HARNESS_TINY_SEED`` (with every installed
    plugin's tasks)."""
    from harness.policy.tiny import ensure_tiny

    return ensure_tiny(cache_root, progress=False)


@pytest.fixture(scope="session")
def shipped_tiny(tiny_path) -> Path:
    """The shipped tiny model, for checks of its recorded figures (skipped with a rebuilt model)."""
    from harness.policy.shipped import SHIPPED_DIR

    if SHIPPED_DIR not in tiny_path.parents:
        pytest.skip(f"the tiny model is rebuilt ({tiny_path.name}), not the shipped one: its recorded figures differ")
    return tiny_path


@pytest.fixture(scope="session")
def tiny_policy(tiny_path):
    from harness.policy import load_policy

    return load_policy(tiny_path)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (a user's clone has none)")
    return SHARED
