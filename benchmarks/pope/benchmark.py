"""POPE (Li et al., EMNLP 2023), COCO split, scored as LLaVA-1.5 scores it.

Data: the three COCO splits (adversarial, random, popular) of RUCAIBox/POPE, by default at the
commit LLaVA-1.5 pins (``version="llava"``: 8,910 questions, random has 2,910);
``version="current"`` takes POPE's HEAD files (9,000). See benchmarks/pope/data.py.

Prompt: the question, then a named suffix (``prompt_suffix``): ``llava`` (default, LLaVA-1.5's
``llava_pope_test.jsonl``: "\\nAnswer the question using a single word or phrase."), ``none`` (the
raw question: VLMEvalKit, OPERA, SeVa), ``yes-or-no`` (lmms-eval before 2024-01-23) or ``vcd``.
Generation as LLaVA-1.5's ``model_vqa_loader.py``: greedy, ``max_new_tokens`` 128.

Scoring: the official parser and per-split metrics (benchmarks/pope/parse.py), answers aligned with
questions by ``question_id`` (the official script zips by position and silently truncates). The
headline ``F1`` is the unweighted mean of the per-split F1 ×100, the number LLaVA-1.5 reports
(85.9 for LLaVA-1.5-7B and -13B, ``docs/MODEL_ZOO.md`` at c121f0432da2); ``Accuracy``, ``Precision``,
``Recall`` and ``Yes-ratio`` are the same means; per-split values are under ``<split>/<metric>``.
Predictions: LLaVA's answer JSONL (``question_id`` and ``text`` per line), read as they are: ids in
LLaVA's scheme (the split in the id), or POPE's own per-split ids with the split given by a ``category``
(or ``split``) field per row, or by ``--set split=<name>`` for a file of one split (benchmarks/pope/data.py,
docs/data.md). ``split`` scores one split only; its result says so, and its headline is that split's F1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.data_sources import coco_val2014_images_source
from benchmarks.common.jsonl import int_field, iter_jsonl, keyed_predictions
from benchmarks.pope.data import SPLITS, VERSIONS, answer_key, read_label_file
from benchmarks.pope.parse import PARSERS, parser, split_metrics
from harness.atomic import write_jsonl
from harness.benchmark import (
    BenchItem,
    Benchmark,
    DataSource,
    LeaderboardColumn,
    ProtocolCard,
    ReportedNumbers,
    ScoreReport,
)
from harness.errors import HarnessError
from harness.judge.types import Judge
from harness.plugins import hookimpl

SUFFIXES = {
    "llava": "\nAnswer the question using a single word or phrase.",  # LLaVA-1.5 llava_pope_test.jsonl
    "none": "",  # VLMEvalKit, OPERA, SeVa
    "yes-or-no": "\nAnswer the question with 'yes' or 'no'.",  # lmms-eval before commit 5a4cd115
    "vcd": " Please answer this question with one word.",  # DAMO-NLP-SG/VCD
}
RATES = ("F1", "Accuracy", "Precision", "Recall", "Yes-ratio")
LLAVA_COMMIT = "c121f0432da2"  # main, 2024-05-12


class PopeBenchmark(Benchmark):
    """POPE (COCO): yes/no object existence, per-split Acc/P/R/F1/yes-ratio and their mean (no judge)."""

    name = "pope"
    description = "POPE (COCO random/popular/adversarial): F1 (mean over splits), Accuracy, Yes-ratio; no judge"
    needs_judge = False
    predictions_filename = "answers.jsonl"
    option_help = {
        "split": "all (default: the three splits, headline = their mean F1) or adversarial, random, popular: that "
        "split alone; an answer file of one split may then use POPE's own question ids (docs/data.md)",
    }
    columns = (
        LeaderboardColumn("POPE F1", "F1", headline=True, order=60),
        LeaderboardColumn("POPE Acc", "Accuracy", order=60),
        # the share of yes answers: the labels are half yes, so neither direction is better
        LeaderboardColumn("POPE Yes %", "Yes-ratio", order=60, unranked=True),
    )
    reported = (
        ReportedNumbers(
            source="haotian-liu/LLaVA docs/MODEL_ZOO.md @ c121f0432da2",
            model="LLaVA-1.5-7B",
            values={"pope/F1": 85.9},
            note="mean of the three per-split F1, POPE at e3e3926",
        ),
        ReportedNumbers(
            source="haotian-liu/LLaVA docs/MODEL_ZOO.md @ c121f0432da2",
            model="LLaVA-1.5-13B",
            values={"pope/F1": 85.9},
            note="mean of the three per-split F1, POPE at e3e3926",
        ),
    )

    def __init__(
        self,
        version: str = "llava",
        *,
        prompt_suffix: str = "llava",
        parser: str = "official",
        image_root: Path | None = None,
        max_new_tokens: int = 128,
        split: str = "all",
    ) -> None:
        """``version``: ``llava`` (default) or ``current`` question files. ``prompt_suffix``: one of
        llava, none, yes-or-no, vcd. ``parser``: official (default), lmms-eval or vlmevalkit.
        ``image_root``: COCO val2014 images (default ``<data_dir>/val2014``). ``split``: ``all`` (default, the
        three splits and the mean LLaVA-1.5 reports) or one split, scored alone (an answer file of that split
        may use POPE's own question ids)."""
        if version not in VERSIONS:
            raise HarnessError(f"pope: version {version!r} unknown; choose one of {', '.join(VERSIONS)}")
        if prompt_suffix not in SUFFIXES:
            raise HarnessError(f"pope: prompt_suffix {prompt_suffix!r} unknown; choose one of {', '.join(SUFFIXES)}")
        if parser not in PARSERS:
            raise HarnessError(f"pope: parser {parser!r} unknown; choose one of {', '.join(PARSERS)}")
        if split != "all" and split not in SPLITS:
            raise HarnessError(f"pope: split {split!r} unknown; choose all or one of {', '.join(SPLITS)}")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise HarnessError(f"pope: max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        self.version = version
        self.prompt_suffix = prompt_suffix
        self.parser = parser
        self.image_root = Path(image_root) if image_root is not None else None
        self.max_new_tokens = max_new_tokens
        self.split = split

    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS if self.split == "all" else (self.split,)

    # ----------------------------------------------------------------- protocol and data
    def protocol(self) -> ProtocolCard:
        v = VERSIONS[self.version]
        deviations = [
            "Answers are aligned with questions by question_id; a missing, unknown or duplicated id is an error "
            "(the official script zips answers and labels by position and silently truncates).",
            "A rate whose denominator is zero is 0 here (the official script raises ZeroDivisionError); the "
            "per-split TP/FP/TN/FN counts are in the metrics.",
            "The model's own chat template is used (LLaVA-1.5 uses conv vicuna_v1).",
        ]
        if self.version != "llava":
            deviations.append(f"version {self.version!r}: {v.note}.")
        if self.parser != "official":
            deviations.append(
                f"parser {self.parser!r} instead of POPE's evaluate.py: an unparsed answer is wrong "
                "for accuracy and absent from TP/FP/TN/FN; aggregation stays per split."
            )
        if self.prompt_suffix != "llava":
            deviations.append(f"prompt suffix {self.prompt_suffix!r} instead of LLaVA-1.5's.")
        only = ""
        if self.split != "all":
            only = f", the {self.split} split only"
            deviations.append(
                f"split {self.split!r} only: the headline F1 is this split's, not the mean over the three splits "
                "that LLaVA-1.5 reports."
            )
        return ProtocolCard(
            benchmark=self.name,
            data_version=f"RUCAIBox/POPE@{v.commit[:12]} output/coco ({self.version}: "
            f"{sum(v.questions[s] for s in self.splits)} questions{only})",
            scorer_source=(
                f"RUCAIBox/POPE@3df3ba1b110e evaluate.py = haotian-liu/LLaVA@{LLAVA_COMMIT[:12]} "
                f"llava/eval/eval_pope.py; parser {self.parser!r}; headline = mean of per-split F1 ×100"
            ),
            judge_model=None,
            prompt_version=f"suffix {self.prompt_suffix!r}: {SUFFIXES[self.prompt_suffix]!r}",
            generation=self.generation_params(),
            reference_numbers={"LLaVA-1.5-7B F1": 85.9, "LLaVA-1.5-13B F1": 85.9} if self.split == "all" else {},
            deviations=deviations,
        )

    def generation_params(self) -> dict[str, Any]:
        return {
            "max_new_tokens": self.max_new_tokens,
            "greedy": True,
            "temperature": 0.0,
            "prompt_suffix": SUFFIXES[self.prompt_suffix],
        }

    def data_sources(self) -> list[DataSource]:
        sources = []
        for version in VERSIONS.values():  # both versions: small, and `version=current` then needs no new pull
            for split in SPLITS:
                sources.append(
                    DataSource(
                        path=version.path(split),
                        url=version.url(split),
                        sha256=version.sha256[split],
                        note=f"POPE {split} questions/labels ({version.name}: {version.note}; MIT)",
                    )
                )
        sources.append(coco_val2014_images_source("POPE's 500 images"))
        return sources

    def load(self, data_dir: Path) -> list[BenchItem]:
        if data_dir is None:
            raise HarnessError("pope: a data directory is needed (`harness data pull pope`)")
        data_dir = Path(data_dir)
        v = VERSIONS[self.version]
        root = self.image_root or data_dir / "val2014"
        suffix = SUFFIXES[self.prompt_suffix]
        items = []
        for split in self.splits:
            for q in read_label_file(data_dir / v.path(split), split):
                items.append(
                    BenchItem(
                        id=q.item_id,
                        image=root / q.image,
                        prompt=q.text + suffix,
                        meta={"split": split, "label": q.label, "question_id": q.question_id},
                    )
                )
        return items

    # ----------------------------------------------------------------- predictions
    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """LLaVA's answer JSONL: ``question_id`` (int) and ``text`` (the answer) per line, one per item; the ids in
        LLaVA's scheme, or POPE's per split with the split given (``answer_key``)."""
        path = Path(path)
        known = {item.id for item in items}
        option = None if self.split == "all" else self.split

        def rows():
            for lineno, row in iter_jsonl(path, "predictions file"):
                where = f"{path}:{lineno}"
                qid = int_field(row, "question_id", where)
                given = row.get("category", row.get("split", option))
                key = answer_key(qid, given, where)
                text = row.get("text")
                if not isinstance(text, str):
                    raise HarnessError(f"{where}: question_id {qid}: missing or non-string field 'text'")
                if key not in known:
                    scope = "" if self.split == "all" else f", split {self.split!r}"
                    raise HarnessError(
                        f"{where}: question_id {qid}{f' ({given})' if given else ''} is not a POPE question of "
                        f"version {self.version!r}{scope} (ids: LLaVA's scheme adversarial 1.., random 10000001.., "
                        "popular 20000001..; or POPE's own per split, with the split in a 'category' field or "
                        "--set split=NAME; docs/data.md)"
                    )
                yield where, key, text

        try:
            return keyed_predictions(path, items, rows(), "question_id", "answer")
        except HarnessError as exc:
            if option is None and "no answer for id" in str(exc):
                raise HarnessError(
                    f"{exc} (an answer file of one split with POPE's own question ids needs its split: "
                    "--set split=NAME, or a 'category' field per row)"
                ) from None
            raise

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        rows = []
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"{path}: no answer for question_id {item.id}")
            rows.append(
                {"question_id": int(item.id), "prompt": item.prompt, "text": predictions[item.id], "metadata": {}}
            )
        write_jsonl(path, rows)

    # ----------------------------------------------------------------- scoring
    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None = None, *, runs: int = 1
    ) -> ScoreReport:
        """Rule-based and deterministic (``judge``/``runs`` unused); every item needs an answer."""
        if not items:
            raise HarnessError("pope: nothing to score (no items)")
        known = {item.id for item in items}
        unknown = [key for key in predictions if key not in known]
        if unknown:
            raise HarnessError(f"pope predictions: question_id {unknown[0]} is not among the items being scored")
        missing = [item.id for item in items if item.id not in predictions]
        if missing:
            raise HarnessError(f"pope predictions: no answer for question_id {', '.join(missing[:5])}")
        parse = parser(self.parser)
        per_split: dict[str, tuple[list[str | None], list[str]]] = {}
        records: list[dict[str, Any]] = []
        for item in items:
            split, label = item.meta["split"], item.meta["label"]
            answer = predictions[item.id]
            pred = parse(answer)
            preds, labels = per_split.setdefault(split, ([], []))
            preds.append(pred)
            labels.append(label)
            records.append(
                {
                    "id": item.id,
                    "split": split,
                    "label": label,
                    "response": answer,
                    "prediction": pred,
                    "correct": pred == label,
                }
            )
        metrics: dict[str, float] = {}
        official: dict[str, float] = {}
        split_values = {split: split_metrics(*per_split[split]) for split in SPLITS if split in per_split}
        for rate in RATES:
            metrics[rate] = 100 * sum(v[rate] for v in split_values.values()) / len(split_values)
        for split, values in split_values.items():
            for key, value in values.items():
                metrics[f"{split}/{key}"] = value * 100 if key in RATES else value
                if key in RATES:
                    official[f"{split}/{key}"] = value  # eval_pope.py's full-precision fractions
        unparsed = int(sum(v["unparsed"] for v in split_values.values()))
        return ScoreReport(
            metrics=metrics,
            per_run=[dict(metrics)],
            records=records,
            official=official,
            unparsed={"unmatched_answer": unparsed, "total": unparsed} if unparsed else {},
        )


@hookimpl
def harness_benchmarks() -> list[type]:
    """Register POPE as a harness benchmark plugin."""
    return [PopeBenchmark]
