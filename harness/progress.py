"""Progress that reads well both on a terminal and in a log file (nohup, SLURM, CI).

On a terminal: a rich progress line with the count, the rate and the ETA. In a log file, where a
rich bar is invisible: one line when the task starts, one every ``LOG_EVERY_S`` seconds with the
count, rate and ETA, and one at the end with the count and the time. ``stage_start``/``stage_end``
print the lines that frame a pipeline stage the same way in both places.

``quiet_libraries`` turns off the progress bars transformers and huggingface_hub draw while loading
and saving checkpoints ("Loading weights", "Writing model shards"); the CLI calls it at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG_EVERY_S = 30.0
LOG_WIDTH = 240  # wide enough that a table is never cut at 80 columns in a log file


def make_console(*, stderr: bool = False) -> Console:
    """Rich on a terminal; in a log file a console wide enough that tables are not cut and lines not
    wrapped (a line is only as long as its content)."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=LOG_WIDTH, soft_wrap=True)
    return console


def fmt_seconds(s: float) -> str:
    """``0.4 s``, ``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


class Tracker:
    """What a progress context yields: ``advance(n)`` after each finished piece of work."""

    def __init__(self, desc: str, total: int | None, console: Console, bar: Progress | None, every_s: float):
        self.desc, self.total, self.console, self.bar, self.every_s = desc, total, console, bar, every_s
        self.done = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self._task = bar.add_task(desc, total=total) if bar is not None else None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.advance(self._task, n)  # type: ignore[arg-type]
            return
        now = time.monotonic()
        if now - self._last_line >= self.every_s:
            self._last_line = now
            self.console.print(f"  {self.desc}: {self._count()}, {self._rate(now)}{self._eta(now)}", highlight=False)

    def _count(self) -> str:
        if self.total:
            return f"{self.done}/{self.total} ({100 * self.done / self.total:.0f} %)"
        return str(self.done)

    def _rate(self, now: float) -> str:
        dt = max(now - self.started, 1e-9)
        return f"{self.done / dt:.2f}/s"

    def _eta(self, now: float) -> str:
        if not self.total or not self.done:
            return ""
        left = (self.total - self.done) * (now - self.started) / self.done
        return f", ETA {fmt_seconds(left)}"


@contextmanager
def progress(
    desc: str,
    total: int | None = None,
    *,
    console: Console | None = None,
    disable: bool = False,
    every_s: float = LOG_EVERY_S,
) -> Iterator[Tracker]:
    """Track ``total`` pieces of work; see the module docstring for what is printed where."""
    console = console or make_console()
    if disable:
        yield Tracker(desc, total, console, None, float("inf"))
        return
    if console.is_terminal:
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        with bar:
            yield Tracker(desc, total, console, bar, every_s)
        return
    tracker = Tracker(desc, total, console, None, every_s)
    yield tracker
    dt = time.monotonic() - tracker.started
    console.print(
        f"  {desc}: {tracker.done} done in {fmt_seconds(dt)} ({tracker._rate(time.monotonic())})", highlight=False
    )


def stage_start(console: Console, title: str) -> float:
    """Print a stage's first line; returns the start time for ``stage_end``."""
    stamp = "" if console.is_terminal else time.strftime("%H:%M:%S ")
    console.print(f"{stamp}[bold]▶ {title}[/bold]", highlight=False)
    return time.monotonic()


def stage_end(console: Console, title: str, started: float, what: str = "") -> None:
    """Print a stage's last line: what it produced and how long it took."""
    stamp = "" if console.is_terminal else time.strftime("%H:%M:%S ")
    tail = f": {what}" if what else ""
    console.print(f"{stamp}✓ {title}{tail} ({fmt_seconds(time.monotonic() - started)})", highlight=False)


def quiet_libraries() -> None:
    """Turn off transformers' and huggingface_hub's own progress bars (checkpoint load and save)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass
