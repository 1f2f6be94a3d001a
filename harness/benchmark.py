"""The benchmark contract. Benchmarks live in benchmarks/ and register through pluggy.

A benchmark reads its official release files (``load``), says what to generate for each item
(``generation_request``), reads predictions in its official format (``read_predictions``), and
scores predictions exactly as its official scorer does (``score``). Judge runs, failures and
per-item records are part of the score, never hidden.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness.judge.types import Judge


@dataclass(frozen=True)
class LeaderboardColumn:
    """One leaderboard column a benchmark declares for one of its metrics.

    ``label``: the column header; ``metric``: the key in ``ScoreReport.metrics``;
    ``lower_is_better``: direction (the header gets "↓"); ``decimals``: display precision;
    ``headline``: plotted against iteration; ``order``: where the benchmark's columns go among
    other benchmarks' (ascending; ties by benchmark name); ``unranked``: neither higher nor lower is
    better (e.g. a yes-ratio, best near the labels' own share): never marked best, and the header says so.
    """

    label: str
    metric: str
    lower_is_better: bool = False
    decimals: int = 1
    headline: bool = False
    order: int = 100
    unranked: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.unranked:  # stored only where set: the cards of ranked columns stay as they were
            del out["unranked"]
        return out


@dataclass(frozen=True)
class ReportedNumbers:
    """Numbers a paper or README publishes for one model, kept as data with their public source.

    ``values`` maps ``"<benchmark>/<metric>"`` (the metric keys of that benchmark's results) to
    the number as printed. Declared by the method or benchmark plugin they belong to; shown in
    the leaderboard's reported table, never mixed with measured rows.
    """

    source: str  # paper and table, or repository, file and commit
    model: str
    values: dict[str, float]
    note: str = ""
    table: str = ""  # a short id of the published table, e.g. "<paper>-table4"
    variant: str = ""  # the method variant that reproduces how the row was produced ("": the default)
    # the judge model the source used, per judged benchmark name ({"<benchmark>": "gpt-4-1106-preview"}); a judged
    # benchmark in ``values`` that is not here is shown as "not stated" (the source does not say)
    judges: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProtocolCard:
    """How a benchmark is run and scored; printed in results.json and the leaderboard."""

    benchmark: str
    data_version: str
    scorer_source: str  # the official scorer reproduced, with its snapshot
    judge_model: str | None = None  # None: rule-based, no judge
    judge_temperature: float | None = None
    judge_max_tokens: int | None = None
    judge_runs: int = 1
    prompt_version: str | None = None  # e.g. a SHA-256 of the judge template
    generation: dict[str, Any] = field(default_factory=dict)  # suffix, max_new_tokens, greedy …
    reference_numbers: dict[str, float] = field(default_factory=dict)  # e.g. the base model's published numbers
    deviations: list[str] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)  # LeaderboardColumn dicts, filled by card()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DataSource:
    """One file of a benchmark's official release, as ``harness data pull`` fetches it.

    ``path`` is where it goes under the benchmark's data directory. ``sha256``/``md5`` are the
    published checksums where known. ``unpack``: a zip/tar to extract in place after download.
    ``manual``: cannot be fetched automatically; ``note`` says exactly what to download and where.
    """

    path: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    unpack: bool = False
    manual: bool = False
    note: str = ""


@dataclass
class BenchItem:
    """One question of a benchmark. ``image`` is a path on disk (opened lazily)."""

    id: str
    image: Path | None
    prompt: str  # the text the official inference script feeds the model (suffix included)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoreReport:
    """What ``Benchmark.score`` returns.

    ``metrics``: headline numbers (for judged benchmarks, the mean over runs).
    ``per_run``: one metrics dict per judge run (a single entry for rule-based benchmarks).
    ``std``: population std over runs for each metric (empty for rule-based ones).
    ``records``: per-item records (prediction, parsed judgement per run, failure reasons).
    ``failures``: per run, the judgements never answered plus those answered but unparseable
    ("run0": 2, …) and in total (a benchmark may add a documented extra key, e.g. "no_judge").
    ``unparsed``: judgements the judge *answered* but whose answer does not parse, counted by kind
    (``{"no_score": 3, "total": 3}``); they are scored exactly as the official script scores them, so
    the headline equals the official number.
    ``missing``: judgements the judge *never answered* (network error, refusal, budget exhausted, after
    the retries), one ``{"item": id, "run": r, "reason": text}`` each. They are never turned into a
    score: a report with any is incomplete (``complete`` is False) and is not a result.
    ``excluded``: a secondary figure, the mean over parsed answers only; never the headline.
    """

    metrics: dict[str, float]
    per_run: list[dict[str, float]] = field(default_factory=list)
    std: dict[str, float] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    official: dict[str, float] = field(default_factory=dict)  # the official script's printed numbers (rounded)
    unparsed: dict[str, int] = field(default_factory=dict)
    missing: list[dict[str, Any]] = field(default_factory=list)
    excluded: dict[str, float] = field(default_factory=dict)
    # 95 % bootstrap intervals over items of rule-based metrics, {metric: [low, high]} (harness/report/bootstrap.py)
    intervals: dict[str, list[float]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every judgement came back (answered, parsed or not)."""
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Benchmark(ABC):
    """Base class of every benchmark plugin.

    Optional: a judged benchmark may define ``metrics_from_records(records) -> dict[str, float]``, its ``score``
    metrics recomputed from any subset (or resample) of its per-item records; ``harness compare --judge A
    --judge B`` then gives the headline's change between two judges a paired bootstrap interval.
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line, shown by `harness benchmarks`
    needs_judge: ClassVar[bool] = False
    columns: ClassVar[tuple[LeaderboardColumn, ...]] = ()  # what the leaderboard shows of this benchmark
    default_eval: ClassVar[bool] = False  # scored after every iteration when `evolve --eval` is not given
    reported: ClassVar[tuple[ReportedNumbers, ...]] = ()  # published numbers on this benchmark
    predictions_filename: ClassVar[str] = "predictions.jsonl"  # name of the official-format predictions file

    def data_sources(self) -> list[DataSource]:
        """The official files ``harness data pull`` downloads (and ``data check`` looks for)."""
        return []

    @abstractmethod
    def protocol(self) -> ProtocolCard:
        """The protocol card (judge model and decoding, prompt/data versions, deviations)."""

    def card(self) -> ProtocolCard:
        """The protocol card as stored in results.json: ``protocol()`` plus the leaderboard columns."""
        card = self.protocol()
        card.columns = [c.to_dict() for c in self.columns]
        return card

    @abstractmethod
    def load(self, data_dir: Path) -> list[BenchItem]:
        """Read the official release files under ``data_dir``; errors name the file and line."""

    def generation_params(self) -> dict[str, Any]:
        """Decoding used by the official inference script (greedy and max new tokens)."""
        return {"max_new_tokens": 1024}

    @abstractmethod
    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """Read predictions in the official format; unknown, missing or duplicated ids are errors."""

    @abstractmethod
    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        """Write predictions in the official format (so the official scorer can read them too)."""

    @abstractmethod
    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None, *, runs: int = 1
    ) -> ScoreReport:
        """Score exactly as the official scorer does."""
