"""MMBench (dev, EN): the benchmark plugin.

Data: VLMEvalKit's ``MMBench_DEV_EN.tsv`` as released (md5 b6caf1133a01c6bb705cf753bb527ed8, URL in
VLMEvalKit's ``vlmeval/dataset/image_mcq.py``): one row per question *and per rotated copy* (index
``k * 1e6 + i``), images base64-encoded in the ``image`` column, or, in a copy row, the index of
the row that holds the image. The legacy file (a full image in every row) reads the same way.

Generation: LLaVA-1.5's ``llava/eval/model_vqa_mmbench.py --single-pred-prompt`` (one pass per
row, greedy, ``max_new_tokens`` 1024): ``[hint\\n]question\\nA. …\\nB. …`` plus the suffix
"\\nAnswer with the option's letter from the given choices directly.".

Predictions: VLMEvalKit's prediction file in its TSV variant (the dataset's columns without
``image``, plus ``prediction``; xlsx is not supported), or LLaVA's answers JSONL
(``question_id``, ``text``) as ``model_vqa_mmbench.py`` writes it.

Scoring: CircularEval with VLMEvalKit's 2024 rules and judge fallback
(benchmarks/mmbench/circular.py, benchmarks/mmbench/extract.py). The headline is the official
number: a row whose 3 extractor answers are unreadable gets the official random letter (seeded
here), and those answers are counted in ``ScoreReport.unparsed``. A group whose extractor call was
never answered is in ``ScoreReport.missing`` and left out of that run; ``ScoreReport.excluded``
leaves out the groups decided by a random letter as well.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from benchmarks.common.judged_runs import PROTOCOL_JUDGE, judge_deviations, missing_entry, unparsed_counts
from benchmarks.mmbench.circular import (
    DEFAULT_RANDOM_SEED,
    JUDGE_ATTEMPTS,
    JUDGE_MAX_TOKENS,
    JUDGE_TEMPERATURE,
    Row,
    accuracy,
    group_rows,
    main_index,
    mean_and_std,
    run_circular,
)
from benchmarks.mmbench.extract import template_sha256
from harness.atomic import read_jsonl, write_bytes, write_jsonl, write_text
from harness.benchmark import BenchItem, Benchmark, DataSource, LeaderboardColumn, ProtocolCard, ScoreReport
from harness.errors import HarnessError
from harness.judge.types import Judge
from harness.plugins import hookimpl

TSV_NAME = "MMBench_DEV_EN.tsv"
TSV_URL = "https://opencompass.openxlab.space/utils/benchmarks/MMBench/MMBench_DEV_EN.tsv"
TSV_MD5 = "b6caf1133a01c6bb705cf753bb527ed8"
LETTERS = ("A", "B", "C", "D")
# LLaVA-1.5 model_vqa_mmbench.py, --single-pred-prompt, English (haotian-liu/LLaVA c121f0432da2).
ANSWER_SUFFIX = "Answer with the option's letter from the given choices directly."
REQUIRED_COLUMNS = ("index", "question", "A", "B", "answer", "category", "l2-category", "image")
# Columns of the prediction TSV (VLMEvalKit keeps the dataset's columns, drops ``image``).
PREDICTION_COLUMNS = ("index", "question", "hint", *LETTERS, "answer", "category", "l2-category", "split")
_IMAGE_REF_MAX = 64  # VLMEvalKit: an image field this short names the row holding the image
OFFICIAL_JUDGE = "gpt-3.5-turbo-0125"  # VLMEvalKit run.py's extractor default as of Nov 2024 ("chatgpt-0125")
# --judge-model substitutes the toolkits document for this extractor: gpt-4o-mini (VLMEvalKit's default
# now) and gpt-4o-2024-11-20 (lmms-eval's mmbench tasks).
JUDGE_SUBSTITUTES = ("gpt-3.5-turbo-0125", "gpt-4o-mini", "gpt-4o-2024-11-20")
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "BMP": "bmp", "WEBP": "webp", "TIFF": "tif"}

if TYPE_CHECKING:  # pandas is imported where MMBench files are read or written
    import pandas as pd


def _missing(value: Any) -> bool:
    """pandas' NaN (an empty cell or one of its default NA strings)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _llava_is_none(value: Any) -> bool:
    """LLaVA's ``is_none``: NaN, or the strings "nan"/"none" in any case."""
    return _missing(value) or (isinstance(value, str) and value.lower() in ("nan", "none"))


