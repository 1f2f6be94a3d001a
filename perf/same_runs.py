"""Are two run folders the same run? For checking that a refactor changed no behaviour.

    python perf/same_runs.py BEFORE/runs AFTER/runs

Every file under the two folders is compared by SHA-256. A JSON file that differs is compared key by
key, and differences only in what a clock or the command line writes (``created``, ``finished``,
``started``, ``wall_s``, ``seconds``, ``command``) are reported as timing-only, as is ``run.toml`` (the
command line's options, which may differ in one that cannot change a result, such as ``--gen-helpers``). ``training_args.bin``
(a pickle that holds the trainer's temporary folder name) is reported apart. Exit 0 when everything
else is byte-identical: pairs, reference log-probs, checkpoints, predictions and every metric.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

VOLATILE = {"created", "finished", "started", "wall_s", "seconds", "command"}
PICKLED = {"training_args.bin"}
# the command line's options as TOML (for `harness evolve --config`): it differs when the options that cannot
# change a result do (e.g. --gen-helpers), and is reported apart
OPTIONS_RECORD = {"run.toml"}


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _flat(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}.{key}" if prefix else key).items()}
    if isinstance(value, list):
        return {k: v for i, sub in enumerate(value) for k, v in _flat(sub, f"{prefix}[{i}]").items()}
    return {prefix: value}


def _volatile(key: str) -> bool:
    return any(part.split("[")[0] in VOLATILE for part in key.split("."))


def compare(before: Path, after: Path) -> tuple[list[str], list[str], list[str], int]:
    """(real differences, timing-only files, pickled files that differ, identical files)."""
    a, b = _files(before), _files(after)
    real = [f"only in {before}: {k}" for k in sorted(set(a) - set(b))]
    real += [f"only in {after}: {k}" for k in sorted(set(b) - set(a))]
    timing, pickled, same = [], [], 0
    for key in sorted(set(a) & set(b)):
        if a[key] == b[key]:
            same += 1
        elif Path(key).name in PICKLED:
            pickled.append(key)
        elif Path(key).name in OPTIONS_RECORD:
            timing.append(key + ": the recorded command-line options")
        elif key.endswith((".json", ".done")):
            x, y = _flat(json.loads((before / key).read_text())), _flat(json.loads((after / key).read_text()))
            keys = [k for k in set(x) | set(y) if x.get(k) != y.get(k) and not _volatile(k)]
            (real if keys else timing).append(key + (f": {sorted(keys)[:5]}" if keys else ""))
        else:
            real.append(key)
    return real, timing, pickled, same


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    real, timing, pickled, same = compare(Path(argv[0]), Path(argv[1]))
    print(f"identical files: {same}; timing-only differences: {len(timing)}; pickled trainer args: {len(pickled)}")
    for line in real:
        print("DIFFERS", line)
    return 1 if real else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
