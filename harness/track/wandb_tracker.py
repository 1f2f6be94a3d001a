"""Weights & Biases: one wandb run per evolve run (its per-iteration numbers against ``iteration``, tables,
pairs with ``wandb.Image``), in a group with one run per iteration's training (TRL's ``report_to``).

Offline without an API key (harness/track/base.py ``wandb_mode``): the runs are written under
``RUN/track/wandb/`` and uploaded later with ``wandb sync``. A resume reopens the same run id
(``resume="allow"``). The run is made with ``reinit="create_new"``, so it never becomes wandb's global run
and never finishes another; it is closed while an iteration trains in this process, since TRL's callback
needs the global run to be its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.track.base import PairSample


class WandbTracker:
    backend = "wandb"

    def __init__(
        self, track_dir: Path, *, project: str, mode: str, name: str, group: str, run_id: str, config: dict | None
    ) -> None:
        self.track_dir = Path(track_dir)
        self.project, self.mode, self.name, self.group, self.run_id = project, mode, name, group, run_id
        self.config = config
        self._run = None

    def _r(self):
        if self._run is None:
            import wandb

            self.track_dir.mkdir(parents=True, exist_ok=True)
            self._run = wandb.init(
                project=self.project,
                name=self.name,
                group=self.group,
                id=self.run_id,
                job_type="evolve",
                dir=str(self.track_dir),
                mode=self.mode,
                resume="allow",
                reinit="create_new",
                config=self.config,
                settings=wandb.Settings(console="off"),
            )
            self._run.define_metric("iteration")
            self._run.define_metric("*", step_metric="iteration")
        return self._run

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        self._r().log({**{k: float(v) for k, v in values.items()}, "iteration": step})

    def table(self, tag: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> None:
        import wandb

        table = wandb.Table(columns=list(columns), data=[[str(v) for v in row] for row in rows])
        self._r().log({tag: table, "iteration": step})

    def pairs(self, tag: str, samples: Sequence[PairSample], step: int) -> None:
        import wandb

        columns = ["image", "kind", "audit", "prompt", "chosen", "rejected"]
        data = [
            [wandb.Image(s.image) if s.image is not None else None, s.kind, s.verdict, s.prompt, s.chosen, s.rejected]
            for s in samples
        ]
        self._r().log({tag: wandb.Table(columns=columns, data=data), "iteration": step})

    def flush(self) -> None:
        pass  # each log call is handed to wandb's service process at once

    def pause(self) -> None:
        self.close()

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None
