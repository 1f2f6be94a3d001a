"""SeVa: Self-Supervised Visual Preference Alignment (Kevinz-code/SeVa, commit d9284ff).

For each question about an image, the policy answers twice, greedily: on the clean image (chosen)
and on the image corrupted by the diffusion forward process at step t = 500 (rejected; t = 800
in the paper's other setting). The prompt is the raw question, with no suffix
(``data/step2/generate_with_aug.py``). Pairs whose two raw answers are exactly equal are dropped,
the official pair scripts' only filter (``data/step3/make_pair_*.py``); then ``</s>`` and every
``\\n`` are removed from both answers, as there.

Images and questions (``data/step1``): from a LLaVA-665k-format file, the images of its OCR-VQA and
TextVQA entries in SeVa's proportion, 4,000 OCR-VQA + 8,000 TextVQA per iteration at real scale
(``image_plan``; ``--images-per-iter`` scales both 1:2), and their annotation questions
(``ImageRef.questions``), up to two per image, as SeVa's step 1 keeps; OCR-VQA questions lose the
single-word suffix and newlines (``ocr_cleanup``), TextVQA ones do not, as in the official split
scripts. A 665k file without OCR-VQA or TextVQA entries is refused, naming the sources it needs. When
the images carry no questions (a folder, COCO, synthetic scenes: the built-in default), the policy
writes one question per image with SENA's p_base prompt (variant ``self_questions``; not in SeVa,
which always uses 665k questions).

Training recipe (``train_recipe``; the release's run/llava1.5_lora_*.sh and seva/train_dpo_ours.py):
LoRA r 1024, α 2048 on every linear layer of the LLM, the projector trained too at the same lr 2e-6
(the script passes ``--mm_projector_lr 0``, but the DPO trainer is a plain HF Trainer that ignores
it, and LLaVA re-enables the projector's gradient after LoRA wrapping), global batch 128 (16 per
device), 1 epoch, cosine schedule with 3 % linear warm-up, bf16, gradient checkpointing, β = 0.1;
every pair twice in the epoch (``duplicate``). The user's ``--train key=value`` overrides any of it.

Choices and deviations (each an option where it matters):
- the choice of questions per image is seeded (the official ``random.sample`` is unseeded); images
  are drawn per iteration (SeVa samples 665k *entries*; an image's entries are merged here);
- the diffusion noise is seeded per request (the official noise is not);
- the reference is θ0's log-probs precomputed before training (a frozen copy in the official code,
  which reads the policy's drifting projector; ``--train live_reference=true`` keeps a live copy);
- an answer that is empty or has no letter or digit after cleaning is dropped and counted
  (the official scripts have no such check);
- the official step-800 subsampling to ~4.3k/6.5k pairs is a dataset-size match, not reproduced.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from harness.backends.base import GenerationRequest
from harness.benchmark import ReportedNumbers
from harness.errors import HarnessError
from harness.images.sampling import ImagePlan
from harness.method import Method, PreferencePair, PreferenceSet, SynthesisContext, TrainingObjective
from harness.noise import NUM_STEPS
from harness.plugins import hookimpl
from methods.common.pairs import StepLog, count_tokens, is_garbage, stable_seed
from methods.common.questions import question_counts, well_formed

# SENA's p_base (WentaoTan/SENA @ 9642a7f, the generation script's PROMPT constant), used verbatim
# for the self-generated-questions variant.
P_BASE = "Please look at the image and generate a question related to the content of the image."
# OCR-VQA clean-up of SeVa's data/step1/make_ocrvqa_data.py (verbatim suffix).
OCR_SUFFIX = "Answer the question using a single word or phrase."
QUESTION_SOURCES = ("auto", "annotations", "self")
# data/step1: 4,000 OCR-VQA entries (2 questions each: "8k") and 8,000 TextVQA entries of LLaVA-665k
SOURCE_QUOTAS = {"ocr_vqa": 4000, "textvqa": 8000}

# The training recipe of run/llava1.5_lora_*.sh (Kevinz-code/SeVa @ d9284ff) as TrainConfig overrides.
TRAIN_RECIPE = {
    "lora": True,
    "lora_r": 1024,
    "lora_alpha": 2048,
    "lora_train_projector": True,
    "learning_rate": 2e-6,
    "global_batch_size": 128,
    "per_device_batch_size": 16,
    "epochs": 1.0,
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.03,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "bf16": True,
    "gradient_checkpointing": True,
    "max_length": 2048,
    "seed": 42,
}

_README = "Kevinz-code/SeVa README.md at commit d9284ff, results of LLaVA-1.5-7B + SeVa"
_README_NOTE = (
    "LLaVA-Bench, MM-Vet and MMB columns (POPE, SEED, SHR, SQA, GQA have no benchmark here); "
    "the README does not say which MMBench split; it notes MM-Vet and LLaVA-Bench vary between runs"
)


def _readme_row(version: str, llava_w: float, mmvet: float, mmb: float) -> ReportedNumbers:
    return ReportedNumbers(
        source=_README,
        model=f"LLaVA-1.5-7B + SeVa ({version})",
        table="seva-readme",
        values={"llava_wild/relative_score": llava_w, "mmvet/total": mmvet, "mmbench/overall": mmb},
        note=_README_NOTE,
    )


REPORTED = (
    _readme_row("Diffusion500", 70.7, 35.5, 64.7),
    _readme_row("Diffusion800", 72.2, 37.2, 65.6),
    _readme_row("MOCO", 72.5, 37.0, 65.2),
    ReportedNumbers(
        source="SENA (Tan et al., AAAI 2025), arXiv 2412.15650, Table 4",
        model="LLaVA-1.5-7B + SeVa",
        table="sena-table4",
        values={
            "llava_wild/relative_score": 63.3,
            "mmvet/total": 37.0,
            "mmhal/average_score": 2.12,
            "mmhal/hallucination_rate": 0.57,
            "amber/CHAIR": 7.3,
            "amber/Cover": 54.0,
            "amber/Hal": 37.3,
            "amber/Cog": 2.9,
            "amber/Accuracy": 79.3,
            "amber/F1": 83.6,
            "mmbench/overall": 65.6,
        },
        note="evaluated by SENA's authors on the released SeVa model; GPT-4-1106-preview judge, 3 runs averaged; "
        "MMBench dev split",
        judges={
            "llava_wild": "gpt-4-1106-preview",
            "mmvet": "gpt-4-1106-preview",
            "mmhal": "gpt-4-1106-preview",
        },  # as SENA's Table 4 states
    ),
)


def _reproductions() -> tuple:
    from harness.reproduce import GridRow, Reproduction

    return (
        Reproduction(
            name="seva",
            title="SeVa README: LLaVA-1.5-7B + SeVa at diffusion steps 500 and 800 (one round from θ0)",
            source=_README,
            rows=(
                GridRow("θ0 (LLaVA-1.5-7B)", "seva", None, (), 0, None),
                GridRow("SeVa Diffusion500", "seva", None, (), 1, "LLaVA-1.5-7B + SeVa (Diffusion500)"),
                GridRow("SeVa Diffusion800", "seva", "t800", (), 1, "LLaVA-1.5-7B + SeVa (Diffusion800)"),
            ),
            columns=(
                ("llava_wild/relative_score", "LLaVA-Bench"),
                ("mmvet/total", "MM-Vet"),
                ("mmbench/overall", "MMB"),
            ),
            reported_table="seva-readme",
            notes=("The README prints no θ0 row; the MOCO row (augmentation code not released) is not re-run.",),
        ),
    )


@dataclass
class SevaConfig:
    noise_step: int = 500  # diffusion step t of the rejected answer's image (paper: 500 or 800)
    duplicate: bool = True  # official training repeats every pair twice in the epoch
    max_new_tokens: int = 512
    question_source: str = "auto"  # auto: annotations when the images carry them, else self
    questions_per_image: int = 2  # SeVa keeps up to 2 annotation questions per image
    ocr_cleanup: bool = True  # strip OCR_SUFFIX and newlines from questions of ocr_vqa/ images

    def validate(self) -> None:
        t = self.noise_step
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < NUM_STEPS:
            raise HarnessError(f"seva option noise_step={t!r}: accepted values are integers 0-{NUM_STEPS - 1}")
        if self.question_source not in QUESTION_SOURCES:
            raise HarnessError(
                f"seva option question_source={self.question_source!r}: accepted values are "
                f"{', '.join(QUESTION_SOURCES)}"
            )
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise HarnessError(f"seva option max_new_tokens={self.max_new_tokens!r}: accepted values are integers ≥ 1")
        if not isinstance(self.questions_per_image, int) or self.questions_per_image < 1:
            raise HarnessError(
                f"seva option questions_per_image={self.questions_per_image!r}: accepted values are integers ≥ 1"
            )
        if not isinstance(self.duplicate, bool):
            raise HarnessError(f"seva option duplicate={self.duplicate!r}: expected true or false")


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
        "no_dup": {"duplicate": False},
        "self_questions": {"question_source": "self"},
    }
    reported = REPORTED
    reproductions = _reproductions()
    images_per_iter = sum(SOURCE_QUOTAS.values())

    def objective(self) -> TrainingObjective:
        return TrainingObjective(beta=0.1, duplicate=2 if self.config.duplicate else 1)

    def train_recipe(self) -> dict:
        """SeVa's LoRA recipe (module docstring); the built-in tiny model keeps its tiny-scale values."""
        return dict(TRAIN_RECIPE)

    def image_plan(self, per_iter: int) -> ImagePlan | None:
        """OCR-VQA and TextVQA images 1:2 (4k + 8k at real scale), unless questions are self-generated."""
        if self.config.question_source == "self":
            return None
        plan = ImagePlan.proportional(
            SOURCE_QUOTAS,
            per_iter,
            purpose=(
                "seva draws its questions from the OCR-VQA and TextVQA annotations of LLaVA-665k "
                "(Kevinz-code/SeVa data/step1; --set question_source=self writes its own questions instead)"
            ),
        )
        if self.config.question_source == "annotations":
            return ImagePlan(plan.quotas, plan.purpose, uniform_fallback=False)
        return plan

    def estimate_generations(self, images: int) -> int:
        """A clean and a noised answer per question: up to ``questions_per_image`` per image with
        annotations, one self-written question (+ its generation) otherwise."""
        if self.config.question_source == "self":
            return 3 * images
        return 2 * self.config.questions_per_image * images

    def _source(self, images: Sequence) -> str:
        annotated = any(getattr(ref, "questions", ()) for ref in images)
        src = self.config.question_source
        if src == "auto":
            return "annotations" if annotated else "self"
        if src == "annotations" and not annotated:
            raise HarnessError(
                f"seva question_source=annotations, but none of the {len(images)} images carries "
                f"annotation questions (use a LLaVA-665k .json image source, or question_source=self)"
            )
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
            own = question_counts(q for _, _, q in items)  # harness/method.py PreferenceSet
        noise_seeds = [stable_seed("seva-noise", ctx.seed, ctx.iteration, images[i].id, qi) for i, qi, _ in items]
        clean_reqs = [GenerationRequest(pictures[i], q, max_new_tokens=cfg.max_new_tokens) for i, _, q in items]
        with log.step("answer_clean", len(clean_reqs)) as st:
            chosen = backend.generate(clean_reqs, desc="seva: clean answers") if clean_reqs else []
            st["generated_tokens"] = count_tokens(backend, chosen)
        noisy_reqs = [
            GenerationRequest(pictures[i], q, noise_step=cfg.noise_step, max_new_tokens=cfg.max_new_tokens, seed=s)
            for (i, _, q), s in zip(items, noise_seeds)
        ]
        with log.step("answer_noised", len(noisy_reqs)) as st:
            rejected = backend.generate(noisy_reqs, desc=f"seva: answers at t={cfg.noise_step}") if noisy_reqs else []
            st["generated_tokens"] = count_tokens(backend, rejected)
        counts["answered"] = len(items)
        base = self.provenance(ctx, question_source=source, noise_step=cfg.noise_step)
        pairs: list[PreferencePair] = []
        n_unequal = 0
        for (i, _, q), c, r, s in zip(items, chosen, rejected, noise_seeds):
            if c == r:  # the official filter, on the raw answers
                continue
            n_unequal += 1
            c, r = clean_answer(c), clean_answer(r)
            if is_garbage(c) or is_garbage(r):
                continue
            marks = {"question_well_formed": well_formed(q)} if source == "self" else {}
            pairs.append(PreferencePair.for_image(images[i], q, c, r, "qa", dict(base, noise_seed=s, **marks)))
        counts["not_equal"] = n_unequal
        counts["valid_text"] = len(pairs)
        stats = log.stats(question_source=source, **({"questions": own} if source == "self" else {}))
        return PreferenceSet(pairs, counts, stats)


def seva_question_task(scene, rng: random.Random) -> list:
    """Warm-up: p_base → a question about the scene, ending with '?'."""
    from harness.images.synthetic import COLORS, SHAPES
    from harness.policy.warmup_tasks import WarmupExample

    s = rng.choice(scene.shapes)
    options = [
        f"What color is the {s.kind}?",
        "How many shapes are in the image?",
        f"Is there a {rng.choice(sorted(COLORS))} {rng.choice(SHAPES)} in the image?",
    ]
    return [WarmupExample(P_BASE, rng.choice(options))]


@hookimpl
def harness_methods() -> list[type]:
    return [Seva]


@hookimpl
def harness_warmup_tasks() -> list:
    return [seva_question_task]
