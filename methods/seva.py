"""SeVa: Self-Supervised Visual Preference Alignment (Kevinz-code/SeVa, commit d9284ff; spec/methods.md §2).

For each question about an image, the policy answers twice, greedily: on the clean image (chosen)
and on the image corrupted by the diffusion forward process at step t = 500 (rejected; t = 800
in the paper's other setting). The prompt is the raw question, with no suffix
(``data/step2/generate_with_aug.py``). Pairs whose two raw answers are exactly equal are dropped,
the official pair scripts' only filter (``data/step3/make_pair_*.py``); then ``</s>`` and every
``\\n`` are removed from both answers, as there.

Questions come from LLaVA-665k-style annotations (``ImageRef.questions``), up to two per image,
as SeVa's step 1 keeps; OCR-VQA questions lose the single-word suffix and newlines
(``ocr_cleanup``), TextVQA ones do not, as in the official split scripts. When the images carry
no questions (a folder, COCO, synthetic scenes), the policy writes one question per image with
SENA's p_base prompt (variant ``self_questions``; not in SeVa, which always uses 665k questions).

Choices and deviations (each an option where it matters):
- the choice of questions per image is seeded (the official ``random.sample`` is unseeded);
- the diffusion noise is seeded per request (the official noise is not);
- ``duplicate`` (official: every pair twice in the epoch) is off by default; ``duplicate=true``
  makes the trainer repeat each pair twice (TrainingObjective.duplicate = 2);
- an answer that is empty or has no letter or digit after cleaning is dropped and counted
  (the official scripts have no such check);
- the official step-800 subsampling to ~4.3k/6.5k pairs is a dataset-size match, not reproduced.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

from harness.backends.base import GenerationRequest
from harness.errors import HarnessError
from harness.method import Method, PreferencePair, PreferenceSet, SynthesisContext, TrainingObjective
from harness.noise import NUM_STEPS
from harness.plugins import hookimpl
from methods.pair_tools import StepLog, count_tokens, is_garbage, stable_seed

# SENA's p_base (WentaoTan/SENA @ 9642a7f, the generation script's PROMPT constant), used verbatim
# for the self-generated-questions variant.
P_BASE = "Please look at the image and generate a question related to the content of the image."
# OCR-VQA clean-up of SeVa's data/step1/make_ocrvqa_data.py (verbatim suffix).
OCR_SUFFIX = "Answer the question using a single word or phrase."
QUESTION_SOURCES = ("auto", "annotations", "self")


@dataclass
class SevaConfig:
    noise_step: int = 500  # diffusion step t of the rejected answer's image (paper: 500 or 800)
    duplicate: bool = False  # official training repeats every pair twice
    max_new_tokens: int = 512
    question_source: str = "auto"  # auto: annotations when the images carry them, else self
    questions_per_image: int = 2  # SeVa keeps up to 2 annotation questions per image
    ocr_cleanup: bool = True  # strip OCR_SUFFIX and newlines from questions of ocr_vqa/ images

    def validate(self) -> None:
        if isinstance(self.noise_step, bool) or not isinstance(self.noise_step, int) or not 0 <= self.noise_step < NUM_STEPS:
            raise HarnessError(f"seva option noise_step={self.noise_step!r}: accepted values are integers 0-{NUM_STEPS - 1}")
        if self.question_source not in QUESTION_SOURCES:
            raise HarnessError(f"seva option question_source={self.question_source!r}: accepted values are "
                               f"{', '.join(QUESTION_SOURCES)}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise HarnessError(f"seva option max_new_tokens={self.max_new_tokens!r}: accepted values are integers ≥ 1")
        if not isinstance(self.questions_per_image, int) or self.questions_per_image < 1:
            raise HarnessError(f"seva option questions_per_image={self.questions_per_image!r}: "
                               f"accepted values are integers ≥ 1")


def clean_answer(text: str) -> str:
    """The official post-processing: remove ``</s>`` and every newline."""
    return text.replace("</s>", "").replace("\n", "")


def clean_question(image_id: str, question: str, ocr_cleanup: bool) -> str:
    if ocr_cleanup and image_id.startswith("ocr_vqa"):
        question = question.replace(OCR_SUFFIX, "").replace("\n", "")
    return question


class Seva(Method):
    name = "seva"
    description = "SeVa: answer on the clean image (chosen) vs on the diffusion-noised image (rejected)"
    Config = SevaConfig
    variants: ClassVar[dict] = {
        "t800": {"noise_step": 800},
        "official_dup": {"duplicate": True},
        "self_questions": {"question_source": "self"},
    }

    def objective(self) -> TrainingObjective:
        return TrainingObjective(beta=0.1, duplicate=2 if self.config.duplicate else 1)

    def _source(self, images: Sequence) -> str:
        annotated = any(getattr(ref, "questions", ()) for ref in images)
        src = self.config.question_source
        if src == "auto":
            return "annotations" if annotated else "self"
        if src == "annotations" and not annotated:
            raise HarnessError(f"seva question_source=annotations, but none of the {len(images)} images carries "
                               f"annotation questions (use a LLaVA-665k .json image source, or question_source=self)")
        return src

    def synthesize(self, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        cfg = self.config
        log = StepLog()
        source = self._source(images)
        pictures = [ctx.open_image(ref) for ref in images]
        counts: dict[str, int] = {"images": len(images)}
        items: list[tuple[int, int, str]] = []  # (image index, question index, question)
        if source == "annotations":
            for i, ref in enumerate(images):
                qs = list(getattr(ref, "questions", ()))
                rng = random.Random(stable_seed("seva-questions", ctx.seed, ctx.iteration, ref.id))
                for qi, q in enumerate(rng.sample(qs, min(cfg.questions_per_image, len(qs)))):
                    items.append((i, qi, clean_question(ref.id, q, cfg.ocr_cleanup)))
            counts["questions"] = len(items)
            items = [it for it in items if not is_garbage(it[2])]
            counts["questions_valid"] = len(items)
        else:
            reqs = [GenerationRequest(pic, P_BASE, max_new_tokens=cfg.max_new_tokens) for pic in pictures]
            with log.step("question", len(reqs)) as st:
                raw = backend.generate(reqs, desc="seva: questions")
                st["generated_tokens"] = count_tokens(backend, raw)
            counts["questions"] = len(raw)
            items = [(i, 0, clean_answer(q).strip()) for i, q in enumerate(raw) if not is_garbage(clean_answer(q))]
            counts["questions_valid"] = len(items)
        noise_seeds = [stable_seed("seva-noise", ctx.seed, ctx.iteration, images[i].id, qi) for i, qi, _ in items]
        clean_reqs = [GenerationRequest(pictures[i], q, max_new_tokens=cfg.max_new_tokens) for i, _, q in items]
        with log.step("answer_clean", len(clean_reqs)) as st:
            chosen = backend.generate(clean_reqs, desc="seva: clean answers") if clean_reqs else []
            st["generated_tokens"] = count_tokens(backend, chosen)
        noisy_reqs = [GenerationRequest(pictures[i], q, noise_step=cfg.noise_step, max_new_tokens=cfg.max_new_tokens,
                                        seed=s) for (i, _, q), s in zip(items, noise_seeds)]
        with log.step("answer_noised", len(noisy_reqs)) as st:
            rejected = backend.generate(noisy_reqs, desc=f"seva: answers at t={cfg.noise_step}") if noisy_reqs else []
            st["generated_tokens"] = count_tokens(backend, rejected)
        counts["answered"] = len(items)
        config = asdict(cfg)
        pairs: list[PreferencePair] = []
        n_unequal = 0
        for (i, _, q), c, r, s in zip(items, chosen, rejected, noise_seeds):
            if c == r:  # the official filter, on the raw answers
                continue
            n_unequal += 1
            c, r = clean_answer(c), clean_answer(r)
            if is_garbage(c) or is_garbage(r):
                continue
            ref = images[i]
            pairs.append(PreferencePair(
                image=ref.id, prompt=q, chosen=c, rejected=r, kind="qa", image_path=getattr(ref, "path", None),
                provenance={"method": self.name, "checkpoint": ctx.checkpoint, "seed": ctx.seed,
                            "iteration": ctx.iteration, "question_source": source, "noise_step": cfg.noise_step,
                            "noise_seed": s, "config": config, "config_hash": self.config_hash()}))
        counts["not_equal"] = n_unequal
        counts["valid_text"] = len(pairs)
        return PreferenceSet(pairs, counts, log.stats(question_source=source))


def seva_question_task(scene, rng: random.Random) -> list:
    """Warm-up: p_base → a question about the scene, ending with '?'."""
    from harness.images.synthetic import COLORS, SHAPES
    from harness.policy.warmup_tasks import WarmupExample

    s = rng.choice(scene.shapes)
    options = [f"What color is the {s.kind}?", "How many shapes are in the image?",
               f"Is there a {rng.choice(sorted(COLORS))} {rng.choice(SHAPES)} in the image?"]
    return [WarmupExample(P_BASE, rng.choice(options))]


@hookimpl
def harness_methods() -> list[type]:
    return [Seva]


@hookimpl
def harness_warmup_tasks() -> list:
    return [seva_question_task]
