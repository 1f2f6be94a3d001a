"""POVID: Preference Optimization in VLLM with AI-generated Dispreferences (Zhou et al. 2024,
arXiv 2402.11411; official code YiyangZhou/POVID @ 92c7c67, ``scripts/run_dpo.sh``, ``scripts/run_povid.sh``,
``tool/dpo_trainer_inherent.py`` and ``llava/train/train_dpo_inherent.py``).

POVID trains in two stages, each iteration here running both (``Method.training_stages``):

- **Stage 1** (``run_dpo.sh``): plain DPO, 3 epochs, on (ground truth, ground truth with hallucinations
  injected). The chosen answer is the image's ground truth, never the model's own.
- **Stage 2** (``run_povid.sh``), from the stage-1 result (which is also its reference): 1 epoch of
  L = 0.5·L_ai + 0.5·L_self, where L_ai is stage 1's DPO on the same pairs and L_self's negative is built
  in the loss: the model's argmax tokens under the image noised at diffusion step t = 500, teacher-forced
  along the chosen answer and scored on the clean image (harness/train/objectives.py).

Where the pairs come from (stats.json ``stage`` and every pair's provenance say which a run used):
- ground truth: the image source's annotations (``ImageSource.annotations``): a LLaVA-665k-style file's
  gpt answers (with their questions), a COCO captions file's captions (via pycocotools), the synthetic
  scene's exact caption;
- injected hallucinations: ``stage1_file``, POVID's released preference data (``{"id", "image",
  "conversations", "rejected_conversations"}``; ``harness data pull povid`` fetches it into ``data/povid/``
  (methods/povid/data.py); its images are then the pairs' images, e.g. ``--images`` the same file with
  ``--image-root`` the COCO train2014 folder); on the built-in synthetic scenes without a file, a rule that
  swaps a present shape for the one the tiny model's prior predicts beside it (methods/povid/injection.py).
  POVID's GPT-4V injection prompt is not public (neither in the repository nor in the paper's main text), so
  no LLM injection is offered: a real image source needs ``stage1_file``.

The noise is applied as the release applies it (``noise_space=pixel_unclamped``, the default): on the raw
[0, 1] image before padding and preprocessing, then cast back to uint8 without clamping (harness/noise.py);
``noise_space=normalised`` (variant ``clean_noise``) noises the processed tensor as SeVa/SENA do. One
seeded draw per pair, shared by policy and reference (the release draws fresh unseeded noise per load).

Options (``--set``): ``stages`` = ``1+2`` (default), ``1`` or ``2`` (one stage alone); ``chosen`` =
``ground_truth`` (default) or ``self`` (variant ``self_chosen``, a deviation for unlabeled images: the
policy's own greedy answer as chosen, stage 2's L_self alone); ``negative`` = ``argmax_teacher_forced`` (the
code) or ``generate_on_noise`` (with ``chosen=self``: the greedy answer on the noised image as an ordinary
rejected answer, plain DPO, a SeVa-like deviation); ``noise_step`` (500); ``noise_space``; ``prompt`` (the
question for a caption's ground truth: POVID's data example ``Describe this image in detail.``);
``objective`` = ``dpo`` or ``mdpo``.

Training: LoRA r 128/α 256 on the LLM, the projector frozen, lr 1e-7, cosine, warm-up 3 %, β 0.1, summed
log-probs; batch 1 per device × accumulation 1 × GPUs (the scripts); the LoRA merged after each stage.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.backends.base import GenerationRequest
from harness.benchmark import ReportedNumbers
from harness.errors import HarnessError
from harness.method import (
    Method,
    PreferencePair,
    PreferenceSet,
    SynthesisContext,
    TrainingObjective,
    TrainingStage,
)
from harness.noise import NUM_STEPS
from harness.plugins import hookimpl
from methods.common.pairs import StepLog, count_tokens, is_garbage, stable_seed
from methods.povid.injection import inject

DESCRIBE = "Describe this image in detail."  # POVID's data example (YiyangZhou/POVID README, stage-1 format)
NEGATIVES = ("argmax_teacher_forced", "generate_on_noise")
STAGES = ("1+2", "1", "2")
CHOSEN = ("ground_truth", "self")
OBJECTIVES = ("dpo", "mdpo")
NOISE_SPACES = ("pixel_unclamped", "normalised")
STAGE1_EPOCHS = 3.0  # scripts/run_dpo.sh
STAGE2_EPOCHS = 1.0  # scripts/run_povid.sh


@dataclass
class PovidConfig:
    stage1_file: str = ""  # POVID's released preference data (JSON); "" = none
    stages: str = "1+2"  # both stages per iteration (the paper); "1" or "2" alone
    chosen: str = "ground_truth"  # or "self" (a deviation for unlabeled images)
    negative: str = "argmax_teacher_forced"  # or generate_on_noise (a documented deviation)
    noise_step: int = 500
    noise_space: str = "pixel_unclamped"  # the release's raw-pixel, unclamped noise; or "normalised"
    prompt: str = DESCRIBE
    objective: str = "dpo"
    max_new_tokens: int = 512

    def validate(self) -> None:
        for key, accepted in (
            ("negative", NEGATIVES),
            ("stages", STAGES),
            ("chosen", CHOSEN),
            ("objective", OBJECTIVES),
            ("noise_space", NOISE_SPACES),
        ):
            if str(getattr(self, key)) not in accepted:
                raise HarnessError(
                    f"povid option {key}={getattr(self, key)!r}: accepted values are {', '.join(accepted)}"
                )
        t = self.noise_step
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < NUM_STEPS:
            raise HarnessError(f"povid option noise_step={t!r}: accepted values are integers 0-{NUM_STEPS - 1}")
        n = self.max_new_tokens
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise HarnessError(f"povid option max_new_tokens={n!r}: accepted values are integers ≥ 1")
        if self.chosen == "self" and self.stages != "2":
            raise HarnessError(
                "povid option chosen=self has no stage 1 (its pairs have no hallucinated answer): set stages=2"
            )
        if self.negative == "generate_on_noise" and self.chosen != "self":
            raise HarnessError("povid option negative=generate_on_noise needs chosen=self (and stages=2)")
        if self.stage1_file and not Path(self.stage1_file).is_file():
            raise HarnessError(f"povid option stage1_file={self.stage1_file}: no such file")
        if not str(self.prompt).strip():
            raise HarnessError("povid option prompt: must not be empty")


class Povid(Method):
    name = "povid"
    description = (
        "POVID (arXiv 2402.11411): stage 1 DPO on (ground truth, injected hallucination); stage 2 adds the "
        "teacher-forced argmax under a t=500 noised image as a second negative"
    )
    Config = PovidConfig
    variants: ClassVar[dict] = {
        "clean_noise": {"noise_space": "normalised"},
        "self_chosen": {"chosen": "self", "stages": "2"},
        "generate_on_noise": {"chosen": "self", "stages": "2", "negative": "generate_on_noise"},
        "stage1": {"stages": "1"},
        "mdpo": {"objective": "mdpo"},
    }
    reported = (
        ReportedNumbers(
            source="STIC (Deng et al., NeurIPS 2024, arXiv 2405.19716), Table 1 (project page figure, May 2024), "
            "row 'w/ POVID', copied there from the POVID paper",
            model="LLaVA-1.5-7B + POVID",
            table="stic-table1",
            note="not in SENA's Table 4; other judge protocol than SENA's; the same figure's LLaVA-1.5 baseline is "
            "LLaVA-Bench 65.4, MMBench 64.3, MM-Vet 31.1",
            values={"llava_wild/relative_score": 68.7, "mmbench/overall": 64.9, "mmvet/total": 31.8},
        ),
    )

    @classmethod
    def data_sources(cls) -> list:
        """POVID's released stage-1 preference data, fetched by ``harness data pull povid`` (methods/povid/data.py)."""
        from methods.povid.data import stage1_data_source

        return [stage1_data_source()]

    def _stage2_objective(self) -> TrainingObjective:
        cfg = self.config
        if cfg.negative == "generate_on_noise":
            return TrainingObjective(beta=0.1, name="povid-noised-dpo")
        self_only = cfg.chosen == "self"
        return TrainingObjective(
            beta=0.1,
            name="povid",
            dpo_weight=0.0 if self_only else 0.5,
            noise_negative_weight=1.0 if self_only else 0.5,
            noise_negative_step=cfg.noise_step,
            noise_space=cfg.noise_space,
        )

    def _mdpo(self, obj: TrainingObjective) -> TrainingObjective:
        if self.config.objective == "mdpo":
            from harness.train.objectives import with_mdpo

            return with_mdpo(obj)
        return obj

    def training_stages(self) -> tuple[TrainingStage, ...]:
        stage1 = TrainingStage(
            "stage1",
            self._mdpo(TrainingObjective(beta=0.1, name="povid-stage1")),
            recipe={"epochs": STAGE1_EPOCHS},
            summary="stage 1: DPO on (ground truth, ground truth with injected hallucinations), 3 epochs",
        )
        stage2 = TrainingStage(
            "stage2",
            self._mdpo(self._stage2_objective()),
            recipe={"epochs": STAGE2_EPOCHS},
            summary=(
                f"stage 2: 0.5·DPO on the same pairs + 0.5·DPO against the argmax tokens under the image noised at "
                f"t={self.config.noise_step} ({self.config.noise_space}), 1 epoch, from stage 1"
                if self.config.chosen == "ground_truth"
                else "stage 2 alone (deviation): the policy's own answers as chosen"
            ),
        )
        return {"1+2": (stage1, stage2), "1": (stage1,), "2": (stage2,)}[self.config.stages]

    def objective(self) -> TrainingObjective:
        return self.training_stages()[-1].objective

    def train_recipe(self) -> dict:
        """YiyangZhou/POVID scripts/run_dpo.sh (stage 1, 3 epochs) and run_povid.sh (stage 2, 1 epoch): LoRA r 128/
        α 256 on the LLM, lr 1e-7, cosine, warm-up 3 %; the projector frozen (baselines' shared LoRA setup). The
        epochs are set per stage (``training_stages``)."""
        return {
            "lora": True,
            "lora_r": 128,
            "lora_alpha": 256,
            "lora_train_projector": False,
            "learning_rate": 1e-7,
            "lr_scheduler": "cosine",
            "warmup_ratio": 0.03,
            "epochs": STAGE2_EPOCHS,
            "per_device_batch_size": 1,
            "global_batch_size": 0,  # per-device × processes, no accumulation: 1 per GPU (the scripts)
        }

    def check_images(self, source) -> None:
        """Before any work: the source must give what the stages need (ground truth, hallucinated answers)."""
        cfg = self.config
        if cfg.chosen == "self":
            return
        if cfg.stage1_file:
            from methods.povid.stage1_file import load_stage1_pairs, missing_images

            records = load_stage1_pairs(cfg.stage1_file)
            missing = missing_images(records, source)
            if missing:
                raise HarnessError(
                    f"povid option stage1_file={cfg.stage1_file}: {len(missing)} image(s) of the file are not in "
                    f"the image source {_source_name(source)} (e.g. {', '.join(missing[:3])}); nothing is trained "
                    f"on half a file: give --images/--image-root that hold them"
                )
            return
        if getattr(source, "kind", "") != "synthetic":
            has_truth = any(source.annotations(ref) for ref in list(source.refs()[:50]))
            what = (
                "it has ground truth but no hallucinated answers"
                if has_truth
                else "it has no ground truth (a folder of images)"
            )
            raise HarnessError(
                f"povid: the image source {_source_name(source)} cannot give stage 1's pairs: {what}. Give "
                f"POVID's released preference data (`harness data pull povid`: HF YiyangAiLab/"
                f"POVID_preference_data_for_VLLMs) as --set stage1_file=<json> with --images the same file and "
                f"--image-root its COCO train2014 folder, or use "
                f"the built-in synthetic scenes, or --variant self_chosen (stage 2 alone on the policy's answers)"
            )

    def synthesize(self, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        if self.config.chosen == "self":
            return self._self_chosen(backend, images, ctx)
        cfg = self.config
        records = {}
        if cfg.stage1_file:
            from methods.povid.stage1_file import load_stage1_pairs

            records = load_stage1_pairs(cfg.stage1_file)
        base = self.provenance(ctx)
        pairs: list[PreferencePair] = []
        counts = {"images": len(images), "from_file": 0, "injected_by_rule": 0, "no_truth": 0}
        for ref in images:
            if ref.id in records:
                for q, c, r in records[ref.id]:
                    pairs.append(PreferencePair.for_image(ref, q, c, r, "qa", dict(base, source="stage1_file")))
                    counts["from_file"] += 1
                continue
            truth = ctx.annotations(ref) if ctx.annotations else []
            if not truth or not ref.id.startswith("synthetic/"):
                counts["no_truth"] += 1
                continue
            from harness.images.sources import parse_synthetic_id
            from harness.images.synthetic import make_scene

            question, answer = truth[0]
            rejected, change = inject(make_scene(*parse_synthetic_id(ref.id)))
            prov = dict(base, source="ground truth: the scene's caption", injected=f"by rule, {change}")
            pairs.append(PreferencePair.for_image(ref, question or cfg.prompt, answer, rejected, "des", prov))
            counts["injected_by_rule"] += 1
        counts["pairs"] = len(pairs)
        where = "stage1_file" if cfg.stage1_file else "the scene captions, hallucinations injected by rule"
        stage = " then ".join(s.summary for s in self.training_stages())
        return PreferenceSet(pairs, counts, {"stage": stage, "pairs_from": where})

    def _self_chosen(self, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        """The deviation for unlabeled images: chosen = the policy's greedy answer; no stage 1."""
        cfg = self.config
        log = StepLog()
        base = self.provenance(ctx)
        own: list[tuple[int, str]] = []
        for i, ref in enumerate(images):
            qs = list(getattr(ref, "questions", ()))
            rng = random.Random(stable_seed("povid-q", ctx.seed, ctx.iteration, ref.id))
            own.append((i, rng.choice(qs) if qs else cfg.prompt))
        pictures = {i: ctx.open_image(images[i]) for i, _ in own}
        reqs = [GenerationRequest(pictures[i], q, max_new_tokens=cfg.max_new_tokens) for i, q in own]
        with log.step("chosen", len(reqs), calls=1 if reqs else 0) as st:
            chosen = backend.generate(reqs, desc="povid: clean answers") if reqs else []
            st["generated_tokens"] = count_tokens(backend, chosen)
        rejected = [""] * len(own)
        seeds = [stable_seed("povid-noise", ctx.seed, ctx.iteration, images[i].id) for i, _ in own]
        if cfg.negative == "generate_on_noise" and own:
            noisy = [
                GenerationRequest(pictures[i], q, noise_step=cfg.noise_step, seed=s, max_new_tokens=cfg.max_new_tokens)
                for (i, q), s in zip(own, seeds)
            ]
            with log.step("noised", len(noisy)) as st:
                rejected = backend.generate(noisy, desc=f"povid: answers at t={cfg.noise_step}")
                st["generated_tokens"] = count_tokens(backend, rejected)
        pairs = []
        for (i, q), c, r, s in zip(own, chosen, rejected, seeds):
            if is_garbage(c) or (cfg.negative == "generate_on_noise" and (is_garbage(r) or r.strip() == c.strip())):
                continue
            negative = (
                f"in the loss: argmax tokens under the image noised at t={cfg.noise_step}, teacher-forced along the "
                "chosen answer"
                if cfg.negative == "argmax_teacher_forced"
                else f"greedy answer on the image noised at t={cfg.noise_step} (seed {s})"
            )
            prov = dict(base, source="self", negative=negative)
            pairs.append(PreferencePair.for_image(images[i], q, c.strip(), r.strip(), "qa", prov))
        counts = {"images": len(images), "self_prompts": len(own), "pairs": len(pairs)}
        stage = "2 alone (chosen=self, a deviation): the chosen answers are the policy's own"
        if cfg.negative == "generate_on_noise":
            stage += "; negative = greedy answer on the noised image, plain DPO (deviation)"
        return PreferenceSet(pairs, counts, log.stats(stage=stage))


def _source_name(source) -> str:
    desc = source.describe()
    return str(desc.get("json") or desc.get("annotations") or desc.get("root") or desc.get("kind"))


def povid_describe_task(scene, rng: random.Random) -> list:
    """Warm-up: POVID's description prompt → the scene's caption."""
    from harness.policy.warmup_tasks import WarmupExample

    return [WarmupExample(DESCRIBE, scene.caption())]


@hookimpl
def harness_methods() -> list[type]:
    return [Povid]


@hookimpl
def harness_warmup_tasks() -> list:
    return [povid_describe_task]
