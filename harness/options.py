"""Checks of command-line option values, run before any work; each message names the option as typed.

``at_least``/``positive_number``/``non_negative_number`` check one value. ``parse_train_sets`` turns
``--train key=value`` into typed TrainConfig overrides and checks each against ``TRAIN_RANGES``, so
``--train learning_rate=nan`` or ``--train lora=maybe`` is refused with exactly that text.
``check_method_sets`` refuses non-finite numbers in ``--set key=value`` (the method's own ``validate``
checks the rest). docs/options.md lists every option with its accepted range.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from harness.errors import HarnessError


def at_least(flag: str, value: Any, minimum: int) -> int:
    """An integer ``>= minimum``, else HarnessError naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise HarnessError(f"{flag}: must be an integer >= {minimum}, got {value!r}")
    return value


def _finite(flag: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HarnessError(f"{flag}: must be a finite number, got {value!r}")
    return float(value)


def positive_number(flag: str, value: Any) -> float:
    """A finite number ``> 0`` (NaN and infinities refused), else HarnessError naming ``flag``."""
    if _finite(flag, value) <= 0:
        raise HarnessError(f"{flag}: must be a finite number > 0, got {value!r}")
    return float(value)


def non_negative_number(flag: str, value: Any) -> float:
    """A finite number ``>= 0``, else HarnessError naming ``flag``."""
    if _finite(flag, value) < 0:
        raise HarnessError(f"{flag}: must be a finite number >= 0, got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------ --train

_Check = Callable[[Any], str | None]  # None when fine, else what is accepted


def _int_min(minimum: int) -> _Check:
    return lambda v: (
        None if isinstance(v, int) and not isinstance(v, bool) and v >= minimum else f"an integer >= {minimum}"
    )


def _num(low: float, *, low_open: bool, high: float | None = None, high_open: bool = True) -> _Check:
    def check(v: Any) -> str | None:
        ok = (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and math.isfinite(v)
            and (v > low if low_open else v >= low)
            and (high is None or (v < high if high_open else v <= high))
        )
        if ok:
            return None
        lo = f"> {low:g}" if low_open else f">= {low:g}"
        hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
        return f"a finite number {lo}{hi}"

    return check


def _one_of(*choices: str) -> _Check:
    return lambda v: None if v in choices else f"one of {', '.join(choices)}"


def _template(v: Any) -> str | None:
    from harness.policy.templates import TEMPLATES

    return None if v in TEMPLATES else f"one of {', '.join(TEMPLATES)}"


def _existing_file(v: Any) -> str | None:
    from pathlib import Path

    return None if v is None or Path(str(v)).is_file() else "an existing file (or none)"


def _accelerate_config(v: Any) -> str | None:
    from harness.train.config import resolve_accelerate_config, shipped_accelerate_configs

    if v is None:
        return None
    try:
        resolve_accelerate_config(str(v))
    except HarnessError:
        return f"a file, or a shipped config: {', '.join(shipped_accelerate_configs())}"
    return None


TRAIN_RANGES: dict[str, _Check] = {
    "template": _template,
    "deepspeed": _existing_file,
    "accelerate_config": _accelerate_config,
    "learning_rate": _num(0, low_open=True),
    "global_batch_size": lambda v: (  # 0: per_device_batch_size × processes (TrainConfig.global_batch)
        None if _int_min(0)(v) is None else "an integer >= 1, or 0 for per_device_batch_size × processes"
    ),
    "per_device_batch_size": _int_min(1),
    "epochs": _num(0, low_open=True),
    "lr_scheduler": _one_of("constant_with_warmup", "cosine", "linear", "constant"),
    "warmup_ratio": _num(0, low_open=False, high=1),
    "weight_decay": _num(0, low_open=False),
    "max_grad_norm": _num(0, low_open=True),
    "lora_r": _int_min(1),
    "lora_alpha": _int_min(1),
    "max_length": _int_min(1),
    "seed": _int_min(0),
    "ref_batch_size": _int_min(1),
    "launcher": _one_of("inline", "accelerate"),
    "objective": lambda v: None if v in (None, "", "dpo", "mdpo") else "one of dpo, mdpo, none",
}


def _parse(type_text: str, raw: str) -> tuple[Any, str | None]:
    """(value, None) or (None, what was expected) for one ``--train`` value of a TrainConfig field type."""
    optional = "None" in type_text
    base = type_text.split("|")[0].strip()
    if optional and raw.strip().lower() == "none":
        return None, None
    if base == "bool":
        low = raw.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True, None
        if low in ("false", "0", "no", "off"):
            return False, None
        return None, "true or false" + (" (or none)" if optional else "")
    if base in ("int", "float"):
        try:
            value = int(raw) if base == "int" else float(raw)
        except ValueError:
            return None, "an integer" if base == "int" else "a number"
        if base == "float" and not math.isfinite(value):
            return None, "a finite number"
        return value, None
    return raw, None


def parse_train_sets(items: Sequence[str]) -> dict[str, Any]:
    """``--train key=value`` pairs, typed from TrainConfig's fields and range-checked (``TRAIN_RANGES``).

    Every message quotes the option as typed: ``--train lora=maybe: expected true or false``.
    """
    from harness.train.config import TrainConfig

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise HarnessError(f"--train {item}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in fields:
            raise HarnessError(f"--train {key}: unknown training option; accepted: {', '.join(sorted(fields))}")
        value, expected = _parse(str(fields[key].type).replace("'", ""), raw)
        if expected is None and value is not None and key in TRAIN_RANGES:
            expected = TRAIN_RANGES[key](value)
        if expected is not None:
            raise HarnessError(f"--train {item}: expected {expected}")
        out[key] = value
    return out


def check_train_values(overrides: dict[str, Any]) -> None:
    """Range-check typed TrainConfig overrides (``EvolveOptions.train_overrides``) as ``--train`` would."""
    for key, value in overrides.items():
        check = TRAIN_RANGES.get(key)
        if value is None and key not in TRAIN_RANGES:
            continue
        bad_float = isinstance(value, float) and not math.isfinite(value)
        expected = "a finite number" if bad_float else (check(value) if check is not None else None)
        if expected is not None:
            raise HarnessError(f"--train {key}={value}: expected {expected}")
    if overrides.get("launcher") == "accelerate" and not overrides.get("accelerate_config"):
        from harness.train.config import shipped_accelerate_configs

        raise HarnessError(
            "--train launcher=accelerate needs --train accelerate_config=FILE or a shipped config "
            f"({', '.join(shipped_accelerate_configs())})"
        )


def check_method_sets(config_cls: type, items: Sequence[str]) -> None:
    """Refuse ``--set key=nan`` / ``inf`` for a method's number fields (other mistakes: ``build_config``)."""
    if not dataclasses.is_dataclass(config_cls):
        return
    types = {f.name: str(f.type).replace("'", "") for f in dataclasses.fields(config_cls)}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or types.get(key.strip(), "").split("|")[0].strip() != "float":
            continue
        try:
            value = float(raw)
        except ValueError:
            continue  # build_config names it
        if not math.isfinite(value):
            raise HarnessError(f"--set {item}: expected a finite number")
