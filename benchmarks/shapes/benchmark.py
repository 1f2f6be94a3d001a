"""The ``shapes`` benchmark: the built-in, judge-free, offline benchmark over synthetic shape scenes.

Nothing is downloaded: scene ``i`` is ``make_scene("shapes-bench", i, BROKEN)`` (harness/images/synthetic.py),
a namespace disjoint from the scenes the self-evolution loop trains on (``"train"``) and the ones the
built-in tiny model is warmed up on (``"tiny-warmup"``), so a score is never on training images. The
warm-up scenes pair a circle with a square (``SKEWED``); these scenes mostly break that pair
(``BROKEN``), so a model that describes its prior instead of the image hallucinates the partner, as
LVLMs hallucinate COCO's co-occurring objects (docs/proving-ground.md).

Per scene, four items:

- three existence questions, one per shape kind: ``Is there a {kind} in this image?`` (ground truth
  ``yes`` when a shape of that kind is drawn), scored as AMBER's discriminative task
  (benchmarks/common/yes_no.py): a response counts only when it is exactly ``"Yes"`` or ``"No"``,
  "No" is the positive class, counters start at AMBER's ``metrics.txt`` values (score 0, num 0.001),
  Accuracy/Precision/Recall are rounded to 1 decimal and F1 is computed from the rounded P and R with
  ε = 0.0001 (AMBER's general rule; its existence-only ε = 0.001 quirk is not carried over).
  ``normalize_answers=True`` maps a response opening with the word yes/no ("yes", "Yes.",
  "No, there is not") to exactly "Yes"/"No" first; ``official`` then keeps the exact-match numbers.
- one description, ``Describe the image.``, scored CHAIR-style over the shapes vocabulary
  (see ``describe_mentions``): CHAIR = share of object mentions that are not in the scene, Cover = share
  of the scene's objects that are mentioned, Hal = share of descriptions with at least one
  hallucinated mention; same 0.001 denominators and 1-decimal rounding as AMBER. Also ``CHAIRobj``
  (mentions of an absent kind only), ``Prior`` (share of those that the warm-up prior predicts) and
  ``Yes`` (share of existence questions answered exactly "Yes"); see ``metrics_from_counters``.

``ScoreReport.intervals``: 95 % bootstrap intervals of every metric over scenes (harness/report/bootstrap.py);
the per-item records hold what a bootstrap or a paired test needs (``record_counters``, ``scene_units``).

Both prompts are the ones the tiny model is warmed up on (harness/policy/warmup_tasks.py).
Predictions are JSONL, one ``{"id": ..., "text": ...}`` per item.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common.yes_no import count_answer, normalize_yes_no
from harness.atomic import write_bytes, write_jsonl
from harness.benchmark import BenchItem, Benchmark, LeaderboardColumn, ProtocolCard, ScoreReport
from harness.errors import HarnessError
from harness.images.synthetic import BROKEN, COLORS, SHAPES, Scene, make_scene
from harness.judge.types import Judge
from harness.plugins import hookimpl

NAMESPACE = "shapes-bench"
PRIOR = BROKEN  # the warm-up scenes' skewed pair (a circle with a square) mostly broken apart


def bench_scene(index: int) -> Scene:
    """Scene ``index`` of the benchmark."""
    return make_scene(NAMESPACE, index, PRIOR)


DEFAULT_SCENES = 100
EXISTENCE_PROMPT = "Is there a {kind} in this image?"
DESCRIBE_PROMPT = "Describe the image."
EXISTENCE_TYPE = "discriminative-hallucination"  # AMBER's existence type (counter bucket "ha")
NUM_START = 0.001  # AMBER data/metrics.txt: every *_num starts at 0.001, every *_score at 0
F1_EPSILON = 0.0001
_WORD = re.compile(r"[a-z]+")
_KIND_WORDS = {**{k: k for k in SHAPES}, **{f"{k}s": k for k in SHAPES}}


def _percent(score: float, num: float) -> float:
    return round(score / num * 100, 1)


def _f1(precision: float, recall: float) -> float:
    p, r = precision / 100, recall / 100
    return round(2 * p * r / (p + r + F1_EPSILON) * 100, 1)


def qa_metrics(counters: Counter) -> dict[str, float]:
    """Accuracy, Precision, Recall ("No" positive) and F1 from AMBER's yes/no counters."""

    def total(name: str) -> float:
        return NUM_START + counters[name] if name.endswith("_num") else float(counters[name])

    accuracy = _percent(total("qa_correct_score"), total("qa_correct_num"))
    precision = _percent(total("qa_ans_no_score"), total("qa_ans_no_num"))
    recall = _percent(total("qa_no_score"), total("qa_no_num"))
    return {"Accuracy": accuracy, "Precision": precision, "Recall": recall, "F1": _f1(precision, recall)}


