"""``--config FILE.toml``: a command's options from a TOML file, and the resolved options written back as TOML.

Keys are the long option names without ``--`` (``images-per-iter = 128``; ``images_per_iter`` is the same
key), values the TOML types the option takes: strings, integers, floats, booleans for flags, arrays for
repeatable options (``eval = ["bench_a", "bench_b"]``, ``set = ["key=value"]``). The ``key=value`` options
(``set``, ``train``, ``backend-opt``) also take a table: ``[train]`` then ``learning_rate = 1e-5``.
Options given on the command line win over the file; an unknown key or a value of the wrong type is an
error naming the file and the key (exit 2). The file is read in an eager callback that fills click's
``default_map``, so every other option sees the file's value as its default.

``harness evolve`` writes the resolved options (file, then command line, then defaults) to ``RUN/run.toml``
(``resolved_toml``): ``harness evolve --config RUN/run.toml`` runs (or resumes) the same run, so a study is
one file under version control. Reading uses the standard library's ``tomllib``; the writer below covers
the few value types options have.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import typer

# Flags that say what to do this time, not what the run is: never stored in RUN/run.toml.
NOT_STORED = ("config", "dry_run", "restart", "help")
KEY_VALUE_OPTIONS = ("set", "train", "backend-opt")


def config_option() -> Any:
    """The ``--config`` option of a command (declare it first: ``config: Optional[Path] = config_option()``)."""
    return typer.Option(
        None,
        "--config",
        help="A TOML file of this command's options (keys: the long option names, e.g. images-per-iter = 128); "
        "options on the command line win over it. `harness evolve` stores the resolved options as RUN/run.toml.",
        is_eager=True,
        callback=load_config,
        dir_okay=False,
    )


def _long_name(param: Any) -> str | None:
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0][2:] if longs else None


def _keyed_params(command: Any) -> dict[str, Any]:
    """Key in the file → the option it sets (long names, with ``-`` or ``_``)."""
    keys: dict[str, Any] = {}
    for param in command.params:
        name = _long_name(param)
        if name is None or param.name in ("config", "help"):
            continue
        keys[name] = param
        keys[name.replace("-", "_")] = param
    return keys


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _file_value(ctx: typer.Context, path: Path, key: str, param: Any, value: Any) -> Any:
    """The file's value as the command line would give it."""
    if isinstance(value, dict):
        if key.replace("_", "-") not in KEY_VALUE_OPTIONS:
            raise typer.BadParameter(f"{path}: {key}: a table is only accepted for {', '.join(KEY_VALUE_OPTIONS)}")
        value = [f"{k}={_scalar_text(v)}" for k, v in value.items()]
    multiple = getattr(param, "multiple", False)
    if multiple and not isinstance(value, list):
        value = [value]
    if not multiple and isinstance(value, list):
        raise typer.BadParameter(f"{path}: {key}: one value expected, got an array")
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        raise typer.BadParameter(f"{path}: {key}: an array of plain values expected")
    if isinstance(value, bool) and not getattr(param, "is_flag", False):
        raise typer.BadParameter(f"{path}: {key}: a boolean is only accepted for a flag")
    try:  # the option's own conversion and checks, as for a value typed on the command line
        param.process_value(ctx, value)
    except Exception as exc:  # noqa: BLE001 - the parser's usage errors, reported with the file and key
        raise typer.BadParameter(f"{path}: {key}: {getattr(exc, 'message', None) or exc}") from None
    return value


def load_config(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Eager callback of ``--config``: the file's options become the defaults of this command's options."""
    if value is None or ctx.resilient_parsing:
        return value
    path = Path(value)
    if not path.is_file():
        raise typer.BadParameter(f"{path}: file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise typer.BadParameter(f"{path}: not valid TOML ({exc})") from None
    keys = _keyed_params(ctx.command)
    defaults: dict[str, Any] = {}
    for key, raw in data.items():
        target = keys.get(key)
        if target is None:
            known = sorted({n for p in keys.values() if (n := _long_name(p))})
            raise typer.BadParameter(
                f"{path}: unknown key {key!r}; `harness {ctx.info_name}` options: {', '.join(known)}"
            )
        if target.name in defaults:
            raise typer.BadParameter(f"{path}: {key!r} is given twice (as - and _ spellings)")
        defaults[target.name] = _file_value(ctx, path, key, target, raw)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


# ------------------------------------------------------------------------------------------ writing


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # a JSON string is a TOML basic string: the same escapes (\", \\, \n, \uXXXX)
    return json.dumps(str(value), ensure_ascii=False)


def resolved_toml(ctx: typer.Context, header: str = "") -> str:
    """This invocation's options (after file, command line and defaults) as a TOML file that ``--config``
    reads back; unset options are comments, flags that only steer this invocation are left out."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for param in ctx.command.params:
        name = _long_name(param)
        if name is None or param.name in NOT_STORED or param.name not in ctx.params:
            continue
        value = ctx.params[param.name]
        if isinstance(value, Path):
            value = str(value)
        if value is None:
            lines.append(f"# {name} =   (not set: the default)")
        else:
            lines.append(f"{name} = {_toml_value(list(value) if isinstance(value, tuple) else value)}")
    return "\n".join(lines) + "\n"
