"""The truth audit of preference pairs on COCO images (harness/audit.py), with CHAIR's rules as the ``chair``
benchmark scores a caption (benchmarks/common/coco_vocab.py, caption_normalisers.py, caption_scoring.py).

Where the truth comes from (``--audit-truth PATH``, repeatable, on ``harness audit`` and ``harness evolve``):

- COCO annotation files read with pycocotools: an instances file (``instances_train2017.json``: the image's
  object classes, each category through CHAIR's synonym list) is needed; a captions file
  (``captions_train2017.json``) is optional and adds the classes CHAIR finds in the human captions, as the
  original scorer does (LisaAnne/Hallucination ``utils/chair.py``). Without one, the truth is the instance
  classes alone. An image source that is itself a COCO instances file (``--images instances_….json``) is
  its own truth; a LLaVA-665k file needs the files of its ``coco/`` images (COCO train2017); a folder of
  COCO images may be audited with them too.
- CHAIR's synonym list and NLTK data: the ``chair`` benchmark's data folder (``harness data pull chair``;
  default ``data/chair``), or that folder (or the ``synonyms.txt`` itself) given to ``--audit-truth``. The
  captions are normalised as the benchmark's default variant (``opera``: OPERA's port, POS tagging and
  WordNet lemmas).

An image is matched by its file name (``coco/train2017/000000000139.jpg`` → ``000000000139.jpg``), or by the
12-digit id of a COCO file name (2014 names such as ``COCO_val2014_000000000139.jpg`` included: COCO 2017
keeps the 2014 image ids). Images not in the annotation file, and a LLaVA-665k source's images outside
``coco/``, are not audited (counted, never wrong).

Each answer of a pair (the question is the prompt's first line):

- to an existence question ("Is there a …?" / "Are there …?" naming COCO objects): 1 when its leading
  yes/no is right (yes exactly when every object named is in the image), 0 otherwise (or no yes/no);
- otherwise as a caption: CHAIR's mentions against the image's classes; the score is the share of the
  image's classes it names (CHAIR's Recall) penalised by its hallucinated mentions (CHAIRi's numerator):
  covered / (classes + hallucinated mentions), as the synthetic world's audit scores a description
  (benchmarks/shapes/audit.py); an image with no annotated object scores 1 / (1 + hallucinated).

So a chosen answer that hallucinates fewer objects while covering as many is *correct*, the other way
round *inverted*, the same content *tied* (harness/audit.py ``verdict``). COCO has no co-occurrence prior
here: ``from_prior`` is None.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

from benchmarks.chair.data import SYNONYMS
from benchmarks.common.caption_normalisers import Normaliser, nltk_normaliser
from benchmarks.common.caption_scoring import score_caption
from benchmarks.common.coco_truth import instance_classes
from benchmarks.common.coco_vocab import CaptionMentions, CocoVocabulary
from benchmarks.common.yes_no import normalize_yes_no
from harness.audit import AnswerMark
from harness.errors import HarnessError
from harness.method import PreferencePair
from harness.plugins import hookimpl

BENCHMARK = "chair"  # whose data folder holds the synonym list and NLTK data
DEFAULT_DATA = Path("data") / BENCHMARK
VARIANT = "opera"  # the chair benchmark's default caption normalisation
SOURCES = ("coco", "llava_json", "folder")
_COCO_NAME = re.compile(r"^(?:COCO_(?:train|val)2014_)?(\d{12})\.(?:jpg|jpeg|png)$", re.IGNORECASE)
_EXISTENCE = re.compile(r"^\s*(is|are)\s+there\b", re.IGNORECASE)
_OPTION = "--audit-truth"


def _load(path: Path):
    """A pycocotools ``COCO`` of ``path``; an unreadable file is an error naming it and the option."""
    from pycocotools.coco import COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints timing lines
            return COCO(str(path))
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{_OPTION} {path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except (json.JSONDecodeError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise HarnessError(
            f"{_OPTION} {path}: not a COCO annotation file ({type(exc).__name__}: {exc}); give an instances_*.json "
            "(and optionally a captions_*.json) of the images' COCO split"
        ) from None


def _kind_of(coco) -> str | None:
    """``instances`` (categories and category ids), ``captions``, or None."""
    anns = coco.dataset.get("annotations") or []
    if coco.dataset.get("categories") and any(isinstance(a, dict) and "category_id" in a for a in anns[:50]):
        return "instances"
    if coco.dataset.get("categories") and not anns:
        return "instances"  # an instances file of images without objects
    if any(isinstance(a, dict) and isinstance(a.get("caption"), str) for a in anns[:50]):
        return "captions"
    return None


class CocoChairPairAuditor:
    """Marks the answers of pairs about COCO images with CHAIR's rules (see the module doc)."""

    name = "coco-chair"

    def __init__(self, normaliser: Normaliser | None = None) -> None:
        """``normaliser``: replaces the NLTK-based caption normalisation (tests, as the chair benchmark's)."""
        self.normaliser = normaliser
        self.declined: str | None = None
        self.truth: list[str] = []
        self._source_kind = ""
        self._by_name: dict[str, int] = {}
        self._instances: dict[int, set[str]] = {}
        self._captions: dict[int, list[str]] = {}
        self._truth_cache: dict[int, frozenset[str]] = {}
        self._vocab: CocoVocabulary | None = None
        self._normalise: Normaliser | None = None

    # ----------------------------------------------------------------- where the truth is
    def applies(self, source: dict[str, Any]) -> bool:
        kind = source.get("kind")
        given = [Path(p) for p in source.get("audit_truth") or ()]
        if kind not in SOURCES:
            return False
        self._source_kind = kind
        for path in given:
            if not path.exists():
                raise HarnessError(f"{_OPTION} {path}: not found")
            if path.is_file() and path.suffix.lower() not in (".json", ".txt"):
                raise HarnessError(
                    f"{_OPTION} {path}: expected a COCO annotation .json, CHAIR's synonym list (.txt) or the "
                    f"{BENCHMARK} benchmark's data folder"
                )
        jsons = [p for p in given if p.is_file() and p.suffix.lower() == ".json"]
        own = Path(source["annotations"]) if kind == "coco" and source.get("annotations") else None
        if not jsons and own is None:
            if kind == "llava_json":
                self.declined = (
                    "a LLaVA-665k source's coco/ images are COCO train2017: give --audit-truth "
                    "instances_train2017.json (and optionally captions_train2017.json) to audit them"
                )
            return False
        explicit = bool(given)
        data_dir = next((p for p in given if p.is_dir()), DEFAULT_DATA)
        synonyms = next((p for p in given if p.is_file() and p.suffix.lower() == ".txt"), data_dir / SYNONYMS)
        try:
            self._prepare_vocabulary(synonyms, data_dir)
        except HarnessError as exc:
            if explicit:
                raise
            self.declined = f"COCO images, but CHAIR's vocabulary is not usable: {exc}"
            return False
        return self._read_truth(jsons, own, explicit)

    def _prepare_vocabulary(self, synonyms: Path, data_dir: Path) -> None:
        if not synonyms.is_file():
            raise HarnessError(
                f"{synonyms}: CHAIR's synonym list not found; run `harness data pull {BENCHMARK}` (it fetches it into "
                f"{DEFAULT_DATA}/), or give {_OPTION} with the folder that holds it"
            )
        self._vocab = CocoVocabulary.read(synonyms)
        self._normalise = self.normaliser or nltk_normaliser(VARIANT, data_dir / "nltk_data", benchmark=BENCHMARK)
        self._normalise("A dog.")  # a missing NLTK resource is named now, not at the first pair
        self.truth = [str(synonyms.resolve())]

    def _read_truth(self, jsons: list[Path], own: Path | None, explicit: bool) -> bool:
        assert self._vocab is not None
        files = list(dict.fromkeys([*([own] if own is not None else []), *jsons]))
        read_instances = False
        for path in files:
            if path == own and own not in jsons and not own.is_file():
                continue
            coco = _load(path)
            kind = _kind_of(coco)
            if kind is None:
                if path in jsons:
                    raise HarnessError(
                        f"{_OPTION} {path}: neither instance annotations (categories, category_id) nor captions"
                    )
                continue  # the image source's own file holds no truth; the given files may
            names = {im["id"]: im["file_name"] for im in coco.dataset.get("images", []) if "file_name" in im}
            for image_id, name in names.items():
                self._by_name.setdefault(Path(name).name, image_id)
            if kind == "instances":
                read_instances = True
                for image_id in names:
                    self._instances.setdefault(image_id, set()).update(
                        instance_classes(coco, image_id, self._vocab, path)
                    )
            else:
                for ann in coco.dataset["annotations"]:
                    if isinstance(ann, dict) and isinstance(ann.get("caption"), str):
                        self._captions.setdefault(ann.get("image_id"), []).append(ann["caption"])
            self.truth.append(str(path.resolve()))
        if not read_instances:
            message = (
                f"no COCO instance annotations among {', '.join(str(p) for p in files)}: give {_OPTION} "
                "instances_<split>.json of the images' COCO split"
            )
            if explicit:
                raise HarnessError(f"{_OPTION}: {message}")
            self.declined = message
            return False
        return True

    # ----------------------------------------------------------------- marks
    def image_id(self, image: str) -> int | None:
        """The COCO image id of a pair's image id, or None when the annotation files do not hold it."""
        path = image.replace("\\", "/")
        if self._source_kind == "llava_json" and path.split("/", 1)[0] != "coco":
            return None
        base = path.rsplit("/", 1)[-1]
        found = self._by_name.get(base)
        if found is None and (match := _COCO_NAME.match(base)):
            found = int(match.group(1))
        return found if found in self._instances else None

    def _mentions(self, text: str) -> CaptionMentions:
        assert self._vocab is not None and self._normalise is not None
        return self._vocab.mentions(self._normalise(text))

    def classes(self, image_id: int) -> frozenset[str]:
        """The image's ground-truth classes: its instances' classes ∪ those CHAIR finds in its captions."""
        if image_id not in self._truth_cache:
            classes = set(self._instances[image_id])
            for caption in self._captions.get(image_id, ()):
                classes.update(self._mentions(caption).classes)
            self._truth_cache[image_id] = frozenset(classes)
        return self._truth_cache[image_id]

    def mark_answer(self, question: str, answer: str, truth: frozenset[str]) -> AnswerMark:
        if _EXISTENCE.match(question):
            asked = self._mentions(question).classes
            if asked:
                said = normalize_yes_no(answer.strip())
                right = said in ("Yes", "No") and (said == "Yes") == all(c in truth for c in asked)
                return AnswerMark(score=float(right), hallucinated=0, from_prior=None, mentions=0)
        scored = score_caption(self._mentions(answer), truth, answer)
        wrong = len(scored.hallucinated)
        covered = len(scored.recalled)
        score = covered / (len(truth) + wrong) if truth else 1 / (1 + wrong)
        return AnswerMark(
            score=round(score, 4),
            hallucinated=wrong,
            from_prior=None,
            mentions=len(scored.words),
            covered=covered,
            hallucinated_objects=tuple(c for _, c in scored.hallucinated),
        )

    def mark(self, pair: PreferencePair) -> tuple[AnswerMark, AnswerMark] | None:
        image_id = self.image_id(pair.image)
        if image_id is None:
            return None
        truth = self.classes(image_id)
        question = pair.prompt.split("\n")[0]
        return self.mark_answer(question, pair.chosen, truth), self.mark_answer(question, pair.rejected, truth)


@hookimpl
def harness_pair_auditors() -> list[type]:
    return [CocoChairPairAuditor]
