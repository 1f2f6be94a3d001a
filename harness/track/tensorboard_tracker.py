"""TensorBoard: event files written with torch's ``SummaryWriter`` (``torch.utils.tensorboard``, needs the
``tensorboard`` package); tables and pairs as markdown text, which TensorBoard's text plugin renders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.track.base import PairSample

MAX_IMAGE_SIDE = 512  # images are shrunk to this many pixels on their longer side: event files stay small


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return " ".join(str(value).split()).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


class TensorBoardTracker:
    backend = "tensorboard"

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self._writer = None

    def _w(self):
        if self._writer is None:  # each opening adds an event file beside the earlier ones: a resume appends
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        return self._writer

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in values.items():
            self._w().add_scalar(tag, float(value), step)

    def table(self, tag: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> None:
        self._w().add_text(tag, markdown_table(columns, rows), step)

    def pairs(self, tag: str, samples: Sequence[PairSample], step: int) -> None:
        import numpy as np

        for n, s in enumerate(samples):
            if s.image is not None:
                image = s.image.convert("RGB")
                image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
                self._w().add_image(f"{tag}/{n}", np.asarray(image), step, dataformats="HWC")
        rows = [[n, s.kind, s.verdict or "–", s.prompt, s.chosen, s.rejected] for n, s in enumerate(samples)]
        self.table(tag, ["#", "kind", "audit", "prompt", "chosen", "rejected"], rows, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def pause(self) -> None:
        self.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
