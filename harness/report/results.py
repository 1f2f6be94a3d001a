"""The versioned results schema: one results.json per (model, benchmark, protocol, item subset).

Layout of a results file (schema version 1; the fields marked * were added later and are optional
when reading, so every file written by an earlier version still reads)::

    {
      "schema": "harness.results/1",
      "benchmark": "<bench>",
      "model": {"id": "runs/<run>/theta1", "path": "…", "run_id": "<run>", "iteration": 1,
                "method": "<method>", "variant": "<method>", "base": "tiny"},
      "created": "2026-11-23T12:00:00Z",
      "protocol": {...ProtocolCard...},
      "metrics": {"CHAIR": 7.8, ...},          # headline (mean over judge runs)
      "std": {"CHAIR": 0.0, ...},              # population std over judge runs
      "per_run": [{...}, ...],
      "official": {...},                       # the official failure handling, where it differs
      "failures": {"total": 0, "run0": 0, ...},
      "judge_usage": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0},
      "records": [...per-item records...],
      "predictions_file": "predictions.jsonl",
      "predictions_sha256": "…",              # * the predictions scored (content hash)
      "identity": {"model": {...}, "benchmark": "<bench>", "protocol": {...},   # * what produced it
                   "items": {"limit": null, "count": 1004, "sha256": "…"}, "hash": "3f2a…"},
      "subset": null,                          # * or {"limit": 2, "items": 2, "total": 1004} (--limit)
      "complete": true,                        # * false: some judgements never came back (see missing)
      "unparsed": {"no_score": 1, "total": 1}, # * answered but unparseable, scored as the official script
      "missing": [],                           # * {"item", "run", "reason"}: never answered, never scored
      "excluded": {...},                       # * mean over parsed answers only (secondary, not the headline)
      "intervals": {"CHAIR": [30.1, 36.4]},    # * 95 % bootstrap intervals over items (rule-based metrics)
      "data_sha256": "…",                      # * digest of the items scored (harness/evaluate/data_digest.py)
      "rejudge": null                          # * or {"of": "results.json", "of_hash": "…", "of_judge": "…"}:
    }                                          #   the stored predictions of another result, judged again

A result made by ``harness rejudge`` (harness/evaluate/rejudge.py) is stored beside the one it re-judges,
as ``results.judge-<judge>.json``; it never replaces it.

A result is identified by what produced it (``identity``): the model (a run and iteration, a
checkpoint's content hash, or a predictions file's content hash), the benchmark, the protocol
(judge model, prompt version, judge runs, data version, benchmark options) and the items scored.
``harness eval`` never lets a result replace one with another identity, and never stores an
incomplete result as ``results.json``: that goes to ``results.partial.json`` beside it. A
``--limit`` (smoke) result is stored apart, as ``results.limit<N>.json``, with ``subset`` set.

A file whose schema is a newer version of ``harness.results`` is refused with its name: this
harness cannot know what the newer fields mean.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import HarnessError

SCHEMA = "harness.results/1"
SCHEMA_NAME, SCHEMA_VERSION = "harness.results", 1
_SCHEMA_RE = re.compile(r"^harness\.results/(\d+)$")


def identity_hash(fields: dict[str, Any]) -> str:
    """A short, stable hash of identity fields (sorted-key JSON, SHA-256, 16 hex digits)."""
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def make_identity(
    model: dict[str, Any], benchmark: str, protocol: dict[str, Any], items: dict[str, Any]
) -> dict[str, Any]:
    """The identity of a result: what produced it, plus its short hash (``hash``)."""
    fields = {"model": model, "benchmark": benchmark, "protocol": protocol, "items": items}
    return {**fields, "hash": identity_hash(fields)}


def identity_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The dotted names of the identity fields where ``old`` and ``new`` differ (``hash`` left out)."""
    out: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if key != "hash" or prefix:
                    walk(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else key)
        elif a != b:
            out.append(prefix or "identity")

    walk(old, new, "")
    return out


@dataclass
class ModelRef:
    """Which model a result belongs to."""

    id: str  # a display id: "tiny", "theta0", or "<run_id>/theta<i>"
    path: str | None = None
    run_id: str | None = None
    iteration: int | None = None
    method: str | None = None
    variant: str | None = None  # e.g. "<method>", "<method>+<key>=<value>"
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
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    identity: dict[str, Any] = field(default_factory=dict)  # empty: written before identities existed
    subset: dict[str, int] | None = None  # {"limit", "items", "total"} of a --limit result
    unparsed: dict[str, int] = field(default_factory=dict)
    missing: list[dict[str, Any]] = field(default_factory=list)
    excluded: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, list[float]] = field(default_factory=dict)
    predictions_sha256: str | None = None
    data_sha256: str | None = None
    rejudge: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        """True when every judgement came back; an incomplete result is never stored as results.json."""
        return not self.missing

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
            "predictions_sha256": self.predictions_sha256,
            "identity": self.identity,
            "subset": self.subset,
            "complete": self.complete,
            "unparsed": self.unparsed,
            "missing": self.missing,
            "excluded": self.excluded,
            "intervals": self.intervals,
            "data_sha256": self.data_sha256,
            "rejudge": self.rejudge,
        }

    def write(self, path: Path) -> Path:
        return atomic.write_json(path, self.to_dict())


def check_schema(path: Path, data: Any) -> None:
    """Raise HarnessError naming ``path`` unless ``data`` is a results object this harness reads."""
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: not a results file (a JSON {type(data).__name__}, not an object)")
    found = data.get("schema")
    m = _SCHEMA_RE.match(found) if isinstance(found, str) else None
    if m is None:
        raise HarnessError(f"{path}: not a results file (schema {found!r}; expected {SCHEMA!r})")
    version = int(m.group(1))
    if version > SCHEMA_VERSION:
        raise HarnessError(
            f"{path}: results schema {found!r} is newer than this harness reads ({SCHEMA!r}); "
            "upgrade the harness to read it"
        )
    if version < 1:
        raise HarnessError(f"{path}: results schema {found!r} is not {SCHEMA!r}")


def load_results(path: Path) -> Results:
    """Read a results file; a newer schema version, another file kind or a corrupt file raises HarnessError
    naming it."""
    data = atomic.read_json(path)
    check_schema(Path(path), data)
    for key, types in (
        ("subset", (dict, type(None))),
        ("missing", (list, type(None))),
        ("identity", (dict, type(None))),
        ("unparsed", (dict, type(None))),
    ):
        if not isinstance(data.get(key), types):
            raise HarnessError(f"{path}: corrupt results file ({key!r} is a {type(data.get(key)).__name__})")
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
            identity=data.get("identity") or {},
            subset=data.get("subset"),
            unparsed=data.get("unparsed") or {},
            missing=data.get("missing") or [],
            excluded=data.get("excluded") or {},
            intervals=data.get("intervals") or {},
            predictions_sha256=data.get("predictions_sha256"),
            data_sha256=data.get("data_sha256"),
            rejudge=data.get("rejudge") if isinstance(data.get("rejudge"), dict) else None,
        )
    except (KeyError, TypeError) as exc:
        raise HarnessError(f"{path}: corrupt results file ({exc!r})") from None
