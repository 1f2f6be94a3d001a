"""Module paths of the old flat benchmarks/ layout still import, as the new module, with a warning naming it."""

from __future__ import annotations

import importlib
import sys

import pytest

from benchmarks import MOVED


@pytest.mark.parametrize(
    ("old", "new"),
    [("benchmarks.amber_nlp", "benchmarks.amber.nlp"), ("benchmarks.chair_vocab", "benchmarks.common.coco_vocab")],
)
def test_an_old_path_gives_the_new_module_and_a_warning_naming_it(old, new, monkeypatch):
    assert MOVED[old] == new
    monkeypatch.delitem(sys.modules, old, raising=False)  # import afresh, even after another test did
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__name__ == new


def test_every_old_module_path_is_mapped_to_a_module_that_exists():
    for new in MOVED.values():
        assert importlib.import_module(new).__name__ == new
