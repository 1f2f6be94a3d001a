"""Parsing the repeated key=value options: ``--train``, ``--eval`` lists and a benchmark's ``--set``."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError


def parse_train_sets(items: list[str]) -> dict:
    """--train key=value pairs, typed from TrainConfig's fields and range-checked (harness/options.py)."""
    from harness.options import parse_train_sets

    return parse_train_sets(items)


def parse_evals(eval_benches: list[str] | None) -> list[str] | None:
    """``--eval`` values: repeated or comma-separated names; ``none``: no evaluation; None: the defaults."""
    if eval_benches is None:
        return None
    evals = [b.strip() for e in eval_benches for b in e.split(",") if b.strip()]
    return [] if evals == ["none"] else evals


def parse_bench_sets(bench: str, items: list[str]) -> dict:
    """``harness eval --set key=value`` pairs, typed from the benchmark class's keyword arguments."""
    import inspect

    from harness.method import _coerce
    from harness.plugins import registry

    if not items:
        return {}

    def settable_type(p: inspect.Parameter) -> str | None:
        """bool/int/float/str/Path for an option the command line can set, else None."""
        if isinstance(p.default, (str, int, float, bool)):
            return type(p.default).__name__
        names = [t.strip() for t in str(p.annotation).replace("'", "").split("|") if t.strip() != "None"]
        return names[0] if len(names) == 1 and names[0] in ("bool", "int", "float", "str", "Path") else None

    cls = registry().benchmark(bench)
    params = {
        name: t
        for name, p in inspect.signature(cls).parameters.items()
        if name not in ("self", "judge_model", "judge_runs")
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and (t := settable_type(p)) is not None
    }
    out = {}
    for item in items:
        if "=" not in item:
            raise HarnessError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        if key not in params:
            raise HarnessError(
                f"--set {key}: benchmark {bench!r} has no such option; accepted: {', '.join(sorted(params)) or 'none'}"
            )
        out[key] = Path(raw) if params[key] == "Path" else _coerce(params[key], raw, key)
    return out


def gen_helpers_option():
    """``--gen-helpers``: spare-core generation helpers (harness/backends/helpers.py)."""
    import typer

    return typer.Option(
        "auto",
        "--gen-helpers",
        help="Extra CPU processes that generate whole batches beside this one (outputs unchanged): auto (one per "
        "idle core for a tiny-scale model on the CPU, none on a GPU), or a number; 0: none.",
    )
