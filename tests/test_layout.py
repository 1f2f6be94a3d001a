"""The project's shape: every plugin one folder, no import circle among the project's modules, no module
over 500 lines. Read from the source text (``ast``), so the rule holds for imports inside functions too."""

from __future__ import annotations

import ast
import graphlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "methods", "benchmarks")
MAX_LINES = 500
SHARED = "common"  # code several plugins use lives in methods/common/ and benchmarks/common/


def _modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its text (``from pkg import sub`` counts as
    importing ``pkg.sub`` when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else base)
    return {t for t in targets if t in modules and t != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_the_graph_is_read():
    graph = import_graph()
    assert "harness.evolve.loop" in graph and "harness.evolve.synthesize" in graph["harness.evolve.loop"]
    assert "harness.plugins" in graph["harness.backends.builtin"]


def test_no_import_circle_among_the_projects_modules():
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_a_circle_is_found_when_there_is_one():
    graph = import_graph()
    graph["harness.errors"] = {"harness.plugins"}  # plugins imports errors: a circle of two
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        return
    raise AssertionError("the circle check missed a circle")


def test_no_module_over_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules().values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by what they hold): {long}"


def test_every_builtin_plugin_is_one_folder():
    points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["harness"]
    plugins = {target for target in points.values() if target.split(".")[0] in ("methods", "benchmarks")}
    assert len(plugins) >= 16
    for target in plugins:
        folder = ROOT / Path(*target.split("."))
        assert (folder / "__init__.py").is_file(), f"entry point {target} is not a package folder"
    for top in ("methods", "benchmarks"):
        loose = sorted(p.name for p in (ROOT / top).glob("*.py") if p.name != "__init__.py")
        assert not loose, f"{top}/ holds modules outside any plugin folder: {loose}"
        for folder in sorted(p for p in (ROOT / top).iterdir() if (p / "__init__.py").is_file()):
            assert folder.name == SHARED or f"{top}.{folder.name}" in plugins, (
                f"{top}/{folder.name}/ is neither a registered plugin nor the shared {top}/{SHARED}/"
            )


def test_the_engine_imports_no_plugin():
    graph = import_graph()
    engine = {name: deps for name, deps in graph.items() if name.split(".")[0] == "harness"}
    offenders = {n: sorted(d for d in deps if d.split(".")[0] != "harness") for n, deps in engine.items()}
    assert not {n: d for n, d in offenders.items() if d}
