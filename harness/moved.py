"""Old module paths that moved, kept importable with a warning that names the new path.

When a module moves (``plugins.foo_nlp`` became ``plugins.foo.nlp``), code written
against the old path (a third-party plugin, a notebook) keeps working: importing the old name
gives the new module object itself and a ``DeprecationWarning`` that names the new path. A
package that moved modules lists them in a ``{old: new}`` table and calls :func:`install` from its
``__init__``; the import system then asks :class:`MovedModules` only about names it cannot find
elsewhere (the finder sits last on ``sys.meta_path``), so nothing else is touched.

The standard library has no aliasing import hook, hence this small finder.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Mapping
from types import ModuleType


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"module {self.old} moved to {self.new}; import {self.new} instead",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The new module ran when it was imported; only its own ``__spec__`` is put back (the
        import system sets the old name's spec on whatever ``create_module`` returned)."""
        module.__spec__ = self.spec


class MovedModules(importlib.abc.MetaPathFinder):
    """Finds moved modules by their old names and loads the module at the new name."""

    def __init__(self, moves: Mapping[str, str]) -> None:
        self.moves = dict(moves)

    def find_spec(self, fullname: str, path=None, target=None):
        new = self.moves.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(fullname, new))


def install(moves: Mapping[str, str]) -> None:
    """Make the old names in ``moves`` importable (once per table of moves)."""
    for finder in sys.meta_path:
        if isinstance(finder, MovedModules) and finder.moves == dict(moves):
            return
    sys.meta_path.append(MovedModules(moves))
