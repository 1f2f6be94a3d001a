"""Plugin hooks and the plugin manager.

Methods, benchmarks and generation backends are plugins. A plugin is any object or module with
``@hookimpl`` functions named after the hookspecs below; packages publish theirs under the
entry-point group ``harness`` (the built-in ones in this project's pyproject.toml do exactly
that). The engine never imports a method or benchmark by name.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import pluggy

from harness.errors import HarnessError

PROJECT = "harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HarnessHooks:
    """The hook specifications."""

    @hookspec
    def harness_methods(self) -> list[type]:
        """Return the Method classes (subclasses of harness.method.Method) this plugin adds."""

    @hookspec
    def harness_benchmarks(self) -> list[type]:
        """Return the Benchmark classes (subclasses of harness.benchmark.Benchmark) this plugin adds."""

    @hookspec
    def harness_backends(self) -> list[type]:
        """Return generation Backend classes (subclasses of harness.backends.base.Backend)."""

    @hookspec
    def harness_pair_auditors(self) -> list[type]:
        """Return pair auditor classes (harness/audit.py: ``name``, ``applies(source)``, ``mark(pair)``) that
        know the truth of some image source's images."""

    @hookspec
    def harness_warmup_tasks(self) -> list:
        """Return instruction tasks ``(scene, rng) -> [WarmupExample]`` that teach the built-in tiny
        model this plugin's prompt formats (see harness/policy/warmup_tasks.py)."""


@dataclass
class Registry:
    """Every registered method, benchmark and backend, by name."""

    methods: dict[str, type] = field(default_factory=dict)
    benchmarks: dict[str, type] = field(default_factory=dict)
    backends: dict[str, type] = field(default_factory=dict)
    warmup_tasks: list = field(default_factory=list)
    pair_auditors: list = field(default_factory=list)

    def method(self, name: str) -> type:
        return _lookup(self.methods, name, "method")

    def benchmark(self, name: str) -> type:
        return _lookup(self.benchmarks, name, "benchmark")

    def backend(self, name: str) -> type:
        return _lookup(self.backends, name, "backend")


def _lookup(table: dict[str, type], name: str, kind: str) -> type:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise HarnessError(f"unknown {kind} {name!r}; registered {kind}s: {known}") from None


def plugin_manager(*, entry_points: bool = True, extra: Iterable[object] = ()) -> pluggy.PluginManager:
    """A fresh plugin manager: the ``harness`` entry points (the engine's own backends among them, as
    ``backends = "harness.backends.builtin"``: the registry imports no backend), then ``extra``."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HarnessHooks)
    if entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
    for plugin in extra:
        pm.register(plugin)
    return pm


def registry(*, entry_points: bool = True, extra: Iterable[object] = ()) -> Registry:
    """Collect every plugin's contributions. A name registered twice is an error."""
    pm = plugin_manager(entry_points=entry_points, extra=extra)
    reg = Registry()
    for hook, table in (
        (pm.hook.harness_methods, reg.methods),
        (pm.hook.harness_benchmarks, reg.benchmarks),
        (pm.hook.harness_backends, reg.backends),
    ):
        for contributed in hook():
            for cls in contributed or ():
                name = getattr(cls, "name", None)
                if not name:
                    warnings.warn(f"plugin class {cls!r} has no `name`; ignored", stacklevel=2)
                    continue
                if name in table and table[name] is not cls:
                    raise HarnessError(
                        f"two plugins register the name {name!r}: {table[name].__module__} and {cls.__module__}"
                    )
                table[name] = cls
    for contributed in pm.hook.harness_warmup_tasks():
        reg.warmup_tasks.extend(contributed or ())
    for contributed in pm.hook.harness_pair_auditors():
        reg.pair_auditors.extend(contributed or ())
    return reg
