"""The versioned results schema: one results.json per (model, benchmark).

Layout of a results file (schema version 1)::

    {
      "schema": "harness.results/1",
      "benchmark": "amber",
      "model": {"id": "runs/sena-…/theta1", "path": "…", "run_id": "sena-…", "iteration": 1,
                "method": "sena", "variant": "sena", "base": "tiny"},
      "created": "2026-11-23T12:00:00Z",
      "protocol": {...ProtocolCard...},
      "metrics": {"CHAIR": 7.8, ...},          # headline (mean over judge runs)
      "std": {"CHAIR": 0.0, ...},              # population std over judge runs
      "per_run": [{...}, ...],
      "official": {...},                       # the official failure handling, where it differs
      "failures": {"total": 0, "run0": 0, ...},
      "judge_usage": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0},
      "records": [...per-item records...],
      "predictions_file": "predictions.jsonl"
    }
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError

SCHEMA = "harness.results/1"


@dataclass
class ModelRef:
    """Which model a result belongs to."""

    id: str  # a display id: "tiny", "theta0", or "<run_id>/theta<i>"
    path: str | None = None
    run_id: str | None = None
    iteration: int | None = None
    method: str | None = None
    variant: str | None = None  # e.g. "sena", "sena-se=false"
    base: str | None = None  # the θ0 checkpoint the run started from

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Results:
    benchmark: str
    model: ModelRef
    protocol: dict[str, Any]
    metrics: dict[str, float]
    std: dict[str, float] = field(default_factory=dict)
    per_run: list[dict[str, float]] = field(default_factory=list)
    official: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    judge_usage: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    predictions_file: str | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "benchmark": self.benchmark,
            "model": self.model.to_dict(),
            "created": self.created,
            "protocol": self.protocol,
            "metrics": self.metrics,
            "std": self.std,
            "per_run": self.per_run,
            "official": self.official,
            "failures": self.failures,
            "judge_usage": self.judge_usage,
            "records": self.records,
            "predictions_file": self.predictions_file,
        }

    def write(self, path: Path) -> Path:
        return atomic.write_json(path, self.to_dict())


def load_results(path: Path) -> Results:
    """Read a results file; another schema version or a corrupt file raises HarnessError naming it."""
    data = atomic.read_json(path)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise HarnessError(f"{path}: results schema {found!r} is not {SCHEMA!r}")
    try:
        return Results(
            benchmark=data["benchmark"],
            model=ModelRef(**data["model"]),
            protocol=data["protocol"],
            metrics=data["metrics"],
            std=data.get("std", {}),
            per_run=data.get("per_run", []),
            official=data.get("official", {}),
            failures=data.get("failures", {}),
            judge_usage=data.get("judge_usage", {}),
            records=data.get("records", []),
            predictions_file=data.get("predictions_file"),
            created=data.get("created", ""),
        )
    except (KeyError, TypeError) as exc:
        raise HarnessError(f"{path}: corrupt results file ({exc!r})") from None
