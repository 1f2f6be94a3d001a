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


def method_images(cls: type) -> str:
    """Which images the method trains on per iteration at real scale, from its ``image_plan`` (the tiny
    model draws the engine's tiny default count the same way)."""
    from harness.evolve.options import PAPER_IMAGES_PER_ITER, TINY_IMAGES_PER_ITER

    per_iter = getattr(cls, "images_per_iter", None) or PAPER_IMAGES_PER_ITER
    try:
        plan = cls().image_plan(per_iter)
    except Exception:  # a plugin whose default construction fails still lists its options
        return f"{per_iter} per iteration"
    tiny = f"; {TINY_IMAGES_PER_ITER} on the built-in tiny model; --images-per-iter sets it"
    if plan is None:
        return f"{per_iter} new images per iteration, drawn uniformly from the pool, disjoint across iterations{tiny}"
    sources = ", ".join(f"{q} {s}" for s, q in plan.quotas.items())
    fallback = "; a pool without sources: uniformly" if plan.uniform_fallback else ""
    if getattr(plan, "same_every_iteration", False):
        how = f"one fixed set of {plan.per_iter} images ({sources}{fallback}), the same every iteration"
    else:
        how = f"{plan.per_iter} new images per iteration ({sources}{fallback}), disjoint across iterations"
    return how + tiny + (f" — {plan.purpose}" if plan.purpose else "")


def recipe_text(recipe: dict[str, Any]) -> str:
    """The recipe as ``key=value`` pairs, ``global_batch_size=0`` spelled out."""
    out = []
    for k, v in recipe.items():
        note = " (per-device × GPUs: no accumulation)" if k == "global_batch_size" and v == 0 else ""
        out.append(f"{k}={v}{note}")
    return ", ".join(out)


def tiny_recipe(cls: type) -> dict[str, Any]:
    """What a run on the built-in tiny model trains with: the method's recipe with the tiny-scale keys kept at
    the tiny model's values (``resolve_train_config``: a 7B recipe makes no step, or a collapsing one, there)."""
    from harness.train.config import TINY_SCALE_KEYS, resolve_train_config

    recipe = method_recipe(cls)
    try:
        cfg, _ = resolve_train_config("tiny", recipe, {})
    except Exception:  # a recipe the trainer refuses is shown as declared only
        return {}
    keys = [*TINY_SCALE_KEYS, *(k for k in recipe if k not in TINY_SCALE_KEYS)]
    return {k: getattr(cfg, k) for k in keys if getattr(cfg, k, None) is not None}


def method_recipe(cls: type) -> dict[str, Any]:
    """The method's training recipe (TrainConfig overrides), from a default-configured instance."""
    try:
        return dict(cls().train_recipe())
    except Exception:  # a plugin whose default construction fails still lists its options
        return {}


def method_stages(cls: type) -> list[dict[str, Any]]:
    """Each training stage of an iteration (``Method.training_stages``) of a default-configured instance:
    name, data, objective, the stage's recipe and what it does."""
    try:
        stages = cls().training_stages()
    except Exception:  # a plugin whose default construction fails still lists its options
        return []
    return [
        {
            "stage": s.name,
            "data": "the iteration's pairs"
            if s.pairs == "synthesized"
            else "its own pairs, made after the stage before",
            "objective": objective_text(s.objective),
            "recipe": recipe_text(dict(s.recipe)) or "the method's recipe",
            "summary": s.summary,
        }
        for s in stages
    ]


def objective_text(obj: Any) -> str:
    """``name (β …, the fields that differ from plain DPO)``."""
    import dataclasses

    defaults = type(obj)()
    parts = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in ("name", "beta") or value == getattr(defaults, f.name):
            continue
        if f.name in ("noise_negative_step", "noise_space") and not obj.noise_negative_weight:
            continue
        parts.append(f"{f.name}={value}")
    return f"{obj.name} (β {obj.beta}{', ' + ', '.join(parts) if parts else ''})"


def method_published(cls: type) -> list[str]:
    """The published rows the method declares, one line each: model, table, source and note."""
    out = []
    for rep in getattr(cls, "reported", ()) or ():
        note = f" — {rep.note}" if getattr(rep, "note", "") else ""
        how = f" (reproduced by --variant {rep.variant})" if getattr(rep, "variant", "") else ""
        out.append(f"{rep.model} [{rep.table or 'table'}]{how}: {rep.source}{note}")
    return out
