"""One node's share of a multi-node training job: ``python -m harness.cluster.node_launch --config CFG
--gpus-per-node G [--port P] JOB.json``, started on every node by ``srun`` (harness/cluster/allocation.py),
runs this node's ``accelerate launch`` and exits with its code."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from harness.cluster.allocation import accelerate_command, read_allocation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.cluster.node_launch")
    parser.add_argument("--config", required=True, help="the accelerate config file")
    parser.add_argument("--gpus-per-node", type=int, required=True)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("job", help="the training job file (harness.train.launch.write_job)")
    args = parser.parse_args(argv)
    alloc = read_allocation()
    if alloc is None:
        parser.error("not inside an allocation of several nodes (SLURM_JOB_NUM_NODES ≤ 1)")
    cmd = accelerate_command(Path(args.config), Path(args.job), alloc, args.gpus_per_node, port=args.port)
    print(f"node {alloc.node_rank} of {alloc.nodes} ({alloc.master} leads): {' '.join(cmd)}", flush=True)
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
