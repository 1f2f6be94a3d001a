"""A grid of runs as jobs of a scheduler users already run: SLURM through submitit, or submitit's local
executor on a workstation and in the tests. No scheduler of our own: SLURM orders the jobs by their
``--dependency=afterok`` edges; the local executor starts each job once the jobs it needs have finished.

Modules (none imported here, so importing one pulls in no other):

- ``jobs.py``: the job graph of a grid (``JobSpec``): θ0's evaluation first, then per run and iteration
  the synthesis shards (``--synthesis-shards``), the iteration (synthesis, reference pass, training), and
  each benchmark of θi as its own job; rows sharing θ1's pairs after their donor; which jobs are done
  (the run folders' stage markers).
- ``work.py``: what a job runs (``GridJob``, requeued by submitit on a time limit or preemption).
- ``resources.py``: partition, GPUs, time, account per kind of job, from options or a profile file.
- ``submit.py``: submitting a graph (SLURM or local), skipping finished jobs and jobs still queued;
  ``records.py``: ``OUT/cluster/jobs.json`` and the jobs' own state files; ``status.py``: ``harness status``.
- ``allocation.py``: a SLURM allocation read at call time (nodes, rank, master address) and the
  ``accelerate launch`` command for N nodes × G GPUs; ``node_launch.py`` runs it on every node.
- ``grids.py``: a paper's table (``harness reproduce --executor``) or methods × seeds (``harness sweep``)
  as a graph.

docs/cluster.md: the commands a user types on a SLURM login node, start to leaderboard.
"""
