"""Experiment tracking (``harness evolve --track none|tensorboard|wandb``): per-iteration numbers, the pair
audit table and a sample of pairs with images from the evolve loop (harness/evolve/tracking.py), and the
training curves through TRL's ``report_to`` (training.py)."""

from __future__ import annotations

from pathlib import Path

from harness.track.base import BACKENDS, PairSample, Tracker, check_backend, wandb_id, wandb_mode, wandb_project
from harness.track.training import TrainTracking, report_to, tracked_training

__all__ = [
    "BACKENDS",
    "PairSample",
    "TrainTracking",
    "Tracker",
    "check_backend",
    "open_tracker",
    "report_to",
    "tracked_training",
]


def open_tracker(backend: str, track_dir: Path, *, name: str, run_dir: Path, config: dict | None = None):
    """The tracker of one run: event files or offline runs under ``track_dir`` (``RUN/track``); None for none."""
    check_backend(backend)
    if backend == "tensorboard":
        from harness.track.tensorboard_tracker import TensorBoardTracker

        return TensorBoardTracker(Path(track_dir) / "tensorboard")
    if backend == "wandb":
        from harness.track.wandb_tracker import WandbTracker

        return WandbTracker(
            Path(track_dir),
            project=wandb_project(),
            mode=wandb_mode(),
            name=name,
            group=name,
            run_id=wandb_id(name, run_dir),
            config=config,
        )
    return None
