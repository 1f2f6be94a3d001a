"""Opening a run folder: create, resume or grow it, and draw the images it still needs (the images stage).

A finished run grows: a larger ``--iters`` continues it (the images of the earlier iterations stay,
new disjoint ones are drawn for the new ones; under an image plan with ``same_every_iteration`` the new
ones get the run's one fixed set again), and ``--eval`` may name other benchmarks. Any other
change cannot continue a run: the error names each option that differs and offers a new run
directory (``--run-id``).
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

from harness import atomic
from harness.errors import HarnessError
from harness.evolve.options import CONTINUABLE, EvolveOptions
from harness.images import sample_iterations
from harness.runs import Run, RunConfigMismatch, RunLock, check_continuable

_OPTION_OF = {
    "method": "--method",
    "variant": "--variant/--set",
    "method_config": "--set",
    "objective": "--set/--variant",
    "base_model": "--model",
    "images.source": "--images/--image-root",
    "images.per_iter": "--images-per-iter",
    "images": "--images",
    "seed": "--seed",
    "backend": "--backend",
    "train": "--train",
    "generation": "--gen-dtype",
    "train_recipe": "--train/--method",
}


def _option_name(key: str) -> str:
    """The command-line option behind a run config key (``train.learning_rate`` → ``--train learning_rate``)."""
    top, _, sub = key.partition(".")
    if key in _OPTION_OF:
        return _OPTION_OF[key]
    if sub and top == "train":
        return f"--train {sub}"
    if sub and top == "method_config":
        return f"--set {sub}"
    return _OPTION_OF.get(top, key)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "…"


def _free_run_id(run_dir: Path) -> str:
    n = 2
    while (run_dir.parent / f"{run_dir.name}-{n}").exists():
        n += 1
    return f"{run_dir.name}-{n}"


def _mismatch_message(exc: RunConfigMismatch) -> str:
    diffs = "; ".join(f"{_option_name(k)} ({_short(a)} → {_short(b)})" for k, a, b in exc.differences)
    return (
        f"{exc.run_dir} holds a run with a different config that cannot be continued: {diffs}. "
        f"Start a new run beside it with --run-id {_free_run_id(exc.run_dir)}, or delete this one and start "
        "over with --restart"
    )


def _drawn_iterations(run_dir: Path, old_config: dict[str, Any]) -> int:
    """How many iterations already have their images in ``run_dir`` (0 before the images stage finished)."""
    marker = run_dir / "stages" / "images.done"
    if not marker.is_file():
        return 0
    info = atomic.read_json(marker)
    drawn = info.get("iterations") if isinstance(info, dict) else None
    return int(drawn if drawn is not None else old_config.get("iterations", 0))


def open_run(
    run_dir: Path,
    config: dict[str, Any],
    opts: EvolveOptions,
    source,
    per_iter: int,
    console: Console,
    plan=None,
    stack: ExitStack | None = None,
) -> Run:
    """Open (create, resume or grow) the run and draw the images it still needs.

    The images are drawn before the run directory is created or changed, so a source with too few
    readable images leaves nothing behind. Growing keeps the images of the iterations drawn before and
    checks that the new ones are disjoint from them (or, for a plan that keeps one set every iteration,
    that they are that same set).
    """
    manifest = None
    if not opts.restart:
        try:
            manifest = check_continuable(run_dir, config, CONTINUABLE)
        except RunConfigMismatch as exc:
            raise HarnessError(_mismatch_message(exc)) from None
    drawn = 0
    if manifest is not None:
        old = manifest.get("config", {})
        config["iterations"] = max(opts.iters, int(old.get("iterations", 0)))
        config["evals"] = list(dict.fromkeys([*old.get("evals", []), *opts.evals]))
        drawn = _drawn_iterations(run_dir, old)
    total = config["iterations"]
    split = None
    if drawn < total:
        split = sample_iterations(source, total, per_iter, opts.seed, plan=plan)
        used: set[str] = set()
        for i in range(1, drawn + 1):
            used.update(str(r["id"]) for r in atomic.read_json(run_dir / f"iter{i}" / "images.json"))
        if split.same_every_iteration:
            fixed = {r.id for r in split.iterations[0]}
            if drawn and used != fixed:
                raise HarnessError(
                    f"{run_dir}: the fixed image set drawn now differs from the one θ1…θ{drawn} used "
                    f"({len(fixed - used)} of its {len(fixed)} images are new; did the image source change?); "
                    f"--iters cannot continue this run: start a new one with --run-id {_free_run_id(run_dir)}"
                )
        elif reused := sorted(used & {r.id for refs in split.iterations[drawn:] for r in refs}):
            raise HarnessError(
                f"{run_dir}: the images drawn for θ{drawn + 1}…θ{total} include {len(reused)} used by "
                f"θ1…θ{drawn} (e.g. {reused[0]}; did the image source change?); --iters cannot "
                f"continue this run: start a new one with --run-id {_free_run_id(run_dir)}"
            )
    if stack is not None:  # one process at a time in a run folder, from here to the run's end
        stack.enter_context(RunLock(run_dir))
    run = Run.open(run_dir, config, restart=opts.restart, continuable=CONTINUABLE)
    if split is not None:
        for i in range(drawn + 1, total + 1):
            atomic.write_json(run.iter_dir(i) / "images.json", [r.to_dict() for r in split.iterations[i - 1]])
        if split.skipped:
            console.print(
                f"[yellow]skipped {len(split.skipped)} unreadable image(s)[/], e.g. {split.skipped[0][0]}: "
                f"{split.skipped[0][1]}"
            )
        if drawn and split.same_every_iteration:
            console.print(f"run grows: θ{drawn + 1}…θ{total} get the same {per_iter} images as θ1…θ{drawn}")
        elif drawn:
            console.print(f"run grows: θ{drawn + 1}…θ{total} get {per_iter} new images each, disjoint from θ1…θ{drawn}")
        run.mark_done(
            "images",
            skipped=[list(s) for s in split.skipped],
            iterations=total,
            mode=split.mode,
            quotas=split.quotas,
            same_every_iteration=split.same_every_iteration,
        )
    return run
