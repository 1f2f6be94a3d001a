"""Experiment tracking of an evolve run (``--track``): after each stage, its numbers go to the run's
tracker with the iteration as the step, read from the files the stage wrote (``iter<i>/stats.json``,
``audit.json``, ``train.json``, ``eval/<bench>/results.json``), with the audit table and a sample of pairs
and their images; training curves come from TRL's ``report_to`` (harness/track/training.py).

Everything lands in ``RUN/track/``. ``track/logged.json`` lists what each tracker already holds, so a
resumed run appends only what is new, and a run that turns tracking on later gets its earlier iterations
too. The choice is recorded in the run's config (``track``, absent for ``none``): a resume without
``--track`` keeps it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from harness import atomic
from harness.errors import HarnessError
from harness.images import ImageRef
from harness.runs import Run, read_manifest
from harness.track import PairSample, TrainTracking, check_backend, open_tracker
from harness.track.base import wandb_id, wandb_mode, wandb_project

PAIR_SAMPLE = 8  # pairs shown per iteration, evenly spaced over the iteration's pairs
LEDGER = "logged.json"


def resolve_track(requested: str | None, run_dir: Path, restart: bool) -> str:
    """``--track`` as given, else the choice recorded in the run being resumed, else ``none``."""
    if requested is not None:
        return requested
    manifest = None if restart else read_manifest(run_dir)
    recorded = ((manifest or {}).get("config") or {}).get("track") or "none"
    try:
        check_backend(recorded)
    except HarnessError as exc:
        raise HarnessError(f"{run_dir}: this run records --track {recorded}: {exc}; or pass --track none") from None
    return recorded


def train_tracking(run: Run, marker: str) -> dict[str, Any] | None:
    """Where the training stage ``marker`` (``train-<i>``, or ``train-<i>-<stage>``) reports its curves: TRL's
    ``report_to`` of the run's tracker (harness/track/training.py); None without tracking."""
    backend = (run.manifest.get("config") or {}).get("track") or "none"
    track_dir = run.dir / "track"
    if backend == "tensorboard":
        return TrainTracking("tensorboard", str(track_dir / "tensorboard" / marker)).to_dict()
    if backend == "wandb":
        return TrainTracking(
            "wandb",
            str(track_dir),
            name=f"{run.id}-{marker}",
            run_id=f"{wandb_id(run.id, run.dir)}-{marker}",
            group=run.id,
            project=wandb_project(),
            mode=wandb_mode(),
        ).to_dict()
    return None


def spread(n: int, k: int) -> list[int]:
    """``k`` indices evenly spaced over ``range(n)`` (all of them when ``n <= k``)."""
    if n <= k:
        return list(range(n))
    return sorted({round(j * (n - 1) / (k - 1)) for j in range(k)}) if k > 1 else [0]


