"""SENA: multimodal self-evolution from unlabeled images (Tan et al., AAAI 2025, arXiv 2412.15650).

What one iteration does (official code: WentaoTan/SENA commit 9642a7f). Each
step runs for *all* images of the iteration as one batched backend call:

1. ``question``: p_base on the clean image → a raw question (greedy, ``max_new_tokens``).
2. ``self_questioning`` (switch ``sq``): p_sq, with ``<question>`` = that whole raw output, on the
   clean image (``sq_max_new_tokens``). The question extraction then keeps the image only if the output
   contains ``?`` and not ``name``, splits it into sentences and keeps each one ending with ``?``
   (``QUESTION: `` removed): one record per question, each with its own P_des prompt drawn uniformly
   (seeded).
3. ``answer_clean``: for each record, the P_des prompt + the one-short-sentence suffix (``des``) and the
   question + the single-word-or-phrase suffix (``gen``), on the clean image.
4. ``answer_noised``: the same two prompts on the image noised at t = ``noise_step`` (600), an
   independent seeded draw per generation (the official code also draws per call).
5. ``self_enhancement`` (switch ``se``): p_se on the clean image for both records, with the clean
   description as ``<des>`` (for the ``des`` record the description is also the ``<answer>``), and the
   no-description form when the description is literally ``Yes``/``yes``. An output starting with
   ``Improved Answer:`` replaces the answer (minus ``Improved Answer: ``); otherwise the clean answer stays.
6. Pair filters of the release, in order, each counted (methods/sena/filters.py). Chosen = the
   (enhanced) clean answer, rejected = the noised answer, prompt = the question with its suffix;
   pairs are tagged ``des``/``gen`` so the trainer applies the alignment term to ``des`` pairs.

Ablation switches (paper, Tables 1-3), one step each:

- ``sq=false`` (no self-questioning): the p_sq call is skipped and its output is replaced by the raw
  p_base output; the same question extraction follows. Everything else is unchanged.
- ``se=false`` (no answer self-enhancement): the p_se call is skipped; chosen = the clean answer.
  ``se_des`` / ``se_gen`` (Table 2): with ``se=true``, which answers are enhanced (both by default);
  the other keeps its clean answer and no p_se call is made for it.
- ``ca=false`` (no image-content alignment): synthesis is unchanged (``des`` pairs are still made and
  tagged); ``objective()`` sets the alignment weight to 0, i.e. plain DPO. ``ca_des`` / ``ca_gen``
  (Table 3): with ``ca=true``, which pairs' chosen answers get the alignment term (``des`` only by
  default, as the official code and the paper's method).

Named variants (``--variant``) are the rows of the paper's tables. Table 1 adds each component
*alone* to the baseline ("We then add methods SQ, SE, and CA individually to the baseline"):

- ``base`` (θ1^Base): sq, se, ca off: p_base questions, clean vs noised answers, plain DPO.
- ``sq`` (θ1^SQ = Base+SQ), ``se`` (θ1^SE = Base+SE), ``ca`` (θ1^CA = Base+CA).
- ``full``: all three on (the defaults; θ1-θ3 of Table 1).
- Table 2 (Base+SE on one side): ``se_des`` (SE on y_des only), ``se_gen`` (on y_gen only); both =
  ``se``.
- Table 3 (Base+CA on other answers): ``ca_gen`` (alignment on y_gen only), ``ca_both`` (y_des and
  y_gen); y_des only = ``ca``.
- ``release``: the defaults with ``sq_with_image=false``: the released code's text-only p_sq.

Single switches compose with ``--set`` (e.g. ``--method sena --set se=false``).
``harness reproduce sena-table1|sena-table2|sena-table3`` runs these grids (methods/sena/tables.py).

Images (``image_sampling``): ``per_source`` (default) draws equal numbers from each of LLaVA-665k's
five sources per iteration (COCO, GQA, OCR-VQA, TextVQA, VG: 1,200 each of the paper's 6k, as the
official ``data/step1/split_llava6k.py``), disjoint across iterations; ``uniform`` draws from the whole
pool. A pool without sources (a folder, synthetic scenes) is always drawn uniformly.

Named options for quirks of the official code (default = the paper):

- ``sq_with_image`` (default true): p_sq sees the image, as the paper describes. With an image the
  message goes through the official first-message path (``process_image_token``: ``<image>`` removed,
  then ``strip()``), which drops p_sq's trailing newline. ``false`` reproduces the release, whose p_sq
  has no ``<image>`` placeholder, so the check is text-only (its trailing newline kept).
- ``splitter`` (default ``auto``): sentence/word tokenisation of the repeated-text filter: NLTK's Punkt
  when its data is installed, else NLTK's untrained Punkt (see methods/sena/filters.py); ``nltk`` requires the data.

Deviations from the official code, all deliberate: every random choice is seeded (P_des choice and
noise draws derive from ``ctx.seed``, the image id, the step and the record index); a literal
``<image>`` in a model output is removed before that output is embedded in a later prompt (the
official code would open a second image slot and fail); an unreadable image is skipped and counted.
Model outputs are cleaned as the official code does (``strip()`` then ``</s>`` removed).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import methods.sena.prompts as P
from harness.backends.base import Backend, GenerationRequest
from harness.errors import HarnessError
from harness.images.sampling import LLAVA_665K_SOURCES, ImagePlan
from harness.method import Method, PreferencePair, PreferenceSet, SynthesisContext, TrainingObjective
from harness.plugins import hookimpl
from methods.common.questions import question_counts, well_formed
from methods.sena.filters import SPLITTERS, Candidate, extract_questions, filter_pairs, make_splitter
from methods.sena.messages import embeddable, first_image_message, sq_message
from methods.sena.tables import REPORTED, REPRODUCTIONS
from methods.sena.warmup import WARMUP_TASKS

NUM_NOISE_STEPS = 1000
IMAGE_SAMPLING = ("per_source", "uniform")
# run/run.sh + seva/scripts/zero3_offload.json of the release, as TrainConfig overrides (see train_recipe)
TRAIN_RECIPE = {
    "lora": False,
    "learning_rate": 2e-6,
    "global_batch_size": 128,
    "per_device_batch_size": 2,
    "epochs": 1.0,
    "lr_scheduler": "constant_with_warmup",
    "warmup_ratio": 0.03,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "bf16": True,
    "gradient_checkpointing": True,
    "max_length": 2048,
    "seed": 42,
}


@dataclass
class SenaConfig:
    """SENA's options; the defaults reproduce the paper (arXiv 2412.15650)."""

    sq: bool = True  # image-driven self-questioning (p_sq check)
    se: bool = True  # answer self-enhancement (p_se)
    se_des: bool = True  # with se: enhance the description answers y_des (Table 2)
    se_gen: bool = True  # with se: enhance the answers to generated questions y_gen (Table 2)
    ca: bool = True  # image-content alignment loss
    ca_des: bool = True  # with ca: the alignment term on the chosen y_des (Table 3; the paper's method)
    ca_gen: bool = False  # with ca: the alignment term on the chosen y_gen (Table 3)
    sq_with_image: bool = True  # paper: p_sq sees the image; false = the released code's text-only check
    noise_step: int = 600  # diffusion step t of the rejected answers' image (0-999)
    max_new_tokens: int = 512  # every generation except p_sq
    sq_max_new_tokens: int = 1024  # p_sq (official)
    splitter: str = "auto"  # repeated-text filter tokenisation: auto, nltk, fallback
    image_sampling: str = "per_source"  # per_source: equal counts from LLaVA-665k's five sources; uniform

    def validate(self) -> None:
        """Raise HarnessError naming the option and what it accepts."""
        for name in ("sq", "se", "se_des", "se_gen", "ca", "ca_des", "ca_gen", "sq_with_image"):
            if not isinstance(getattr(self, name), bool):
                raise HarnessError(f"sena option {name}={getattr(self, name)!r}: expected true or false")
        if self.se and not (self.se_des or self.se_gen):
            raise HarnessError(
                "sena options se=true with se_des=false and se_gen=false: enhance at least one answer, or set se=false"
            )
        if self.ca and not (self.ca_des or self.ca_gen):
            raise HarnessError(
                "sena options ca=true with ca_des=false and ca_gen=false: align at least one answer, or set ca=false"
            )
        if self.image_sampling not in IMAGE_SAMPLING:
            raise HarnessError(
                f"sena option image_sampling={self.image_sampling!r}: accepted: {', '.join(IMAGE_SAMPLING)}"
            )
        t = self.noise_step
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < NUM_NOISE_STEPS:
            raise HarnessError(f"sena option noise_step={t!r}: expected an integer in 0-{NUM_NOISE_STEPS - 1}")
        for name in ("max_new_tokens", "sq_max_new_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise HarnessError(f"sena option {name}={v!r}: expected an integer ≥ 1")
        if self.splitter not in SPLITTERS:
            raise HarnessError(f"sena option splitter={self.splitter!r}: accepted: {', '.join(SPLITTERS)}")


def derive_seed(seed: int, image_id: str, step: str, index: int) -> int:
    """A 63-bit seed from (run seed, image id, step, record index); stable across runs and machines."""
    digest = hashlib.sha256(f"sena\x00{seed}\x00{image_id}\x00{step}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def clean_output(text: Any) -> str:
    """An output as the official code keeps it: ``strip()`` then ``</s>`` removed. Non-text becomes ''."""
    return text.strip().replace("</s>", "") if isinstance(text, str) else ""


def parse_enhanced(output: str, answer: str) -> tuple[str, bool]:
    """(the answer after self-enhancement, whether the output was used)."""
    if output.startswith(P.IMPROVED_PREFIX):
        return output.replace(P.IMPROVED_LABEL, ""), True
    return answer, False


@dataclass
class _Record:
    """One generated question of one image: the des and gen prompts and their answers."""

    ref: Any
    image: Any
    question_index: int
    des_index: int
    des_prompt: str
    gen_prompt: str
    clean: tuple[str, str] = ("", "")
    noised: tuple[str, str] = ("", "")
    noise_seeds: tuple[int, int] = (0, 0)
    chosen: tuple[str, str] = ("", "")
    enhanced: tuple[bool, bool] = (False, False)


def _own_question(record: _Record) -> str:
    """The self-generated question of a record, as its gen prompt holds it (without the answer suffix)."""
    return record.gen_prompt.removesuffix(P.SUFFIX_GEN)


class _Steps:
    """Runs the batched steps and keeps per-step statistics."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.stats: dict[str, dict[str, Any]] = {}

    def run(self, step: str, label: str, requests: list[GenerationRequest]) -> list[str]:
        start = time.perf_counter()
        raw = self.backend.generate(requests, desc=f"sena: {label}") if requests else []
        if len(raw) != len(requests):
            raise HarnessError(
                f"sena step {step}: backend {getattr(self.backend, 'name', '?')!r} returned "
                f"{len(raw)} texts for {len(requests)} requests"
            )
        texts = [clean_output(t) for t in raw]
        self.stats[step] = {
            "calls": 1 if requests else 0,
            "requests": len(requests),
            "generated_chars": sum(len(t) for t in texts),
            "generated_words": sum(len(t.split()) for t in texts),
            "empty_outputs": sum(1 for t in texts if not t),
            "wall_s": round(time.perf_counter() - start, 3),
        }
        return texts


class SenaMethod(Method):
    """SENA: self-questioning, answer self-enhancement, clean vs noised answers, DPO + alignment loss."""

    name = "sena"
    description = "SENA (AAAI 2025): self-questioning + self-enhanced answers vs t=600 noised answers; DPO + CA loss"
    Config = SenaConfig
    variants = {
        # Table 1: each component alone on top of the baseline; full = all three (the defaults)
        "base": {"sq": False, "se": False, "ca": False},
        "sq": {"sq": True, "se": False, "ca": False},
        "se": {"sq": False, "se": True, "ca": False},
        "ca": {"sq": False, "se": False, "ca": True},
        "full": {"sq": True, "se": True, "ca": True},
        # Table 2: Base + SE on one kind of answer
        "se_des": {"sq": False, "se": True, "se_des": True, "se_gen": False, "ca": False},
        "se_gen": {"sq": False, "se": True, "se_des": False, "se_gen": True, "ca": False},
        # Table 3: Base + the alignment loss on other answers
        "ca_gen": {"sq": False, "se": False, "ca": True, "ca_des": False, "ca_gen": True},
        "ca_both": {"sq": False, "se": False, "ca": True, "ca_des": True, "ca_gen": True},
        "release": {"sq_with_image": False},
    }
    reported = REPORTED
    reproductions = REPRODUCTIONS

    config: SenaConfig

    def objective(self) -> TrainingObjective:
        """Sigmoid DPO, β = 0.1, plus the alignment NLL of the chosen answers of the aligned kinds (weight
        1, batch mean; ``des`` only by default)."""
        cfg = self.config
        kinds = tuple(k for k, on in (("des", cfg.ca_des), ("gen", cfg.ca_gen)) if on)
        return TrainingObjective(beta=0.1, align_weight=1.0 if cfg.ca else 0.0, align_norm="batch", align_kinds=kinds)

    def train_recipe(self) -> dict:
        """run/run.sh (WentaoTan/SENA @ 9642a7f): full fine-tuning (LLM + projector, CLIP frozen), lr 2e-6,
        2 per device × 8 accumulation × 8 GPUs = 128, 1 epoch, bf16, gradient checkpointing, max length 2048.
        The schedule is the effective one: DeepSpeed's WarmupLR in zero3_offload.json overrides the script's
        cosine, i.e. a warm-up over 3 % of the steps, then constant (HF's warm-up is linear, DeepSpeed's
        logarithmic). The built-in tiny model keeps its tiny-scale values."""
        return dict(TRAIN_RECIPE)

    def synthesis_config(self) -> dict:
        """The options the pairs depend on: all but the alignment-loss switches, which only shape training
        (``harness reproduce`` shares θ1's pairs between rows that differ only there)."""
        return {k: v for k, v in self.config_dict().items() if k not in ("ca", "ca_des", "ca_gen")}

    def image_plan(self, per_iter: int) -> ImagePlan | None:
        """Equal counts from LLaVA-665k's five sources (the official split), unless ``image_sampling=uniform``."""
        if self.config.image_sampling == "uniform":
            return None
        return ImagePlan.equal(
            LLAVA_665K_SOURCES,
            per_iter,
            purpose=(
                "sena draws equal numbers of images from LLaVA-665k's five sources per iteration "
                "(--set image_sampling=uniform draws from the whole pool)"
            ),
        )

    def estimate_generations(self, images: int) -> int:
        """p_base (+ p_sq) per image, then per question 2 clean + 2 noised answers (+ 1 p_se per enhanced
        answer); assumes one question per image, the official code's typical yield."""
        cfg = self.config
        per_question = 4 + ((cfg.se_des + cfg.se_gen) if cfg.se else 0)
        return images * (1 + int(cfg.sq) + per_question)

    def synthesize(self, backend: Backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        """Preference pairs for ``images`` (ImageRefs), one batched backend call per step."""
        cfg = self.config
        started = time.perf_counter()
        splitter = make_splitter(cfg.splitter)
        steps = _Steps(backend)
        counts: dict[str, int] = {"images": len(images)}

        opened, unreadable = [], {}
        for ref in images:
            try:
                opened.append((ref, ctx.open_image(ref)))
            except (OSError, ValueError) as exc:  # PIL errors are OSError/ValueError subclasses
                unreadable[ref.id] = repr(exc)[:200]
        counts["images.readable"] = len(opened)

        # 1. p_base on the clean image
        raw_questions = steps.run(
            "question",
            "questions (p_base)",
            [
                GenerationRequest(
                    image=img,
                    prompt=first_image_message(P.P_BASE),
                    max_new_tokens=cfg.max_new_tokens,
                    seed=derive_seed(ctx.seed, ref.id, "question", 0),
                )
                for ref, img in opened
            ],
        )

        # 2. p_sq (with the image: paper; without: the release)
        if cfg.sq:
            checked = steps.run(
                "self_questioning",
                "self-questioning (p_sq)",
                [
                    GenerationRequest(
                        image=img if cfg.sq_with_image else None,
                        prompt=sq_message(q, cfg.sq_with_image),
                        max_new_tokens=cfg.sq_max_new_tokens,
                        with_image=cfg.sq_with_image,
                        seed=derive_seed(ctx.seed, ref.id, "self_questioning", 0),
                    )
                    for (ref, img), q in zip(opened, raw_questions)
                ],
            )
        else:
            checked = raw_questions

        records: list[_Record] = []
        dropped = {"no_question_mark": 0, "name": 0, "no_question_sentence": 0}
        for (ref, img), out in zip(opened, checked):
            questions, reason = extract_questions(out)
            if reason:
                dropped[reason] += 1
                continue
            for qi, q in enumerate(questions):
                di = random.Random(derive_seed(ctx.seed, ref.id, "des_prompt", qi)).randrange(len(P.P_DES))
                records.append(_Record(ref, img, qi, di, P.P_DES[di] + P.SUFFIX_DES, embeddable(q) + P.SUFFIX_GEN))
        remaining = len(opened)
        for reason, key in (
            ("no_question_mark", "questions.has_question_mark"),
            ("name", "questions.without_name"),
            ("no_question_sentence", "questions.has_question_sentence"),
        ):
            remaining -= dropped[reason]
            counts[key] = remaining
        counts["questions"] = len(records)
        counts["candidates"] = 2 * len(records)

        # 3.-4. clean and noised answers (des then gen for each record, as the official i = 0, 1)
        def answer_requests(noised: bool) -> list[GenerationRequest]:
            reqs = []
            for r in records:
                for j, prompt in enumerate((r.des_prompt, r.gen_prompt)):
                    step = "answer_noised" if noised else "answer_clean"
                    reqs.append(
                        GenerationRequest(
                            image=r.image,
                            prompt=prompt,
                            max_new_tokens=cfg.max_new_tokens,
                            noise_step=cfg.noise_step if noised else None,
                            seed=derive_seed(ctx.seed, r.ref.id, step, 2 * r.question_index + j),
                        )
                    )
            return reqs

        clean = steps.run("answer_clean", "answers (clean image)", answer_requests(False))
        noised_reqs = answer_requests(True)
        noised = steps.run("answer_noised", f"answers (noised, t={cfg.noise_step})", noised_reqs)
        for k, r in enumerate(records):
            r.clean = (clean[2 * k], clean[2 * k + 1])
            r.noised = (noised[2 * k], noised[2 * k + 1])
            r.noise_seeds = (noised_reqs[2 * k].seed, noised_reqs[2 * k + 1].seed)
            r.chosen = r.clean

        # 5. self-enhancement of the enabled answers (both by default), with the clean description
        if cfg.se:
            slots = [j for j, on in enumerate((cfg.se_des, cfg.se_gen)) if on]
            se_reqs, where = [], []
            for k, r in enumerate(records):
                des = embeddable(r.clean[0])
                for j, (prompt, answer) in enumerate(((r.des_prompt, des), (r.gen_prompt, embeddable(r.clean[1])))):
                    if j not in slots:
                        continue
                    where.append((k, j))
                    se_reqs.append(
                        GenerationRequest(
                            image=r.image,
                            prompt=P.fill_se(des, prompt, answer),
                            max_new_tokens=cfg.max_new_tokens,
                            seed=derive_seed(ctx.seed, r.ref.id, "self_enhancement", 2 * r.question_index + j),
                        )
                    )
            enhanced = steps.run("self_enhancement", "self-enhancement (p_se)", se_reqs)
            for (k, j), output in zip(where, enhanced):
                r = records[k]
                answer, used = parse_enhanced(output, r.clean[j])
                r.chosen = (answer, r.chosen[1]) if j == 0 else (r.chosen[0], answer)
                r.enhanced = (used, r.enhanced[1]) if j == 0 else (r.enhanced[0], used)

        # 6. the release's pair filters
        candidates = []
        for r in records:
            for j, kind in enumerate(("des", "gen")):
                candidates.append(
                    Candidate(
                        question=(r.des_prompt, r.gen_prompt)[j],
                        chosen=r.chosen[j],
                        rejected=r.noised[j],
                        kind=kind,
                        meta={"record": r, "slot": j},
                    )
                )
        kept, filter_counts = filter_pairs(candidates, splitter)
        counts.update(filter_counts)
        counts["pairs"] = len(kept)

        base = self.provenance(ctx)
        config, config_hash = base["config"], base["config_hash"]
        pairs = []
        for cand, chosen, rejected in kept:
            r, j = cand.meta["record"], cand.meta["slot"]
            provenance = dict(
                base,
                question_index=r.question_index,
                des_prompt_index=r.des_index,
                noise_step=cfg.noise_step,
                noise_seed=r.noise_seeds[j],
                self_enhanced=r.enhanced[j],
            )
            if cand.kind == "gen":  # the prompt is the model's own question (harness/method.py PreferenceSet)
                provenance["question_well_formed"] = well_formed(_own_question(r))
            pairs.append(PreferencePair.for_image(r.ref, cand.question, chosen, rejected, cand.kind, provenance))

        stats = {
            "method": self.name,
            "config": config,
            "config_hash": config_hash,
            "splitter": splitter.name,
            "steps": steps.stats,
            "generation_calls": sum(s["calls"] for s in steps.stats.values()),
            "generation_requests": sum(s["requests"] for s in steps.stats.values()),
            "unreadable_images": unreadable,
            "pairs_by_kind": {kind: sum(1 for p in pairs if p.kind == kind) for kind in ("des", "gen")},
            "questions": question_counts(_own_question(r) for r in records),
            "wall_s": round(time.perf_counter() - started, 3),
        }
        return PreferenceSet(pairs=pairs, counts=counts, stats=stats)


@hookimpl
def harness_methods() -> list[type]:
    return [SenaMethod]


@hookimpl
def harness_warmup_tasks() -> list:
    return list(WARMUP_TASKS)


__all__ = ["SenaConfig", "SenaMethod", "derive_seed", "sq_message", "parse_enhanced", "clean_output"]
