"""The engine (harness/) names no built-in method or benchmark: what it shows about a plugin, the
plugin declares. A third-party plugin must get everything a built-in one gets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Plugin names that are also ordinary words: only their use as an identifier counts
# ("shapes" as a string or module, not "shapes" in a scene).
GENERIC = {"shapes", "chair", "oracle"}
# How the papers and benchmarks are written in prose.
DISPLAY = [
    "SENA",
    "SeVa",
    "AMBER",
    "MM-Vet",
    "MMHal",
    "LLaVA-Bench",
    "LLaVA-W",
    "LLaVA^W",
    "MMBench",
    "POPE",
    "Object HalBench",
    "ObjHal",
    "STIC",
    "POVID",
    "CSR",
    "CLIP-filter",
]


def _builtin_names() -> list[str]:
    """The entry points of the built-in methods and benchmarks (the engine's own backends register there too)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    points = data["project"]["entry-points"]["harness"]
    return sorted(name for name, target in points.items() if not target.startswith("harness."))


def _patterns() -> list[re.Pattern[str]]:
    pats = []
    for name in _builtin_names():
        if name in GENERIC:
            pats.append(re.compile(rf"""(["'`]{name}["'`]|\b(methods|benchmarks)\.{name}\b)"""))
        else:
            pats.append(re.compile(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", re.I))
    for text in DISPLAY:
        pats.append(re.compile(rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])", re.I))
    return pats


def test_no_engine_module_names_a_builtin_plugin() -> None:
    assert "sena" in _builtin_names() and "shapes" in _builtin_names()  # the rule has something to check
    offenders = []
    pats = _patterns()
    for path in sorted((ROOT / "harness").rglob("*")):
        if path.suffix not in (".py", ".yaml", ".json", ".toml") or "__pycache__" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pat in pats:
                m = pat.search(line)
                if m:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {m.group(0)!r} in {line.strip()[:100]}")
                    break
    assert not offenders, "the engine names built-in plugins:\n" + "\n".join(offenders)


def test_the_rule_catches_a_mention(tmp_path: Path) -> None:
    pats = _patterns()
    assert any(p.search('default = "shapes"') for p in pats)
    assert any(p.search("# as SeVa does") for p in pats)
    assert not any(p.search("one to three shapes on a background") for p in pats)