class RunTracking:
    """The run's tracker, opened on first use; each item logged once per tracker (``track/logged.json``)."""

    def __init__(self, run: Run, source, console: Console | None = None) -> None:
        self.run, self.source = run, source
        self.backend = (run.manifest.get("config") or {}).get("track") or "none"
        self.dir = run.dir / "track"
        self._tracker = None
        if self.enabled and console is not None:
            mode = f" ({wandb_mode()})" if self.backend == "wandb" else ""
            console.print(f"[bold]tracking[/] {self.backend}{mode} → {self.dir / self.backend}", highlight=False)

    @property
    def enabled(self) -> bool:
        return self.backend != "none"

    def _ledger(self) -> dict[str, list[str]]:
        path = self.dir / LEDGER
        return atomic.read_json(path) if path.is_file() else {}

    def _once(self, key: str, log, source: Path) -> None:
        """Log once per tracker, when the stage's file ``source`` exists (a stage can be absent: no θ0 eval)."""
        if not self.enabled or not source.is_file():
            return
        ledger = self._ledger()
        if key in ledger.get(self.backend, []):
            return
        if self._tracker is None:
            self._tracker = open_tracker(
                self.backend, self.dir, name=self.run.id, run_dir=self.run.dir, config=self.run.manifest.get("config")
            )
        log(self._tracker)
        self._tracker.flush()
        ledger.setdefault(self.backend, []).append(key)
        atomic.write_json(self.dir / LEDGER, ledger)

    # -- after each stage ------------------------------------------------------------------------------
    def after(self, i: int, *stages: str, evals: list[str] | tuple[str, ...] = ()) -> None:
        """Log what the named stages of iteration ``i`` wrote (synthesize, audit, train, evaluate)."""
        if not self.enabled:
            return
        for stage in stages:
            if stage == "evaluate":
                self.evaluated(i, list(evals))
            else:
                {"synthesize": self.synthesized, "audit": self.audited, "train": self.trained}[stage](i)

    def pause(self) -> None:
        """Before training: the evolve run's tracker steps aside (wandb keeps one active run per process)."""
        if self._tracker is not None:
            self._tracker.pause()

    def synthesized(self, i: int) -> None:
        path = self.run.iter_dir(i) / "stats.json"

        def log(t) -> None:
            stats = atomic.read_json(path)
            values = {f"synthesis/{k}": stats[k] for k in ("images", "pairs") if _number(stats.get(k))}
            values.update({f"synthesis/count/{k}": v for k, v in (stats.get("counts") or {}).items() if _number(v)})
            t.scalars(values, i)

        self._once(f"{i}/synthesize", log, path)

    def audited(self, i: int) -> None:
        path = self.run.iter_dir(i) / "audit.json"

        def log(t) -> None:
            report = atomic.read_json(path)
            s = report.get("summary", {})
            keys = ("pairs", "audited", "precision", "inverted", "tied")
            keys += ("hallucinated_per_chosen", "hallucinated_per_rejected")
            t.scalars({f"audit/{k}": s[k] for k in keys if _number(s.get(k))}, i)
            t.table("audit/table", AUDIT_COLUMNS, self._audit_rows(i), i)
            t.pairs("pairs/sample", self._pair_sample(i, report.get("marks", [])), i)

        self._once(f"{i}/audit", log, path)

    def trained(self, i: int) -> None:
        path = self.run.iter_dir(i) / "train.json"

        def log(t) -> None:
            info = atomic.read_json(path)
            last = info.get("final_log") or {}
            values = {"dpo/steps": info.get("steps"), "dpo/train_loss": info.get("train_loss")}
            values["dpo/reward_accuracy"] = last.get("rewards/accuracies")
            values["dpo/reward_margin"] = last.get("rewards/margins")
            t.scalars({k: v for k, v in values.items() if _number(v)}, i)

        self._once(f"{i}/train", log, path)

    def evaluated(self, i: int, benches: list[str]) -> None:
        for bench in benches:
            path = self.run.iter_dir(i) / "eval" / bench / "results.json"

            def log(t, path=path, bench=bench) -> None:
                metrics = atomic.read_json(path).get("metrics") or {}
                t.scalars({f"eval/{bench}/{k}": v for k, v in metrics.items() if _number(v)}, i)

            self._once(f"{i}/eval/{bench}", log, path)

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None

    # -- the audit table and the pair sample -------------------------------------------------------------
    def _audit_rows(self, upto: int) -> list[list[Any]]:
        """θ1…θ``upto``: the table ``harness audit`` prints, one row per audited iteration."""
        rows = []
        for i in range(1, upto + 1):
            path = self.run.iter_dir(i) / "audit.json"
            if not path.is_file():
                continue
            s = atomic.read_json(path).get("summary", {})
            if not s.get("audited"):
                rows.append([f"θ{i}", s.get("pairs", 0), "0 (no known truth)", "–", "–", "–", "–", "–"])
                continue
            ci = s.get("precision_interval") or ["–", "–"]
            rows.append(
                [
                    f"θ{i}",
                    s["pairs"],
                    s["audited"],
                    f"{s['precision']} [{ci[0]}, {ci[1]}]",
                    s["inverted"],
                    s["tied"],
                    s["hallucinated_per_chosen"],
                    s["hallucinated_per_rejected"],
                ]
            )
        return rows

    def _pair_sample(self, i: int, marks: list[dict[str, Any]]) -> list[PairSample]:
        pairs = atomic.read_jsonl(self.run.iter_dir(i) / "pairs.jsonl")
        verdicts = {m.get("pair"): m.get("verdict", "") for m in marks if m.get("audited")}
        samples = []
        for n in spread(len(pairs), PAIR_SAMPLE):
            p = pairs[n]
            try:
                image = self.source.open(ImageRef(p["image"], p.get("image_path")))
            except Exception:  # a tracker shows the pair without its image rather than stop the run
                image = None
            samples.append(
                PairSample(image, p["prompt"], p["chosen"], p["rejected"], p.get("kind", ""), verdicts.get(n, ""))
            )
        return samples


AUDIT_COLUMNS = (
    "θ",
    "pairs",
    "audited",
    "chosen better % [95% CI]",
    "inverted %",
    "tied %",
    "halluc. chosen",
    "halluc. rejected",
)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
