"""The judge-free method: "Efficient Self-Improvement in Multimodal Large Language Models: A
Model-Level Judge-Free Approach" (Deng et al., arXiv 2411.17760, COLM 2025).

Per image: a positive answer by plain greedy decoding with the image; a negative by controlled
hallucination (methods/clip_filter/mixing.py: the next-token distribution mixes image-conditioned and
image-free decoding, p = (1 - h)·p_image + h·p_no_image, with h drawn per image from a Gaussian);
a CLIP model scores both answers against the image, and a pair whose negative scores higher is
reversed (or dropped). The pairs are trained with plain DPO.

No code was released, so every detail the paper leaves open is the project's reading, a named
option, with a variant for the other reading:
- ``prompt``: LLaVA's first detailed-description instruction, "Describe the following image in
  detail." (LLaVA, arXiv 2304.08485, the detailed-description instruction list; the paper's
  pairs are captions/descriptions).
- ``mixing`` (the mixing rule): ``probability`` (default), a mixture of the two next-token
  probability distributions, greedy argmax; ``logit`` (variant ``logit_mix``), an interpolation of
  the two log-distributions (the argmax of logit interpolation). Token switching is not offered.
- which side is mixed: by default only the negative; the positive is the h = 0 end, i.e. ordinary
  greedy decoding with the image (``pos_h_mean`` = ``pos_h_std`` = 0). The other reading of "the
  negative uses more unconditional decoding" mixes both answers at different levels: variant
  ``both_mixed`` draws the positive's h from N(0.1, 0.05) and the negative's from N(0.6, 0.2).
- ``h_mean`` = 0.5, ``h_std`` = 0.2 (the Gaussian of the negative's level): h ~ N(h_mean, h_std) per
  image, clipped to [0, 1], seeded by (run seed, iteration, image id). The paper's values are not
  recoverable.
- ``clip_model`` (the verifier): ``auto`` (default) is openai/clip-vit-large-patch14-336 (the CLIP
  of LLaVA-1.5's vision tower; the paper does not name its checkpoint) for a real policy, loaded
  from a local folder or the Hugging Face hub (cache), and the built-in tiny CLIP
  (harness/policy/tiny_clip.py) only with the built-in tiny model; or ``tiny``, a hub id, or a
  local transformers CLIP folder. CLIPScore 2.5·max(cos, 0).
- answers past CLIP's 77-token limit are split into sentences and the sentence scores aggregated
  (``aggregate``: "mean", or "min"); see harness/clip_score.py.
- ``reverse_or_drop``: "reverse" (the abstract's rule) or "drop" (the reviewer summary's
  alternative); a tie keeps the pair as generated.
- filters before scoring: an empty or garbage answer (no letter or digit) drops the pair, and so
  do identical positive and negative (``drop_equal``), which carry no preference signal.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness.backends.base import GenerationRequest
from harness.clip_score import AGGREGATES, DEFAULT_CLIP, ClipScorer
from harness.errors import HarnessError
from harness.method import Method, PreferencePair, PreferenceSet, SynthesisContext, TrainingObjective
from harness.plugins import hookimpl
from methods.clip_filter.mixing import MIXING_RULES, mixed_generate, policy_of
from methods.common.pairs import StepLog, count_tokens, is_garbage, stable_seed

# LLaVA's detailed-description instruction list, first entry (haotian-liu/LLaVA; paper arXiv 2304.08485).
DESCRIBE_PROMPT = "Describe the following image in detail."
REVERSE_OR_DROP = ("reverse", "drop")


@dataclass
class ClipFilterConfig:
    prompt: str = DESCRIBE_PROMPT
    h_mean: float = 0.5  # mean of the hallucination ratio's Gaussian
    h_std: float = 0.2  # its standard deviation; draws are clipped to [0, 1]
    pos_h_mean: float = 0.0  # the positive's level (0 with pos_h_std 0: plain greedy decoding with the image)
    pos_h_std: float = 0.0
    mixing: str = "probability"  # the mixing rule: probability or logit
    clip_model: str = "auto"  # auto (tiny CLIP for the tiny model, else DEFAULT_CLIP), tiny, a hub id or a folder
    reverse_or_drop: str = "reverse"  # what to do when the negative outscores the positive
    aggregate: str = "mean"  # sentence-score aggregation for answers past 77 tokens: mean or min
    max_new_tokens: int = 512
    drop_equal: bool = True  # drop pairs whose positive and negative are identical

    def validate(self) -> None:
        for key in ("h_mean", "h_std", "pos_h_mean", "pos_h_std"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise HarnessError(f"clip_filter option {key}={v!r}: accepted values are numbers in 0-1")
        if self.mixing not in MIXING_RULES:
            raise HarnessError(
                f"clip_filter option mixing={self.mixing!r}: accepted values are {', '.join(MIXING_RULES)}"
            )
        if self.reverse_or_drop not in REVERSE_OR_DROP:
            raise HarnessError(
                f"clip_filter option reverse_or_drop={self.reverse_or_drop!r}: accepted values are "
                f"{', '.join(REVERSE_OR_DROP)}"
            )
        if self.aggregate not in AGGREGATES:
            raise HarnessError(
                f"clip_filter option aggregate={self.aggregate!r}: accepted values are {', '.join(AGGREGATES)}"
            )
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise HarnessError(
                f"clip_filter option max_new_tokens={self.max_new_tokens!r}: accepted values are integers ≥ 1"
            )
        if not str(self.prompt).strip():
            raise HarnessError("clip_filter option prompt: must not be empty")
        if not str(self.clip_model).strip():
            raise HarnessError(
                "clip_filter option clip_model: accepted values are 'auto', 'tiny', a hub id or "
                "a CLIP checkpoint folder"
            )


def is_tiny(ctx: SynthesisContext | None, policy=None) -> bool:
    """Whether the policy descends from the built-in tiny model (θ0 named ``tiny``, or a tiny build folder)."""
    if ctx is not None and "tiny" in (ctx.base_model, ctx.checkpoint):
        return True
    path = getattr(policy, "path", None)
    return path is not None and (Path(path) / "harness_tiny.json").is_file()


def draw_ratio(mean: float, std: float, *parts: object) -> float:
    """h ~ N(mean, std) clipped to [0, 1], seeded by ``parts``."""
    h = random.Random(stable_seed("clip-filter-h", *parts)).gauss(mean, std)
    return min(1.0, max(0.0, h))


class ClipFilter(Method):
    name = "clip_filter"
    description = "judge-free (arXiv 2411.17760): image vs mixed image-free decoding, verified by CLIP"
    Config = ClipFilterConfig
    variants: ClassVar[dict] = {
        "drop": {"reverse_or_drop": "drop"},
        "min": {"aggregate": "min"},
        "logit_mix": {"mixing": "logit"},
        "both_mixed": {"pos_h_mean": 0.1, "pos_h_std": 0.05, "h_mean": 0.6, "h_std": 0.2},
    }

    def __init__(self, config=None, scorer: ClipScorer | None = None):
        super().__init__(config)
        self._scorer = scorer

    def objective(self) -> TrainingObjective:
        return TrainingObjective(beta=0.1)

    def clip_spec(self, ctx: SynthesisContext | None = None, policy=None) -> str:
        """The verifier to load: ``clip_model`` itself, or for ``auto`` the tiny CLIP with the built-in tiny
        model and DEFAULT_CLIP with any other policy."""
        spec = self.config.clip_model
        if spec != "auto":
            return spec
        return "tiny" if is_tiny(ctx, policy) else DEFAULT_CLIP

    def scorer(self, ctx: SynthesisContext | None = None, policy=None) -> ClipScorer:
        if self._scorer is None:
            self._scorer = ClipScorer.load(self.clip_spec(ctx, policy), option="clip_model")
        return self._scorer

    def synthesize(self, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        cfg = self.config
        policy = policy_of(backend)  # fail before generating anything
        log = StepLog()
        pictures = [ctx.open_image(ref) for ref in images]
        ratios = [draw_ratio(cfg.h_mean, cfg.h_std, ctx.seed, ctx.iteration, ref.id) for ref in images]
        pos_ratios = (
            [draw_ratio(cfg.pos_h_mean, cfg.pos_h_std, ctx.seed, ctx.iteration, ref.id, "positive") for ref in images]
            if (cfg.pos_h_mean or cfg.pos_h_std)
            else [0.0] * len(images)
        )
        reqs = [GenerationRequest(pic, cfg.prompt, max_new_tokens=cfg.max_new_tokens) for pic in pictures]
        batch_size = getattr(backend, "batch_size", 16)
        with log.step("positive", len(reqs)) as st:
            if any(pos_ratios):  # both answers mixed, the positive at its lower level
                pos_mixed = mixed_generate(
                    policy,
                    pictures,
                    [cfg.prompt] * len(pictures),
                    pos_ratios,
                    max_new_tokens=cfg.max_new_tokens,
                    batch_size=batch_size,
                    rule=cfg.mixing,
                )
                positives = [m.text for m in pos_mixed]
                st["generated_tokens"] = sum(m.tokens for m in pos_mixed)
            else:
                positives = backend.generate(reqs, desc="clip_filter: positives") if reqs else []
                st["generated_tokens"] = count_tokens(backend, positives)
        with log.step("negative", len(reqs)) as st:
            mixed = (
                mixed_generate(
                    policy,
                    pictures,
                    [cfg.prompt] * len(pictures),
                    ratios,
                    max_new_tokens=cfg.max_new_tokens,
                    batch_size=batch_size,
                    rule=cfg.mixing,
                )
                if reqs
                else []
            )
            negatives = [m.text for m in mixed]
            st["generated_tokens"] = sum(m.tokens for m in mixed)
        counts = {"images": len(images), "generated": len(positives)}
        keep = [i for i in range(len(images)) if not is_garbage(positives[i]) and not is_garbage(negatives[i])]
        counts["valid_text"] = len(keep)
        if cfg.drop_equal:
            keep = [i for i in keep if positives[i] != negatives[i]]
        counts["not_equal"] = len(keep)
        with log.step("clip_score", 2 * len(keep), calls=1 if keep else 0) as st:
            scorer = self.scorer(ctx, policy) if keep else None
            texts = [positives[i] for i in keep] + [negatives[i] for i in keep]
            index = list(range(len(keep))) * 2
            scores = (
                scorer.score([pictures[i] for i in keep], texts, image_index=index, aggregate=cfg.aggregate)
                if keep
                else []
            )
            st["clip_model"] = scorer.name if scorer else self.clip_spec(ctx, policy)
            st["segments"] = sum(s.segments for s in scores)
        n = len(keep)
        base = self.provenance(ctx)
        pairs: list[PreferencePair] = []
        reversed_n = dropped_n = 0
        for k, i in enumerate(keep):
            pos, neg = scores[k], scores[n + k]
            chosen, rejected, flipped = positives[i], negatives[i], False
            if neg.score > pos.score:
                if cfg.reverse_or_drop == "drop":
                    dropped_n += 1
                    continue
                chosen, rejected, flipped = rejected, chosen, True
                reversed_n += 1
            provenance = dict(
                base,
                h_ratio=round(ratios[i], 6),
                h_ratio_positive=round(pos_ratios[i], 6),
                clip_positive=round(pos.score, 6),
                clip_negative=round(neg.score, 6),
                reversed=flipped,
            )
            pairs.append(PreferencePair.for_image(images[i], cfg.prompt, chosen, rejected, "des", provenance))
        counts["verified"] = len(pairs)
        extra = {
            "reversed": reversed_n,
            "dropped_by_clip": dropped_n,
            "h_ratio_mean": round(sum(ratios) / len(ratios), 6) if ratios else None,
        }
        return PreferenceSet(pairs, counts, log.stats(**extra))


def describe_detail_task(scene, rng: random.Random) -> list:
    """Warm-up: the description prompt → the scene's caption."""
    from harness.policy.warmup_tasks import WarmupExample

    return [WarmupExample(DESCRIBE_PROMPT, scene.caption())]


@hookimpl
def harness_methods() -> list[type]:
    return [ClipFilter]


@hookimpl
def harness_warmup_tasks() -> list:
    return [describe_detail_task]
