"""Old method module paths (before each method got its own package) still import: the new module
object, with a DeprecationWarning naming the new path."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys

import pytest

import methods


@pytest.mark.parametrize(
    ("old", "new"),
    [("methods.sena_filters", "methods.sena.filters"), ("methods.pair_tools", "methods.common.pairs")],
)
def test_old_path_gives_the_new_module_and_a_warning(old: str, new: str) -> None:
    sys.modules.pop(old, None)  # a module imported earlier under the old name would not warn again
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to {new}; import {new} instead"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__name__ == new and module.__spec__.name == new


def test_every_moved_path_names_an_existing_module_and_no_longer_exists_itself() -> None:
    for old, new in methods.MOVED.items():
        assert importlib.util.find_spec(new) is not None, new
        assert importlib.machinery.PathFinder.find_spec(old, methods.__path__) is None, old  # no file left behind


def test_old_package_imports_keep_the_public_names() -> None:
    from methods.sena import SenaConfig, SenaMethod, harness_methods, harness_warmup_tasks
    from methods.sena.method import SenaMethod as moved

    assert SenaMethod is moved and SenaConfig is moved.Config
    assert harness_methods() == [SenaMethod] and len(harness_warmup_tasks()) == 4
