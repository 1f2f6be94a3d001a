"""What ``harness methods`` and ``harness benchmarks`` show about a plugin, read from the plugin itself.

A method's ``--set`` options are the fields of its config dataclass (type and default; a field's
``metadata["help"]`` where given), its variants the named bundles of overrides, its training recipe
``train_recipe()``. A benchmark's options are the keyword parameters of its constructor, which
``harness eval --set key=value`` fills.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    name: str
    type: str
    default: str
    help: str = ""


def _type_name(t: Any) -> str:
    text = t if isinstance(t, str) else getattr(t, "__name__", repr(t))
    return str(text).replace("typing.", "").replace("'", "")


def _default_text(value: Any) -> str:
    if value is dataclasses.MISSING or value is inspect.Parameter.empty:
        return "(required)"
    return repr(value) if isinstance(value, str) else str(value)


def method_options(cls: type) -> list[Option]:
    """The ``--set`` keys of a method: its config dataclass's fields."""
    config = getattr(cls, "Config", None)
    if config is None or not dataclasses.is_dataclass(config):
        return []
    out = []
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = dataclasses.MISSING
        out.append(Option(f.name, _type_name(f.type), _default_text(default), str(f.metadata.get("help", ""))))
    return out


def benchmark_options(cls: type) -> list[Option]:
    """The options of a benchmark: its constructor's keyword parameters."""
    out = []
    for name, p in inspect.signature(cls).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = _type_name(p.annotation) if p.annotation is not p.empty else "str"
        out.append(Option(name, ann, _default_text(p.default)))
    return out


def method_variants(cls: type) -> dict[str, dict[str, Any]]:
    return dict(getattr(cls, "variants", {}) or {})


def method_recipe(cls: type) -> dict[str, Any]:
    """The method's training recipe (TrainConfig overrides), from a default-configured instance."""
    try:
        return dict(cls().train_recipe())
    except Exception:  # a plugin whose default construction fails still lists its options
        return {}
