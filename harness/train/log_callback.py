"""Training steps as readable lines instead of the HF Trainer's raw log dicts.

One line per logged step: step/total, loss, the DPO reward margin and accuracy, the learning rate,
and (where the objective has one) the alignment term. Printed through rich on the main process only.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from harness.progress import make_console


def _num(logs: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = logs.get(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def format_step(step: int, total: int, logs: dict[str, Any]) -> str | None:
    """The line for one Trainer log event, or None for events that are not training steps."""
    loss = _num(logs, "loss")
    if loss is None:
        return None
    parts = [f"step {step}/{total}", f"loss {loss:.4f}"]
    margin = _num(logs, "rewards/margins")
    if margin is not None:
        parts.append(f"reward margin {margin:+.4f}")
    acc = _num(logs, "rewards/accuracies")
    if acc is not None:
        parts.append(f"reward acc {acc:.2f}")
    align = _num(logs, "align_nll")
    if align is not None:
        parts.append(f"align {align:.4f}")
    lr = _num(logs, "learning_rate")
    if lr is not None:
        parts.append(f"lr {lr:.2e}")
    return "  " + " · ".join(parts)


def use_readable_logs(trainer: Any, console: Console | None = None) -> None:
    """Replace the Trainer's printing callbacks with one readable line per step."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    out = console or make_console()

    class _Readable(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            line = format_step(state.global_step, state.max_steps, logs)
            if line:
                out.print(line, highlight=False)

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_Readable())
