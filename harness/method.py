"""The method contract. Methods live in methods/ and register through pluggy.

A method turns a policy (through a generation backend) and a set of unlabeled images into
preference pairs, and says which training objective it wants. Its config is a dataclass whose
defaults are the paper's; ``--set key=value`` overrides fields, and named variants bundle
overrides (e.g. a paper's ablation rows).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from harness.errors import HarnessError


@dataclass
class PreferencePair:
    image: str  # image id within its source
    prompt: str  # the user prompt (no conversation template)
    chosen: str
    rejected: str
    kind: str = "qa"  # "des" (a description: the alignment term applies), "gen" (generated question), "qa"
    image_path: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreferencePair:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    @classmethod
    def for_image(
        cls, ref: Any, prompt: str, chosen: str, rejected: str, kind: str, provenance: dict[str, Any]
    ) -> PreferencePair:
        """A pair about the image ``ref`` (an ``ImageRef``): its id, and its file path where it has one."""
        return cls(ref.id, prompt, chosen, rejected, kind, getattr(ref, "path", None), provenance)


@dataclass
class PreferenceSet:
    """Pairs plus bookkeeping. ``counts``: the number remaining after each step and filter, in order.

    A method that writes its own questions reports them in ``stats["questions"]`` (``generated``: the
    questions it kept from its own outputs, ``well_formed``: how many of them read as a question) and
    marks each pair whose prompt is one of them with ``provenance["question_well_formed"]`` (a bool); the
    leaderboard's pair table shows both shares (harness/report/questions.py)."""

    pairs: list[PreferencePair]
    counts: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingObjective:
    """What the trainer optimises for a method's pairs.

    ``align_weight``: weight of the image-content alignment term (length-normalised NLL of the
    chosen description); 0 disables it. ``align_norm``: "batch" averages over the whole micro-batch
    with zeros for non-description pairs (the official code), "des" over description pairs only.
    ``duplicate``: how many times each pair is repeated in the epoch (e.g. 2).
    ``align_kinds``: the pair kinds the alignment term applies to (default ``("des",)``: description
    pairs; a method may also align ``"gen"`` pairs, or both).
    """

    beta: float = 0.1
    align_weight: float = 0.0
    align_norm: str = "batch"
    duplicate: int = 1
    align_kinds: tuple[str, ...] = ("des",)
    # Extra terms (harness/train/objectives.py); the defaults are plain DPO, as before they existed.
    # ``name``: a label recorded with the run ("dpo", "mdpo", ...). ``dpo_weight``: the DPO term on
    # (chosen, rejected); pairs with an empty rejected answer get none. ``sft_weight``: −w·Σ log π(y_w)
    # (summed over the chosen answer's tokens). ``rejected_score``: "likelihood", or "top_alternative"
    # (the summed log-prob of the most likely token other than the rejected answer's own, per position).
    # ``copo_weight``/``anchor_weight``/``anchor_delta``/``crop_scale``: the image-conditional term
    # (chosen answer, original vs randomly cropped image) and reward anchor. ``noise_negative_weight``/
    # ``noise_negative_step``: a negative built in the loss, the policy's argmax tokens under the image
    # noised at that diffusion step, teacher-forced along the chosen answer and scored on the clean image.
    name: str = "dpo"
    dpo_weight: float = 1.0
    sft_weight: float = 0.0
    rejected_score: str = "likelihood"
    copo_weight: float = 0.0
    anchor_weight: float = 0.0
    anchor_delta: float = 0.0
    crop_scale: tuple[float, float] = (0.01, 0.2)
    noise_negative_weight: float = 0.0
    noise_negative_step: int = 500
    # ``noise_space``: where the negative's noise is applied: "normalised" (the processed pixel tensor, as
    # the self-evolution methods' noise) or "pixel_unclamped" (the raw [0, 1] image before preprocessing, cast back to uint8
    # without clamping: as one released trainer does, harness/noise.py ``raw_pixel_noise_unclamped``).
    noise_space: str = "normalised"
    # ``sft_norm``: the SFT term as "sum" (−Σ_t log π(y_w,t) per pair, then the batch mean) or "token_mean"
    # (the mean over every answer token of the batch: a plain supervised fine-tuning loss).
    sft_norm: str = "sum"


@dataclass(frozen=True)
class TrainingStage:
    """One training step of an iteration. Most methods train once (DPO on the iteration's pairs); some
    train twice per iteration, the second from the first's result (e.g. DPO then a
    second DPO stage, or preference training then supervised fine-tuning).

    ``objective``: what this stage optimises. ``recipe``: TrainConfig overrides for this stage on top of
    the method's ``train_recipe()`` (e.g. ``{"epochs": 3.0}``). ``pairs``: ``"synthesized"``, the
    iteration's pairs; ``"own"``, pairs the method builds for this stage with ``Method.stage_pairs``
    from the checkpoint the stage starts from. ``summary``: what the stage does and on which data, shown
    by ``harness methods NAME``.
    """

    name: str
    objective: TrainingObjective
    recipe: dict[str, Any] = field(default_factory=dict)
    pairs: str = "synthesized"
    summary: str = ""


@dataclass
class SynthesisContext:
    """Where and how a method runs: the seed, the iteration, the generating checkpoint, image access."""

    seed: int
    iteration: int
    checkpoint: str
    open_image: Any  # callable ImageRef -> PIL.Image
    progress: bool = True
    base_model: str | None = None  # θ0 as the user named it ("tiny" for the built-in model)
    # callable ImageRef -> [(question or None, answer)]: the image source's ground truth (ImageSource.annotations)
    annotations: Any = None
    run_seed: int | None = None  # the run's --seed (``seed`` mixes in the iteration); None: not known, use ``seed``


