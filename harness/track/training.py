"""Training curves: TRL's own ``report_to`` integration (transformers' ``TensorBoardCallback`` /
``WandbCallback``), pointed into the run folder.

The evolve loop hands ``train_iteration`` (inline or through an accelerate job file) a plain dict,
``TrainTracking.to_dict()``, so the choice reaches the workers; only the main process writes.
TensorBoard: one log folder per iteration, ``RUN/track/tensorboard/train-iter<i>`` (the optimiser step is
the step). wandb: one run per iteration (``<run>-train-iter<i>``) in the run's group.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainTracking:
    backend: str  # tensorboard | wandb
    log_dir: str  # tensorboard: this iteration's event folder; wandb: the run's track folder
    name: str = ""  # wandb: the training run's name, id, group, project and mode
    run_id: str = ""
    group: str = ""
    project: str = ""
    mode: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def report_to(track: dict[str, Any] | None) -> str:
    """TRL's ``report_to`` for this iteration's training: the tracker's name, or ``none``."""
    return track["backend"] if track else "none"


@contextlib.contextmanager
def tracked_training(trainer, track: dict[str, Any] | None) -> Iterator[None]:
    """Around ``trainer.train()``: the report_to callback writes into the run folder."""
    if not track:
        yield
        return
    spec = TrainTracking(**track)
    main = trainer.is_world_process_zero()
    if spec.backend == "tensorboard":
        from transformers.integrations import TensorBoardCallback

        # transformers 5 has no logging_dir argument: the callback gets a writer on the run's folder
        trainer.pop_callback(TensorBoardCallback)
        if main:
            from torch.utils.tensorboard import SummaryWriter

            trainer.add_callback(TensorBoardCallback(SummaryWriter(log_dir=spec.log_dir)))
        yield
        return
    run = None
    if main:  # WandbCallback logs into wandb's global run when there is one: this iteration's
        import wandb

        run = wandb.init(
            project=spec.project,
            name=spec.name,
            id=spec.run_id,
            group=spec.group,
            job_type="train",
            dir=spec.log_dir,
            mode=spec.mode,
            resume="allow",
        )
    try:
        yield
    finally:
        if run is not None:
            run.finish()