@dataclass(frozen=True)
class DescriptionScore:
    """What one description mentions, and how it matches its scene."""

    mentions: list[str]  # "circle" or "red circle", in order, every mention counted
    hallucinated: list[bool]  # parallel to mentions
    covered: list[str]  # scene objects (shape kinds) that some correct mention names
    n_objects: int  # objects in the scene

    @property
    def score(self) -> float:
        """Per-item score for paired comparison: covered / (scene objects + hallucinated mentions)."""
        denominator = self.n_objects + sum(self.hallucinated)
        return len(self.covered) / denominator if denominator else 0.0


def describe_mentions(text: str, scene: Scene) -> DescriptionScore:
    """Find the shape mentions of a description and judge each against the scene.

    Words are lower-cased runs of letters. A mention is a shape word (circle, square, triangle,
    or its plural); when the word just before it is a colour (red, green, blue, yellow) the mention
    is that coloured shape. A coloured mention is hallucinated unless the scene has a shape of that
    colour and kind; a bare one unless it has a shape of that kind. A scene object (shape kind) is
    covered when a non-hallucinated mention names its kind. Negations ("no circle") are not parsed,
    as in AMBER's CHAIR.
    """
    words = _WORD.findall(text.lower())
    kinds = set(scene.objects)
    named = {(s.color, s.kind) for s in scene.shapes}
    mentions: list[str] = []
    hallucinated: list[bool] = []
    covered: set[str] = set()
    for pos, word in enumerate(words):
        kind = _KIND_WORDS.get(word)
        if kind is None:
            continue
        color = words[pos - 1] if pos > 0 and words[pos - 1] in COLORS else None
        wrong = (color, kind) not in named if color else kind not in kinds
        mentions.append(f"{color} {kind}" if color else kind)
        hallucinated.append(wrong)
        if not wrong:
            covered.add(kind)
    return DescriptionScore(mentions, hallucinated, [k for k in scene.objects if k in covered], len(kinds))


