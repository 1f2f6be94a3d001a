"""What each kind of job asks the scheduler for: partition, GPUs, nodes, time, account, … from the command line
or a profile file, checked before anything is submitted.

A profile is a TOML file; its top-level keys apply to every job, a table per kind of job overrides them::

    partition = "gpu"             # sbatch --partition
    account = "my-project"        # sbatch --account
    time = "12:00:00"             # minutes, HH:MM:SS or D-HH:MM:SS
    gpus = 8                      # GPUs per node
    cpus-per-task = 64
    mem-gb = 480
    setup = ["source ~/harness/.venv/bin/activate"]   # lines run before the job (modules, venv)
    [train]                       # an iteration: synthesis, reference pass, training
    nodes = 2
    time = "2-00:00:00"
    [eval]                        # a benchmark of one θi, and θ0's evaluation
    gpus = 1
    [table]                       # the final table: no GPU
    gpus = 0
    partition = "cpu"

Kinds: ``train``, ``synth`` (a synthesis shard), ``eval``, ``table``. Options typed on the command line
(``--partition``, ``--account``, ``--gpus``, ``--time``, ``--qos``) win over the file for every kind but
``table`` (which keeps no GPU); ``--nodes`` is the training jobs' node count.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

KINDS = ("train", "synth", "eval", "table")
KEYS = {
    "partition": str,
    "account": str,
    "qos": str,
    "time": (str, int),
    "gpus": int,
    "nodes": int,
    "cpus-per-task": int,
    "mem-gb": (int, float),
    "constraint": str,
    "setup": list,
    "sbatch": dict,  # any other sbatch flag, e.g. {"exclusive" = true, "reservation" = "x"}
}
DEFAULT_TIME = {"train": "24:00:00", "synth": "12:00:00", "eval": "12:00:00", "table": "00:30:00"}


@dataclass(frozen=True)
class Resources:
    """One kind of job's request. ``origin``: where each value came from (an option or the profile's key),
    so a refused value is named as the user wrote it."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_min: int = 60
    gpus: int = 0
    nodes: int = 1
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    constraint: str | None = None
    setup: tuple[str, ...] = ()
    sbatch: tuple[tuple[str, Any], ...] = ()
    origin: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def named(self, key: str) -> str:
        return dict(self.origin).get(key, f"--{key}")


@dataclass
class ClusterOptions:
    """``--executor`` and the resources typed on the command line (None: the profile's or the default)."""

    executor: str = "local"
    profile: Path | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    gpus: int | None = None
    nodes: int | None = None
    time: str | None = None
    synthesis_shards: int = 1
    resume_command: str | None = None  # the command that resubmits (and so resumes) the grid
    settings: tuple[Path, str] | None = None  # (file, text): the resolved options the resume command reads


def parse_time(value: Any, where: str) -> int:
    """Minutes from ``90``, ``"90"``, ``"HH:MM:SS"``, ``"MM:SS"`` or ``"D-HH[:MM[:SS]]"`` (sbatch's formats)."""
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    else:
        text = str(value).strip()
        m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
        if not m:
            raise HarnessError(f"{where} {value!r}: a time limit is minutes, HH:MM:SS or D-HH:MM:SS")
        days, a, b, c = (int(g) if g else None for g in m.groups())
        if days is None and b is None:
            minutes = a  # minutes
        elif days is None and c is None:
            minutes = a + (1 if b else 0)  # MM:SS, rounded up
        else:
            hours, mins, secs = a, b or 0, c or 0
            minutes = (days or 0) * 1440 + hours * 60 + mins + (1 if secs else 0)
    if minutes < 1:
        raise HarnessError(f"{where} {value!r}: a time limit must be at least one minute")
    return minutes


