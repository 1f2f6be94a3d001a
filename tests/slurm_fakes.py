"""Stand-ins for SLURM's commands on PATH, so submission is checked without a cluster: ``sbatch`` keeps each
script it is given (``<state>/job-<id>.sh``) and answers as sbatch does; ``sinfo`` lists the partitions;
``squeue`` and ``sacct`` answer from ``<state>/queue`` and ``<state>/sacct`` (lines ``id|STATE``); ``srun``
exists (submitit looks for it). ``sbatch`` refuses a script whose job name is in ``<state>/refuse``, with
sbatch's own words for an unknown partition."""

from __future__ import annotations

import re
from pathlib import Path

SBATCH = """#!/usr/bin/env bash
set -e
state="{state}"
name=$(sed -n 's/^#SBATCH --job-name=//p' "$1")
if [ -f "$state/refuse" ] && grep -qxF "$name" "$state/refuse"; then
  echo "sbatch: error: invalid partition specified: gpux" >&2
  echo "sbatch: error: Batch job submission failed: Invalid partition name specified" >&2
  exit 1
fi
n=$(( $(cat "$state/counter" 2>/dev/null || echo 1000) + 1 ))
echo "$n" > "$state/counter"
cp "$1" "$state/job-$n.sh"
echo "Submitted batch job $n"
"""


def install(bin_dir: Path, state: Path, partitions: tuple[str, ...] = ("gpu", "cpu")) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    scripts = {
        "sbatch": SBATCH.format(state=state),
        "srun": "#!/bin/sh\nexit 0\n",
        "sinfo": "#!/bin/sh\nprintf '"
        + "".join(p + ("*" if k == 0 else "") + "\\n" for k, p in enumerate(partitions))
        + "'\n",
        "squeue": f"#!/bin/sh\ncat '{state}/queue' 2>/dev/null || true\n",
        "sacct": f"#!/bin/sh\ncat '{state}/sacct' 2>/dev/null || true\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)


def submitted(state: Path) -> dict[str, dict]:
    """job name → {id, text, flags (name → value), dependency ids}."""
    out = {}
    for path in sorted(state.glob("job-*.sh")):
        text = path.read_text()
        flags = dict(re.findall(r"^#SBATCH --([a-z-]+)(?:=(.*))?$", text, re.M))
        dep = flags.get("dependency", "")
        out[flags["job-name"]] = {
            "id": path.stem.split("-")[1],
            "text": text,
            "flags": flags,
            "after": dep.removeprefix("afterok:").split(":") if dep else [],
        }
    return out
