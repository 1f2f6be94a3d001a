"""POVID: Preference Optimization in VLLM with AI-generated Dispreferences (Zhou et al. 2024,
arXiv 2402.11411; official code YiyangZhou/POVID @ 92c7c67, ``tool/dpo_trainer_inherent.py`` and
``llava/train/train_dpo_inherent.py``).

POVID trains in two stages. Stage 1: DPO on (ground-truth answer, GPT-4V-hallucinated answer) pairs
from a file. Stage 2: from the merged stage-1 model, every step also builds an "inherent
hallucination" negative in the loss: the model's argmax tokens under the image noised at diffusion
step t = 500, teacher-forced along the chosen answer and scored on the clean image (harness/train/
objectives.py, ``noise_negative_weight``); L = 0.5·L_self + 0.5·L_ai, where L_ai is the stage-1 DPO
on the file's pairs.

This plugin:
- ``stage1_file`` (a POVID-format JSON: ``[{"id", "image", "conversations": [human, gpt],
  "rejected_conversations": [human, gpt]}]``) given: the iteration's images that have records in it
  (matched by the ``image`` field, the id a LLaVA-JSON image source gives them, e.g. ``--images`` the
  same file) give their pairs; the loss is 0.5·L_self + 0.5·L_ai, as POVID's stage 2.
- no ``stage1_file`` (the default; POVID's GPT-4V pairs are not self-generated): the second stage
  alone. The chosen answer is the policy's own greedy answer on the clean image (POVID's is the
  LLaVA-Instruct ground truth, which unlabeled images do not have); the pair has no rejected answer
  (the negative is built in the loss) and the loss is L_self with weight 1. The run's stats.json says
  so under ``stage``, and the manifest's objective shows ``dpo_weight`` 0.
- images without a record in the file are treated as in the no-file case.

Options (``--set``): ``negative`` = ``argmax_teacher_forced`` (the code, default) or
``generate_on_noise`` (a SeVa-like deviation: the greedy answer on the noised image as an ordinary
rejected answer, plain DPO); ``stage`` = ``2`` (default) or ``1`` (plain DPO on the file's pairs
only, 3 epochs: POVID's first stage; then pass its checkpoint as ``--model`` for stage 2);
``noise_step`` (500); ``prompt`` (the description prompt for unannotated images: POVID's data
example ``Describe this image in detail.``); ``objective`` = ``dpo`` or ``mdpo``.

Deviations: the noise is the harness's seeded diffusion noise on the normalised pixel tensor, one
draw per pair shared by policy and reference (the release noises the raw [0, 1] image before
preprocessing, unclamped, with a fresh unseeded draw on every load); generation is greedy.
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
from harness.method import Method, PreferencePair, PreferenceSet, SynthesisContext, TrainingObjective
from harness.noise import NUM_STEPS
from harness.plugins import hookimpl
from methods.common.pairs import StepLog, count_tokens, is_garbage, stable_seed

DESCRIBE = "Describe this image in detail."  # POVID's data example (YiyangZhou/POVID README, stage-1 format)
NEGATIVES = ("argmax_teacher_forced", "generate_on_noise")
STAGES = ("1", "2")
OBJECTIVES = ("dpo", "mdpo")


@dataclass
class PovidConfig:
    stage1_file: str = ""  # POVID-format JSON of GPT-4V-made pairs; "" = none (stage 2 alone)
    stage: str = "2"  # "2": POVID's second stage (default); "1": plain DPO on the file's pairs
    negative: str = "argmax_teacher_forced"  # or generate_on_noise (a documented deviation)
    noise_step: int = 500
    prompt: str = DESCRIBE
    objective: str = "dpo"
    max_new_tokens: int = 512

    def validate(self) -> None:
        for key, accepted in (("negative", NEGATIVES), ("stage", STAGES), ("objective", OBJECTIVES)):
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
        if str(self.stage) == "1" and not self.stage1_file:
            raise HarnessError("povid option stage=1 trains on the GPT-4V pairs only: set stage1_file=<POVID json>")
        if self.stage1_file and not Path(self.stage1_file).is_file():
            raise HarnessError(f"povid option stage1_file={self.stage1_file}: no such file")
        if not str(self.prompt).strip():
            raise HarnessError("povid option prompt: must not be empty")


def _turn(entry: dict, key: str, who: str, path: str, index: int) -> str:
    turns = entry.get(key)
    if not isinstance(turns, list):
        raise HarnessError(f"{path}: entry {index}: {key!r} must be a list of turns")
    for turn in turns:
        if isinstance(turn, dict) and turn.get("from") == who and isinstance(turn.get("value"), str):
            return turn["value"]
    raise HarnessError(f"{path}: entry {index}: {key!r} has no {who!r} turn")


def load_stage1_pairs(path: str) -> dict[str, list[tuple[str, str, str]]]:
    """{image: [(question, chosen, rejected)]} from a POVID-format pair file."""
    from harness.atomic import read_json

    data = read_json(Path(path))
    if not isinstance(data, list):
        raise HarnessError(f"{path}: expected a JSON list of POVID pairs")
    out: dict[str, list[tuple[str, str, str]]] = {}
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not entry.get("image"):
            raise HarnessError(f"{path}: entry {i}: expected an object with an 'image' field")
        question = _turn(entry, "conversations", "human", path, i)
        question = question.replace("<image>\n", "").replace("\n<image>", "").replace("<image>", "").strip()
        chosen = _turn(entry, "conversations", "gpt", path, i)
        rejected = _turn(entry, "rejected_conversations", "gpt", path, i)
        out.setdefault(str(entry["image"]), []).append((question, chosen.strip(), rejected.strip()))
    return out


class Povid(Method):
    name = "povid"
    description = (
        "POVID (arXiv 2402.11411): argmax tokens under a t=500 noised image, teacher-forced, as the "
        "negative; + DPO on GPT-4V pairs from a file"
    )
    Config = PovidConfig
    variants: ClassVar[dict] = {
        "generate_on_noise": {"negative": "generate_on_noise"},
        "stage1": {"stage": "1"},
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

    def _has_file(self) -> bool:
        return bool(self.config.stage1_file)

    def objective(self) -> TrainingObjective:
        cfg = self.config
        if str(cfg.stage) == "1" or cfg.negative == "generate_on_noise":
            obj = TrainingObjective(beta=0.1, name="povid-stage1" if str(cfg.stage) == "1" else "povid-noised-dpo")
        else:
            with_file = self._has_file()
            obj = TrainingObjective(
                beta=0.1,
                name="povid",
                dpo_weight=0.5 if with_file else 0.0,
                noise_negative_weight=0.5 if with_file else 1.0,
                noise_negative_step=cfg.noise_step,
            )
        if cfg.objective == "mdpo":
            from harness.train.objectives import with_mdpo

            obj = with_mdpo(obj)
        return obj

    def train_recipe(self) -> dict:
        """YiyangZhou/POVID scripts/run_dpo.sh (stage 1, 3 epochs) and run_povid.sh (stage 2, 1 epoch): LoRA r 128/
        α 256 on the LLM, lr 1e-7, cosine, warm-up 3 %; the projector frozen. The global batch is not stated."""
        return {
            "lora": True,
            "lora_r": 128,
            "lora_alpha": 256,
            "lora_train_projector": False,
            "learning_rate": 1e-7,
            "lr_scheduler": "cosine",
            "warmup_ratio": 0.03,
            "epochs": 3.0 if str(self.config.stage) == "1" else 1.0,
        }

    def synthesize(self, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        cfg = self.config
        log = StepLog()
        records = load_stage1_pairs(cfg.stage1_file) if self._has_file() else {}
        base = self.provenance(ctx)
        pairs: list[PreferencePair] = []
        own: list[tuple[int, str]] = []  # (image index, prompt) answered by the policy
        for i, ref in enumerate(images):
            recs = records.get(ref.id, [])
            for q, c, r in recs:
                if not is_garbage(c) and not is_garbage(r):
                    pairs.append(PreferencePair.for_image(ref, q, c, r, "qa", dict(base, source="stage1_file")))
            if not recs and str(cfg.stage) == "2":
                qs = list(getattr(ref, "questions", ()))
                prompt = (
                    random.Random(stable_seed("povid-q", ctx.seed, ctx.iteration, ref.id)).choice(qs)
                    if qs
                    else cfg.prompt
                )
                own.append((i, prompt))
        counts = {"images": len(images), "file_pairs": len(pairs), "self_prompts": len(own)}
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
        kept = 0
        for (i, q), c, r, s in zip(own, chosen, rejected, seeds):
            if is_garbage(c) or (cfg.negative == "generate_on_noise" and (is_garbage(r) or r.strip() == c.strip())):
                continue
            kept += 1
            negative = (
                f"in the loss: argmax tokens under the image noised at t={cfg.noise_step}, teacher-forced along the chosen "
                "answer"
                if cfg.negative == "argmax_teacher_forced"
                else f"greedy answer on the image noised at t={cfg.noise_step} (seed {s})"
            )
            provenance = dict(base, source="self", negative=negative)
            pairs.append(PreferencePair.for_image(images[i], q, c.strip(), r.strip(), "qa", provenance))
        counts["self_valid"] = kept
        counts["pairs"] = len(pairs)
        if str(cfg.stage) == "1":
            stage = "1: plain DPO on the stage1_file pairs"
        elif self._has_file():
            stage = "2 with the stage-1 pairs: 0.5·L_self + 0.5·L_ai (images without a record: L_self only)"
        else:
            stage = "2 alone (no stage1_file): L_self only, the chosen answers are the policy's own"
        if cfg.negative == "generate_on_noise":
            stage += "; negative = greedy answer on the noised image, plain DPO (deviation)"
        return PreferenceSet(pairs, counts, log.stats(stage=stage))


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