class ShapesBenchmark(Benchmark):
    """Existence yes/no (AMBER-style Acc/P/R/F1) and descriptions (CHAIR/Cover) on shape scenes."""

    name = "shapes"
    default_eval = True  # offline, judge-free, seconds on CPU: the built-in default's yardstick
    columns = (
        LeaderboardColumn("Shapes Accuracy", "Accuracy", headline=True, order=90),
        LeaderboardColumn("Shapes F1", "F1", order=90),
        LeaderboardColumn("Shapes CHAIR", "CHAIR", lower_is_better=True, headline=True, order=90),
        LeaderboardColumn("Shapes Cover", "Cover", headline=True, order=90),
    )
    description = (
        "Synthetic shape scenes (offline, judge-free): existence yes/no Acc/P/R/F1 (AMBER-style) "
        "and description CHAIR/Cover"
    )
    needs_judge = False
    predictions_filename = "predictions.jsonl"

    def __init__(
        self,
        scenes: int = DEFAULT_SCENES,
        *,
        normalize_answers: bool = False,
        max_new_tokens: int = 48,
        image_dir: Path | None = None,
    ) -> None:
        """``scenes``: how many scenes (4 items each). ``normalize_answers``: see the module doc.
        ``image_dir``: where the rendered images go when ``load`` gets no data_dir (default: the
        harness cache folder, ``$HARNESS_CACHE_DIR`` or the user cache, at call time)."""
        if not isinstance(scenes, int) or isinstance(scenes, bool) or scenes < 1:
            raise HarnessError(f"shapes: scenes must be an integer >= 1, got {scenes!r}")
        if max_new_tokens < 1:
            raise HarnessError(f"shapes: max_new_tokens must be >= 1, got {max_new_tokens!r}")
        self.scenes = scenes
        self.normalize_answers = normalize_answers
        self.max_new_tokens = max_new_tokens
        self.image_dir = Path(image_dir) if image_dir is not None else None

    # ----------------------------------------------------------------- protocol
    def protocol(self) -> ProtocolCard:
        deviations = [
            "Not a published benchmark: the harness's own offline check on synthetic scenes.",
            "Yes/no scoring follows AMBER's discriminative counters and formulas (exact 'Yes'/'No', 'No' "
            "positive, 0.001 denominators, F1 from rounded P/R with epsilon 0.0001).",
            "CHAIR/Cover over the shapes vocabulary (circle, square, triangle, optionally preceded by a "
            "colour); a mention's colour must match. Per-item 'score' = covered / (objects + hallucinated).",
        ]
        if self.normalize_answers:
            deviations.append(
                "normalize_answers: responses opening with yes/no are mapped to exactly "
                "'Yes'/'No' before scoring; `official` keeps the exact-match numbers."
            )
        return ProtocolCard(
            benchmark=self.name,
            data_version=f"harness.images.synthetic make_scene({NAMESPACE!r}, 0..{self.scenes - 1}, {PRIOR})",
            # Stored in every result's protocol card: kept as first written (the scorer is now
            # benchmarks/shapes/benchmark.py), so that stored and new results carry the same card.
            scorer_source="benchmarks/shapes.py (AMBER-style yes/no counters, CHAIR/Cover over shapes)",
            prompt_version=f"{EXISTENCE_PROMPT!r} / {DESCRIBE_PROMPT!r}",
            generation=self.generation_params(),
            deviations=deviations,
        )

    def generation_params(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "greedy": True, "temperature": 0.0}

    # ----------------------------------------------------------------- data
    def _image_root(self, data_dir: Path | None) -> Path:
        if data_dir is not None:
            return Path(data_dir) / "images"
        if self.image_dir is not None:
            return self.image_dir
        from harness.policy.tiny import default_cache_root

        return default_cache_root() / "shapes-bench" / "images"

    def load(self, data_dir: Path | None = None) -> list[BenchItem]:
        """Generate the items and render their images (PNG, written atomically when absent or changed)."""
        root = self._image_root(data_dir)
        items: list[BenchItem] = []
        for index in range(self.scenes):
            scene = bench_scene(index)
            image = root / f"{index}.png"
            buf = io.BytesIO()
            scene.render().save(buf, format="PNG")
            data = buf.getvalue()
            if not image.is_file() or image.read_bytes() != data:
                write_bytes(image, data)
            base = {"scene": index, "shapes": [s.name for s in scene.shapes], "objects": scene.objects}
            for kind in SHAPES:
                truth = "yes" if kind in scene.objects else "no"
                items.append(
                    BenchItem(
                        id=f"{index}-{kind}",
                        image=image,
                        prompt=EXISTENCE_PROMPT.format(kind=kind),
                        meta={**base, "task": "existence", "kind": kind, "truth": truth},
                    )
                )
            items.append(
                BenchItem(
                    id=f"{index}-describe", image=image, prompt=DESCRIBE_PROMPT, meta={**base, "task": "description"}
                )
            )
        return items

    # ----------------------------------------------------------------- predictions
    def read_predictions(self, path: Path, items: Sequence[BenchItem]) -> dict[str, str]:
        """JSONL of ``{"id": str, "text": str}``; bad lines, unknown, duplicated or missing ids are errors."""
        import json

        path = Path(path)
        if not path.is_file():
            raise HarnessError(f"{path}: predictions file not found")
        known = {item.id for item in items}
        preds: dict[str, str] = {}
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise HarnessError(f"{where}: malformed JSON line ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise HarnessError(f"{where}: expected a JSON object, got {type(row).__name__}")
                if not isinstance(row.get("id"), str):
                    raise HarnessError(f"{where}: missing or non-string field 'id'")
                if not isinstance(row.get("text"), str):
                    raise HarnessError(f"{where}: id {row['id']!r}: missing or non-string field 'text'")
                item_id = row["id"]
                if item_id not in known:
                    raise HarnessError(f"{where}: unknown id {item_id!r} (not among the {len(known)} items)")
                if item_id in preds:
                    raise HarnessError(f"{where}: duplicated id {item_id!r}")
                preds[item_id] = row["text"]
        missing = [item.id for item in items if item.id not in preds]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise HarnessError(f"{path}: no prediction for id {shown}")
        return preds

    def write_predictions(self, path: Path, items: Sequence[BenchItem], predictions: dict[str, str]) -> None:
        rows = []
        for item in items:
            if item.id not in predictions:
                raise HarnessError(f"{path}: no prediction for id {item.id!r}")
            rows.append({"id": item.id, "text": predictions[item.id]})
        write_jsonl(path, rows)

    # ----------------------------------------------------------------- scoring
    def bootstrap_units(self, records: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
        """Resampling units of stored records for ``harness.report.bootstrap`` (one per scene)."""
        return scene_units(records)

    def metrics_from_counters(self, totals: Any) -> dict[str, float]:
        """The metrics from summed unit counters (``bootstrap_units``)."""
        return metrics_from_counters(totals)

    def score(
        self, items: Sequence[BenchItem], predictions: dict[str, str], judge: Judge | None = None, *, runs: int = 1
    ) -> ScoreReport:
        """Rule-based and deterministic (``judge``/``runs`` unused); every item needs a prediction.

        ``ScoreReport.intervals`` holds 95 % bootstrap intervals of every metric, resampling scenes (a
        scene's four items share an image) and recomputing the metrics from the resampled counters
        (``scene_units``, ``metrics_from_counters``; harness/report/bootstrap.py)."""
        from harness.report.bootstrap import intervals

        if not items:
            raise HarnessError("shapes: nothing to score (no items)")
        missing = [item.id for item in items if item.id not in predictions]
        if missing:
            raise HarnessError(f"shapes: no prediction for id {', '.join(missing[:5])}")
        records: list[dict[str, Any]] = []
        raw_units: list[dict[str, float]] = []
        for item in items:
            response = predictions[item.id]
            record: dict[str, Any] = {
                "id": item.id,
                "scene": item.meta["scene"],
                "task": item.meta["task"],
                "response": response,
            }
            if item.meta["task"] == "existence":
                answer = normalize_yes_no(response) if self.normalize_answers else response
                record.update(
                    kind=item.meta["kind"],
                    truth=item.meta["truth"],
                    answer=answer,
                    correct=count_answer(Counter(), EXISTENCE_TYPE, item.meta["truth"], answer),
                )
                raw = Counter()
                count_answer(raw, EXISTENCE_TYPE, item.meta["truth"], response)
                raw["answered_yes"] = int(response == "Yes")
                raw_units.append(dict(raw))
            else:
                scene = bench_scene(item.meta["scene"])
                result = describe_mentions(response, scene)
                wrong = [m for m, h in zip(result.mentions, result.hallucinated) if h]
                record.update(
                    objects=scene.objects,
                    mentions=result.mentions,
                    hallucinated=wrong,
                    prior_predicted=prior_predicted(wrong, scene),
                    covered=result.covered,
                    score=result.score,
                )
            records.append(record)
        totals = sum_counters(record_counters(r) for r in records)
        metrics = metrics_from_counters(totals)
        official = metrics_from_counters(sum_counters([totals_without_qa(totals)] + raw_units))
        return ScoreReport(
            metrics=metrics,
            per_run=[dict(metrics)],
            records=records,
            official=official,
            intervals=intervals(scene_units(records), metrics_from_counters),
        )


def prior_predicted(hallucinated: Sequence[str], scene: Scene) -> list[str]:
    """The hallucinated mentions whose kind is absent and is what the warm-up prior expects beside a
    kind that is present (a square beside a circle, a circle beside a square)."""
    present = set(scene.objects)
    expected = {PRIOR.partner(k) for k in present} - {None} - present
    return [m for m in hallucinated if m.split()[-1] in expected]


def record_counters(record: dict[str, Any]) -> dict[str, float]:
    """The additive counters one scored record contributes (``score``'s records, as stored in results)."""
    if record["task"] == "existence":
        counters = Counter()
        count_answer(counters, EXISTENCE_TYPE, record["truth"], record["answer"])
        counters["answered_yes"] = int(record["answer"] == "Yes")
        return dict(counters)
    wrong = record["hallucinated"]
    return {
        "mentions": len(record["mentions"]),
        "hallucinated": len(wrong),
        "absent_kind": sum(m.split()[-1] not in record["objects"] for m in wrong),
        "prior_predicted": len(record.get("prior_predicted", [])),
        "objects": len(record["objects"]),
        "covered": len(record["covered"]),
        "descriptions": 1,
        "hallucination_free": int(not wrong),
    }


def sum_counters(parts) -> Counter:
    total: Counter = Counter()
    for part in parts:
        total.update(part)
    return total


def totals_without_qa(totals: Counter) -> dict[str, float]:
    return {k: v for k, v in totals.items() if not k.startswith(("qa_", "ha_")) and k != "answered_yes"}


def scene_units(records: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """Summed counters per scene, in scene order: the bootstrap's resampling units."""
    by_scene: dict[int, Counter] = {}
    for record in records:
        by_scene.setdefault(int(record["scene"]), Counter()).update(record_counters(record))
    return [dict(by_scene[k]) for k in sorted(by_scene)]


def metrics_from_counters(totals) -> dict[str, float]:
    """The benchmark's metrics from summed counters (``record_counters``).

    CHAIR, Cover and Hal as in the module docstring; ``CHAIRobj`` counts only mentions of a kind that
    is absent (colour mistakes on a present kind left out: CHAIR's object-level definition); ``Prior``
    is the share (%) of those absent-kind mentions that the warm-up prior predicts (``prior_predicted``).
    Accuracy/Precision/Recall/F1 from the yes/no counters; ``Yes`` is the share (%) of existence
    questions answered exactly "Yes"."""
    totals = Counter(totals)
    metrics: dict[str, float] = {}
    if totals["descriptions"]:
        metrics.update(
            {
                "CHAIR": _percent(totals["hallucinated"], NUM_START + totals["mentions"]),
                "Cover": _percent(totals["covered"], NUM_START + totals["objects"]),
                "Hal": round(100 - totals["hallucination_free"] / (NUM_START + totals["descriptions"]) * 100, 1),
                "CHAIRobj": _percent(totals["absent_kind"], NUM_START + totals["mentions"]),
                "Prior": _percent(totals["prior_predicted"], NUM_START + totals["absent_kind"]),
            }
        )
    if totals["qa_correct_num"]:
        metrics.update(qa_metrics(totals))
        metrics["Yes"] = _percent(totals["answered_yes"], NUM_START + totals["qa_correct_num"])
    return metrics


@hookimpl
def harness_benchmarks() -> list[type]:
    """Register the shapes benchmark."""
    return [ShapesBenchmark]
