"""``oracle``: a positive control for the self-evolution loop, not a method from a paper.

On the built-in synthetic scenes the true content of every image is known, so the best possible
preference pair can be built without asking the model anything about the image: chosen = the scene's
true description (its caption, harness/images/synthetic.py), rejected = the policy's own description of
the image corrupted by the diffusion forward process at step ``noise_step`` (as SeVa builds its
rejected answers). If the loop (pairs → reference log-probs → DPO) works, training on these pairs must
lower the policy's hallucination on held-out scenes; if a regression breaks pair construction, the
trainer or the loss, this control stops moving and its test fails (docs/proving-ground.md).

It needs synthetic scene images (``--images synthetic[:namespace]``, the default) and refuses any other
source. ``validation_only``: listed apart from the papers' methods.

Options: ``prompts_per_image`` (how many of the warm-up's describe prompts get a pair per image),
``existence`` (also a pair per shape kind for "Is there a {kind} in this image?", chosen = the true
Yes/No, rejected = the policy's answer on the noised image when it differs), ``sft_weight`` (an NLL
term on the chosen answer summed over its tokens; 1.0), ``epochs`` (epochs over the pairs per
iteration; 3).

The control's measured run (docs/proving-ground.md): ``harness evolve --method oracle --iters 1
--images-per-iter 384`` lowers the tiny model's shapes CHAIR by 5.4 points (paired bootstrap p < 0.001);
at the tiny model's default scale (128 images, lr 5e-5) one iteration lowers it by 3.4 (p = 0.008), and
at 32 images and lr 1e-5 (the defaults before) by nothing measurable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from harness.backends.base import GenerationRequest
from harness.errors import HarnessError
from harness.images.synthetic import SHAPES, Scene, make_scene
from harness.method import Method, PreferencePair, PreferenceSet, SynthesisContext, TrainingObjective
from harness.noise import NUM_STEPS
from harness.plugins import hookimpl
from harness.policy.warmup_tasks import DESCRIBE_PROMPTS
from methods.common.pairs import StepLog, count_tokens, is_garbage, stable_seed

EXISTENCE_PROMPT = "Is there a {kind} in this image?"


@dataclass
class OracleConfig:
    noise_step: int = 500  # diffusion step t of the rejected answer's image
    prompts_per_image: int = len(DESCRIBE_PROMPTS)
    existence: bool = False
    sft_weight: float = 1.0  # NLL of the true description beside DPO (a control, not a paper's recipe)
    epochs: float = 3.0
    max_new_tokens: int = 64

    def validate(self) -> None:
        if (
            isinstance(self.noise_step, bool)
            or not isinstance(self.noise_step, int)
            or not 0 <= self.noise_step < NUM_STEPS
        ):
            raise HarnessError(
                f"oracle option noise_step={self.noise_step!r}: accepted values are integers 0-{NUM_STEPS - 1}"
            )
        if not isinstance(self.prompts_per_image, int) or not 1 <= self.prompts_per_image <= len(DESCRIBE_PROMPTS):
            raise HarnessError(
                f"oracle option prompts_per_image={self.prompts_per_image!r}: accepted values are "
                f"integers 1-{len(DESCRIBE_PROMPTS)}"
            )
        if not isinstance(self.sft_weight, (int, float)) or self.sft_weight < 0:
            raise HarnessError(f"oracle option sft_weight={self.sft_weight!r}: accepted values are numbers >= 0")
        if not isinstance(self.epochs, (int, float)) or self.epochs <= 0:
            raise HarnessError(f"oracle option epochs={self.epochs!r}: accepted values are numbers > 0")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise HarnessError(
                f"oracle option max_new_tokens={self.max_new_tokens!r}: accepted values are integers >= 1"
            )


def scene_of(image_id: str) -> Scene:
    """The scene behind a synthetic image id ``synthetic/<namespace>/<index>``."""
    parts = image_id.split("/")
    if len(parts) != 3 or parts[0] != "synthetic" or not parts[2].isdigit():
        raise HarnessError(
            f"oracle: image {image_id!r} is not a synthetic scene (synthetic/<namespace>/<index>); "
            f"the oracle knows the true content of synthetic scenes only (--images synthetic)"
        )
    return make_scene(parts[1], int(parts[2]))


class Oracle(Method):
    name = "oracle"
    description = (
        "Positive control (validation only): chosen = the synthetic scene's true description, "
        "rejected = the policy's description of the noised image"
    )
    Config = OracleConfig
    variants: ClassVar[dict] = {"with_existence": {"existence": True}}
    validation_only = True

    def objective(self) -> TrainingObjective:
        return TrainingObjective(
            beta=0.1, name="dpo+sft" if self.config.sft_weight else "dpo", sft_weight=float(self.config.sft_weight)
        )

    def train_recipe(self) -> dict:
        return {"epochs": float(self.config.epochs)}

    def estimate_generations(self, images: int) -> int:
        return images * (self.config.prompts_per_image + (len(SHAPES) if self.config.existence else 0))

    def synthesize(self, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        cfg = self.config
        log = StepLog()
        scenes = [scene_of(ref.id) for ref in images]
        pictures = [ctx.open_image(ref) for ref in images]
        items: list[tuple[int, str, str, str]] = []  # (image index, kind of pair, prompt, true answer)
        for i, scene in enumerate(scenes):
            for prompt in DESCRIBE_PROMPTS[: cfg.prompts_per_image]:
                items.append((i, "des", prompt, scene.caption()))
            if cfg.existence:
                for kind in SHAPES:
                    items.append(
                        (i, "qa", EXISTENCE_PROMPT.format(kind=kind), "Yes" if kind in scene.objects else "No")
                    )
        seeds = [
            stable_seed("oracle-noise", ctx.seed, ctx.iteration, images[i].id, prompt) for i, _, prompt, _ in items
        ]
        reqs = [
            GenerationRequest(pictures[i], prompt, noise_step=cfg.noise_step, max_new_tokens=cfg.max_new_tokens, seed=s)
            for (i, _, prompt, _), s in zip(items, seeds)
        ]
        with log.step("answer_noised", len(reqs)) as st:
            rejected = backend.generate(reqs, desc=f"oracle: answers at t={cfg.noise_step}") if reqs else []
            st["generated_tokens"] = count_tokens(backend, rejected)
        counts = {"images": len(images), "questions": len(items)}
        base = self.provenance(ctx, noise_step=cfg.noise_step)
        pairs: list[PreferencePair] = []
        for (i, kind, prompt, truth), answer, s in zip(items, rejected, seeds):
            answer = answer.replace("</s>", "").strip()
            if answer == truth or is_garbage(answer):
                continue
            pairs.append(PreferencePair.for_image(images[i], prompt, truth, answer, kind, dict(base, noise_seed=s)))
        counts["differs_from_truth"] = len(pairs)
        return PreferenceSet(pairs, counts, log.stats())


@hookimpl
def harness_methods() -> list[type]:
    return [Oracle]