def _parse_index(raw: Any, where: str) -> int:
    text = "" if _missing(raw) else str(raw).strip()
    if not text.lstrip("-").isdigit():
        raise HarnessError(f"{where}: index {raw!r} is not an integer")
    return int(text)


def llava_prompt(question: str, hint: Any, options: dict[str, Any]) -> str:
    """The text LLaVA-1.5's ``model_vqa_mmbench.py --single-pred-prompt`` feeds the model.

    Options are taken A, B, C, D in order, stopping at the first missing one (LLaVA's
    ``get_options``); the image token and conversation template are the backend's business.
    """
    text = question if _llava_is_none(hint) else f"{hint}\n{question}"
    for letter in LETTERS:
        value = options.get(letter)
        if _llava_is_none(value):
            break
        text += f"\n{letter}. {value}"
    return f"{text}\n{ANSWER_SUFFIX}"


def _read_tsv(path: Path) -> pd.DataFrame:
    import pandas as pd  # imported when MMBench is read, not whenever the plugins load

    if not path.is_file():
        raise HarnessError(f"{path}: file not found")
    try:
        # dtype=str keeps the text as released; pandas' default NA strings become NaN, as in
        # VLMEvalKit's and LLaVA's own pandas reads.
        return pd.read_csv(path, sep="\t", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: malformed TSV ({exc})") from None


def _decode_image(path: Path, index: int, b64: str, images_dir: Path, cached: dict[str, Path]) -> Path:
    """Write the row's base64 image to images_dir/<index>.<format> once (atomically); its path."""
    if str(index) in cached:
        return cached[str(index)]
    try:
        raw = base64.b64decode(b64)
        with Image.open(io.BytesIO(raw)) as img:
            fmt = img.format or ""
    except (binascii.Error, ValueError, UnidentifiedImageError) as exc:
        raise HarnessError(f"{path}: index {index}: image column is not a base64 image ({exc})") from None
    target = images_dir / f"{index}.{_EXTENSIONS.get(fmt, fmt.lower() or 'img')}"
    write_bytes(target, raw)  # the bytes as released: no re-encoding
    cached[str(index)] = target
    return target


class MMBenchBenchmark(Benchmark):
    """MMBench dev (English), CircularEval, VLMEvalKit 2024 extraction with a judge fallback."""

    name = "mmbench"
    predictions_filename = "predictions.tsv"  # the official prediction format's file type
    description = "MMBench dev EN: CircularEval accuracy, rule-based extraction with a judge fallback"
    needs_judge = True  # only as a fallback extractor; score() also runs without one
    columns = (LeaderboardColumn("MMBench", "overall", False, 1, True, 50),)
    judge_substitutes = JUDGE_SUBSTITUTES

    def __init__(self, judge_model: str = PROTOCOL_JUDGE, random_fallback_seed: int = DEFAULT_RANDOM_SEED):
        """``random_fallback_seed``: seed of the official random letter drawn after 3 unreadable answers."""
        if not isinstance(random_fallback_seed, int) or isinstance(random_fallback_seed, bool):
            raise HarnessError(f"mmbench option random_fallback_seed: an integer, got {random_fallback_seed!r}")
        self.judge_model = judge_model
        self.random_fallback_seed = random_fallback_seed

    # ----------------------------------------------------------------- protocol and data
    def data_sources(self) -> list[DataSource]:
        return [
            DataSource(
                path=TSV_NAME,
                url=TSV_URL,
                md5=TSV_MD5,
                note="VLMEvalKit MMBench_DEV_EN (1,164 questions with their circular copies)",
            )
        ]

    def protocol(self) -> ProtocolCard:
        return ProtocolCard(
            benchmark=self.name,
            data_version=f"{TSV_NAME} (VLMEvalKit MMBench_DEV_EN), md5 {TSV_MD5}",
            scorer_source=(
                "open-compass/VLMEvalKit f628ed15d66e (2024-11): vlmeval/dataset/utils/multiple_choice.py "
                "mcq_circular_eval/eval_circular_group/extract_answer_from_item, "
                "vlmeval/utils/matching_util.py can_infer (2024 rules); extractor max_tokens "
                f"{JUDGE_MAX_TOKENS}: vlmeval/api/gpt.py OpenAIWrapper's default there (run.py passes none; "
                "2048 only from 43af13e0, 2025-02-20)"
            ),
            judge_model=self.judge_model,
            judge_temperature=JUDGE_TEMPERATURE,
            judge_max_tokens=JUDGE_MAX_TOKENS,
            prompt_version=f"vlmeval build_prompt sha256:{template_sha256()}",
            generation={
                "source": "haotian-liu/LLaVA llava/eval/model_vqa_mmbench.py --single-pred-prompt "
                "(scripts/v1_5/eval/mmbench.sh)",
                "layout": "[hint\\n]question\\nA. <A>\\nB. <B>[\\nC. <C>][\\nD. <D>]\\n<suffix>",
                "suffix": ANSWER_SUFFIX,
                "conv_mode": "vicuna_v1",
                "temperature": 0.0,
                "num_beams": 1,
                "max_new_tokens": 1024,
                "rows": "every row, rotated copies included, one pass each",
            },
            reference_numbers={},
            deviations=[
                *judge_deviations(self.judge_model, self.name, OFFICIAL_JUDGE, JUDGE_SUBSTITUTES),
                "the 2023 opencompass extractor used gpt-3.5-turbo-0613; VLMEvalKit's default is gpt-4o-mini now",
                f"A row whose {JUDGE_ATTEMPTS} extractor answers are all unreadable gets the official random letter "
                f"among the options and Z, drawn with a seeded RNG per (random_fallback_seed="
                f"{self.random_fallback_seed}, run, index); VLMEvalKit draws it unseeded.",
                "A group whose extractor call was never answered (after the client's retries, a refusal, or an "
                "exhausted budget) is listed as missing and left out of its run, which makes the result "
                "incomplete; VLMEvalKit would count the failure text as an unreadable answer.",
                "Without a judge, a group that needs one scores 0 (VLMEvalKit's exact_matching policy).",
                "Extraction rules are VLMEvalKit's 2024 can_infer; the 2025-08 (#1175) and 2026-06 (#1552) "
                "changes are not applied. The Chinese judge prompt is not used (English dev set).",
                "Accuracies are reported x100 (VLMEvalKit reports fractions); judge calls are batched "
                "across groups, with the same per-group order, attempts and early exits.",
                "No LLaVA-1.5-7B MMBench-dev reference from SENA Table 4 is recorded (not in the spec).",
            ],
        )

    def generation_params(self) -> dict[str, Any]:
        return {"max_new_tokens": 1024}

    def load(self, data_dir: Path) -> list[BenchItem]:
        """Read MMBench_DEV_EN.tsv; decode images to data_dir/images/ on first use."""
        path = Path(data_dir) / TSV_NAME
        df = _read_tsv(path)
        absent = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if absent:
            raise HarnessError(f"{path}: missing column(s) {', '.join(absent)}")
        records = df.to_dict("records")
        seen: dict[int, int] = {}
        for pos, rec in enumerate(records, 1):
            index = _parse_index(rec["index"], f"{path}: data row {pos}")
            if index in seen:
                raise HarnessError(f"{path}: index {index} appears twice (data rows {seen[index]} and {pos})")
            seen[index] = pos
            rec["index"] = index
        images_dir = Path(data_dir) / "images"
        cached = {p.stem: p for p in images_dir.iterdir() if p.is_file()} if images_dir.is_dir() else {}
        full_image = {
            str(rec["index"]): rec
            for rec in records
            if not _missing(rec["image"]) and len(str(rec["image"])) > _IMAGE_REF_MAX
        }
        members: dict[int, list[int]] = defaultdict(list)
        for rec in records:
            members[main_index(rec["index"])].append(rec["index"])

        items = []
        for rec in sorted(records, key=lambda r: (main_index(r["index"]), r["index"])):
            index = rec["index"]
            where = f"{path}: index {index}"
            g_index = main_index(index)
            if g_index not in seen:
                raise HarnessError(f"{where}: circular copy without its main question {g_index}")
            for col in ("question", "answer", "category", "l2-category"):
                if _missing(rec[col]):
                    raise HarnessError(f"{where}: empty {col!r}")
            choices = {letter: rec[letter] for letter in LETTERS if letter in rec and not _missing(rec[letter])}
            if "A" not in choices or "B" not in choices:
                raise HarnessError(f"{where}: options A and B are required")
            if rec["answer"] not in choices:
                raise HarnessError(f"{where}: answer {rec['answer']!r} is not one of the options {', '.join(choices)}")
            image_field = rec["image"]
            if _missing(image_field):
                raise HarnessError(f"{where}: empty 'image'")
            holder = rec if str(index) in full_image else full_image.get(str(image_field).strip())
            if holder is None:
                raise HarnessError(f"{where}: image refers to index {image_field!r}, which holds no image")
            image = _decode_image(path, holder["index"], holder["image"], images_dir, cached)
            hint = None if _missing(rec.get("hint")) else rec["hint"]
            split = None if _missing(rec.get("split")) else rec["split"]
            items.append(
                BenchItem(
                    id=str(index),
                    image=image,
                    prompt=llava_prompt(rec["question"], hint, {k: rec.get(k) for k in LETTERS}),
                    meta={
                        "index": index,
                        "g_index": g_index,
                        "answer": rec["answer"],
                        "question": rec["question"],
                        "hint": hint,
                        "choices": choices,
                        "category": rec["category"],
                        "l2-category": rec["l2-category"],
                        "split": split,
                        "group": sorted(members[g_index]),
                    },
                )
            )
        return items

    # ----------------------------------------------------------------- predictions
    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """A VLMEvalKit prediction TSV (``index``, ``prediction``) or LLaVA's answers JSONL."""
        path = Path(path)
        known = {item.id: item for item in items}
        preds: dict[str, str] = {}
        if path.suffix == ".jsonl":
            for lineno, row in enumerate(read_jsonl(path), 1):
                where = f"{path}:{lineno}"
                if not isinstance(row, dict) or "question_id" not in row or "text" not in row:
                    raise HarnessError(f"{where}: expected an object with 'question_id' and 'text'")
                if row.get("round_id", 0) != 0:
                    raise HarnessError(
                        f"{where}: round_id {row['round_id']} (--all-rounds output is not "
                        "supported; the TSV already holds the rotated copies)"
                    )
                self._add_prediction(preds, known, _parse_index(row["question_id"], where), row["text"], where)
        else:
            df = _read_tsv(path)
            for col in ("index", "prediction"):
                if col not in df.columns:
                    raise HarnessError(f"{path}: missing column {col!r}")
            has_question = "question" in df.columns
            for pos, rec in enumerate(df.to_dict("records"), 1):
                where = f"{path}: data row {pos}"
                index = _parse_index(rec["index"], where)
                item = known.get(str(index))
                if has_question and item is not None and rec["question"] != item.meta["question"]:
                    # VLMEvalKit's evaluate() asserts the same: the file is for another dataset.
                    raise HarnessError(f"{where}: index {index}: question differs from the dataset's")
                # str() as the official scorer does: a missing prediction reads "nan".
                self._add_prediction(preds, known, index, str(rec["prediction"]), where)
        absent = [item.id for item in items if item.id not in preds]
        if absent:
            shown = ", ".join(absent[:5]) + (" …" if len(absent) > 5 else "")
            raise HarnessError(f"{path}: no prediction for {len(absent)} item(s): index {shown}")
        return preds

    @staticmethod
    def _add_prediction(preds: dict[str, str], known: dict[str, BenchItem], index: int, text: Any, where: str) -> None:
        key = str(index)
        if key not in known:
            raise HarnessError(f"{where}: unknown index {index}")
        if key in preds:
            raise HarnessError(f"{where}: index {index} has a second prediction")
        preds[key] = str(text)

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        """Write the VLMEvalKit prediction TSV (or LLaVA answers JSONL when ``path`` ends in .jsonl)."""
        path = Path(path)
        known = {item.id for item in items}
        unknown = sorted(set(predictions) - known)
        if unknown:
            raise HarnessError(f"{path}: prediction for unknown index {unknown[0]}")
        missing = [item.id for item in items if item.id not in predictions]
        if missing:
            raise HarnessError(f"{path}: no prediction for index {missing[0]}")
        if path.suffix == ".jsonl":
            write_jsonl(
                path,
                [
                    {
                        "question_id": item.meta["index"],
                        "round_id": 0,
                        "prompt": item.prompt,
                        "text": predictions[item.id],
                    }
                    for item in items
                ],
            )
            return
        rows = []
        for item in items:
            meta = item.meta
            row = {"index": meta["index"], "question": meta["question"], "hint": meta["hint"]}
            row.update({letter: meta["choices"].get(letter) for letter in LETTERS})
            row.update(
                {
                    "answer": meta["answer"],
                    "category": meta["category"],
                    "l2-category": meta["l2-category"],
                    "split": meta["split"],
                    "prediction": predictions[item.id],
                }
            )
            rows.append(row)
        import pandas as pd

        frame = pd.DataFrame(rows, columns=[*PREDICTION_COLUMNS, "prediction"])
        write_text(path, frame.to_csv(sep="\t", index=False))

    # ----------------------------------------------------------------- scoring
    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None, *, runs: int = 1
    ) -> ScoreReport:
        """CircularEval accuracy, overall and per l2-category and category (x100)."""
        known = {item.id for item in items}
        unknown = sorted(set(predictions) - known)
        if unknown:
            raise HarnessError(f"mmbench predictions: unknown index {unknown[0]}")
        rows = []
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"mmbench predictions: no prediction for index {item.id}")
            meta = item.meta
            absent = [i for i in meta["group"] if str(i) not in known]
            if absent:
                raise HarnessError(
                    f"mmbench items: question {meta['g_index']} lacks its circular copies "
                    f"{', '.join(map(str, absent))} (CircularEval needs every row of a group)"
                )
            rows.append(
                Row(
                    index=meta["index"],
                    answer=meta["answer"],
                    question=meta["question"],
                    choices=meta["choices"],
                    prediction=predictions[item.id],
                    category=meta["category"],
                    l2_category=meta["l2-category"],
                )
            )
        groups = group_rows(rows, "mmbench items")
        results = run_circular(groups, judge, runs, self.random_fallback_seed)

        per_run, excluded_runs = [], []
        for run in results:
            scored = [(rows_, g) for rows_, g in zip(groups, run) if not g.missing]
            if scored:
                per_run.append(accuracy([rows_ for rows_, _ in scored], [int(g.hit or 0) for _, g in scored]))
            else:
                per_run.append({})
            parsed = [(rows_, g) for rows_, g in scored if not g.guessed]
            excluded_runs.append(
                accuracy([rows_ for rows_, _ in parsed], [int(g.hit or 0) for _, g in parsed]) if parsed else {}
            )
        metrics, std = mean_and_std(per_run)
        excluded, _ = mean_and_std(excluded_runs)

        missing = [
            missing_entry(str(g.g_index), r, g.missing_reason or "never answered")
            for r, run in enumerate(results)
            for g in run
            if g.missing
        ]
        failures: dict[str, int] = {}
        for r, run in enumerate(results):
            failures[f"run{r}"] = sum(len(g.unparsed) + g.missing for g in run)
        failures["total"] = sum(failures[f"run{r}"] for r in range(len(results)))
        failures["no_judge"] = sum(g.status == "no_judge" for run in results for g in run)

        records = []
        for gi, group in enumerate(groups):
            main = group[0]
            hits = [run[gi].hit for run in results]
            decided = {h for h in hits if h is not None}
            records.append(
                {
                    "id": str(main.index),
                    "category": main.category,
                    "l2-category": main.l2_category,
                    "hit": hits,
                    "correct": bool(decided.pop()) if len(decided) == 1 else None,  # None: runs disagree or none
                    "status": [run[gi].status for run in results],
                    # per run: why this group's judgement is not the judge's own (never answered, or a random letter
                    # after unreadable extractor answers); None where it is (read by judge agreement, issue 28)
                    "judge_failures": [
                        run[gi].status if run[gi].missing or run[gi].guessed else None for run in results
                    ],
                    "runs": [run[gi].rows for run in results],
                }
            )
        return ScoreReport(
            metrics=metrics,
            per_run=per_run,
            std=std,
            records=records,
            failures=failures,
            unparsed=unparsed_counts(k for run in results for g in run for k in g.unparsed),
            missing=missing,
            excluded=excluded,
        )


@hookimpl
def harness_benchmarks() -> list[type]:
    """Register MMBench with the harness."""
    return [MMBenchBenchmark]