class Method(ABC):
    """Base class of every method plugin."""

    name: ClassVar[str]
    description: ClassVar[str]  # one line, shown by `harness methods`
    Config: ClassVar[type]  # a dataclass; defaults reproduce the paper
    variants: ClassVar[dict[str, dict[str, Any]]] = {}  # named bundles of overrides
    reported: ClassVar[tuple] = ()  # harness.benchmark.ReportedNumbers: this method's published numbers
    reproductions: ClassVar[tuple] = ()  # harness.reproduce.Reproduction: published tables `harness reproduce` re-runs
    images_per_iter: ClassVar[int | None] = None  # the paper's images per iteration at real scale (None: 6000)
    validation_only: ClassVar[bool] = False  # a control (not a paper's method): listed apart

    def __init__(self, config: Any | None = None):
        self.config = config if config is not None else self.Config()
        validate = getattr(self.config, "validate", None)
        if validate:
            validate()

    @abstractmethod
    def synthesize(self, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        """Build preference pairs for ``images`` with the policy behind ``backend``.

        Every step runs for all images as one batched backend call.
        """

    def objective(self) -> TrainingObjective:
        return TrainingObjective()

    def training_stages(self) -> tuple[TrainingStage, ...]:
        """The iteration's training steps, in order; the default is one: ``objective()`` on the pairs."""
        return (TrainingStage("dpo", self.objective(), summary="DPO on the iteration's pairs"),)

    def stage_pairs(self, stage: str, backend, images: Sequence, ctx: SynthesisContext) -> PreferenceSet:
        """The pairs of a stage declared with ``pairs="own"``, made with the checkpoint the stage starts
        from (``ctx.checkpoint``) on the iteration's images."""
        raise NotImplementedError(
            f"method {self.name!r} declares stage {stage!r} with its own pairs but no stage_pairs"
        )

    def check_images(self, source: Any) -> None:
        """Refuse, before any work, an image source this method cannot use (raise HarnessError naming it and
        what would do); the default accepts any."""
        return None

    def image_plan(self, per_iter: int) -> Any:
        """How this method draws its images per iteration (a ``harness.images.ImagePlan``), e.g. equal
        counts from each source of a LLaVA-665k file, or one fixed set for every iteration
        (``same_every_iteration``); None: new images uniformly from the whole pool every iteration."""
        return None

    def estimate_generations(self, images: int) -> int | None:
        """About how many generations ``synthesize`` makes for ``images`` images (dry runs); None: unknown."""
        return None

    @classmethod
    def data_sources(cls) -> list:
        """Released files this method can use (``harness.benchmark.DataSource``, e.g. a paper's preference
        data), which ``harness data pull <method>`` fetches into ``data/<method>/`` as it does a benchmark's;
        each ``note`` says how to use the file. The default: none."""
        return []

    def train_recipe(self) -> dict[str, Any]:
        """The paper's training recipe as TrainConfig field overrides (e.g. ``{"lora": True,
        "lr_scheduler": "cosine"}``), applied over TrainConfig's defaults; the user's
        ``--train key=value`` overrides it in turn. Empty: TrainConfig's defaults."""
        return {}

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.config_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def provenance(self, ctx: SynthesisContext, **extra: Any) -> dict[str, Any]:
        """What every pair records of where it came from: this method, the generating checkpoint, the
        seed, the iteration and the config (with its hash), then ``extra``. Build it once per call of
        ``synthesize`` and extend it per pair with ``dict(base, key=value)``."""
        return {
            "method": self.name,
            "checkpoint": ctx.checkpoint,
            "seed": ctx.seed,
            "iteration": ctx.iteration,
            "config": self.config_dict(),
            "config_hash": self.config_hash(),
            **extra,
        }


def _coerce(field_type: Any, raw: str, key: str) -> Any:
    t = (
        field_type
        if isinstance(field_type, type)
        else {"bool": bool, "int": int, "float": float, "str": str}.get(str(field_type).replace("'", ""), None)
    )
    if t is bool:
        low = raw.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise HarnessError(f"--set {key}={raw}: expected true or false")
    if t in (int, float):
        try:
            return t(raw)
        except ValueError:
            raise HarnessError(f"--set {key}={raw}: expected a{'n integer' if t is int else ' number'}") from None
    if t is str or t is None:
        return raw
    raise HarnessError(f"--set {key}: option of type {field_type} cannot be set from the command line")


def build_config(method_cls: type[Method], overrides: Sequence[str] = (), variant: str | None = None) -> Any:
    """A method config from its defaults, an optional named variant, then ``key=value`` overrides.

    Unknown keys, variants or bad values raise HarnessError listing what is accepted.
    """
    cfg_cls = method_cls.Config
    fields = {f.name: f for f in dataclasses.fields(cfg_cls)}
    values: dict[str, Any] = {}
    if variant:
        if variant not in method_cls.variants:
            known = ", ".join(sorted(method_cls.variants)) or "none"
            raise HarnessError(f"method {method_cls.name!r} has no variant {variant!r}; variants: {known}")
        values.update(method_cls.variants[variant])
    for item in overrides:
        if "=" not in item:
            raise HarnessError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in fields:
            raise HarnessError(
                f"--set {key}: unknown option of method {method_cls.name!r}; accepted: {', '.join(sorted(fields))}"
            )
        values[key] = _coerce(fields[key].type, raw, key)
    config = cfg_cls(**values)
    validate = getattr(config, "validate", None)
    if validate:
        validate()
    return config