def _checked(path: Path, section: str, data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if key in KINDS and section == "":
            continue
        kind = KEYS.get(key.replace("_", "-"))
        where = f"{path}: {section + '.' if section else ''}{key}"
        if kind is None:
            raise HarnessError(
                f"{where}: unknown key; profile keys: {', '.join(KEYS)}, and the tables {', '.join(KINDS)}"
            )
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not dict:
            raise HarnessError(f"{where}: {value!r} is not a {getattr(kind, '__name__', 'string or number')}")
        if key == "setup" and not all(isinstance(s, str) for s in value):
            raise HarnessError(f"{where}: a list of shell lines (strings)")
        out[key.replace("_", "-")] = (value, where)
    return out


def read_profile(path: Path | None) -> dict[str, dict[str, tuple[Any, str]]]:
    """kind → key → (value, where it is written); ``""`` holds the keys for every kind."""
    if path is None:
        return {"": {}}
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"--profile {path}: file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"--profile {path}: not valid TOML ({exc})") from None
    out = {"": _checked(path, "", data)}
    for kind in KINDS:
        table = data.get(kind, {})
        if not isinstance(table, dict):
            raise HarnessError(f"{path}: {kind}: a table of job resources expected")
        out[kind] = _checked(path, kind, table)
    return out


def resources_for(opts: ClusterOptions, profile: dict[str, dict[str, tuple[Any, str]]] | None = None) -> dict:
    """kind → Resources: defaults, then the profile (every kind, then the kind's table), then the options."""
    profile = profile if profile is not None else read_profile(opts.profile)
    typed = {
        "partition": opts.partition,
        "account": opts.account,
        "qos": opts.qos,
        "gpus": opts.gpus,
        "time": opts.time,
    }
    out = {}
    for kind in KINDS:
        values: dict[str, tuple[Any, str]] = {"time": (DEFAULT_TIME[kind], "the default time")}
        values.update(profile.get("", {}))
        values.update(profile.get(kind, {}))
        for key, value in typed.items():
            if value is not None and not (kind == "table" and key == "gpus"):
                values[key] = (value, "--gpus-per-node" if key == "gpus" else f"--{key}")
        if kind == "train" and opts.nodes is not None:
            values["nodes"] = (opts.nodes, "--nodes")
        out[kind] = _resources(values)
    return out


def _resources(values: dict[str, tuple[Any, str]]) -> Resources:
    def get(key, default=None):
        return values[key][0] if key in values else default

    for key in ("gpus", "nodes", "cpus-per-task"):
        if key in values and (not isinstance(get(key), int) or get(key) < (1 if key != "gpus" else 0)):
            raise HarnessError(f"{values[key][1]}: must be an integer >= {1 if key != 'gpus' else 0}, got {get(key)}")
    return Resources(
        partition=get("partition"),
        account=get("account"),
        qos=get("qos"),
        time_min=parse_time(get("time"), values["time"][1]),
        gpus=int(get("gpus", 0) or 0),
        nodes=int(get("nodes", 1)),
        cpus_per_task=get("cpus-per-task"),
        mem_gb=get("mem-gb"),
        constraint=get("constraint"),
        setup=tuple(get("setup", ()) or ()),
        sbatch=tuple(sorted((get("sbatch", {}) or {}).items())),
        origin=tuple((k, where) for k, (_, where) in values.items()),
    )


def slurm_partitions() -> list[str] | None:
    """The partitions ``sinfo`` lists (None where sinfo is not on PATH or fails)."""
    if shutil.which("sinfo") is None:
        return None
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return sorted({line.strip().rstrip("*") for line in out.stdout.splitlines() if line.strip()})


def check_slurm(resources: dict[str, Resources]) -> None:
    """Before anything is submitted: ``sbatch`` is on PATH and every partition asked for exists."""
    if shutil.which("sbatch") is None:
        raise HarnessError(
            "--executor slurm: `sbatch` is not on PATH (run this on the cluster's login node, where SLURM's "
            "commands are); nothing was submitted. On a machine without SLURM use --executor local"
        )
    known = slurm_partitions()
    if known is None:
        return  # sbatch refuses an unknown partition itself; its message is shown with the job it names
    for kind, res in resources.items():
        if res.partition is not None and res.partition not in known:
            raise HarnessError(
                f"{res.named('partition')} {res.partition}: no such partition on this cluster ({kind} jobs); "
                f"sinfo lists: {', '.join(known) or 'none'}; nothing was submitted"
            )
