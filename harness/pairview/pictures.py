"""The pictures of the pair viewer: each pair's image, and its noised version where the method used one.

The clean image comes from the run's image source (``harness.images``: a synthetic scene is drawn
again from its id, a file is read from its path), as PNG, at most ``MAX_SIDE`` pixels a side.

The noised image is reproduced as the model was fed it (harness/backends/hf.py; in the loss,
harness/train/objective_batch.py): the image padded to a square with the processor's mean colour
(LLaVA-1.5's ``expand2square``), turned into the pixel tensor by the image processor of the checkpoint
that generated the pair, noised by ``harness.noise.add_noise`` with the pair's step and seed (or, for an
objective whose ``noise_space`` is ``pixel_unclamped``, the raw image noised first), then un-normalised
and clipped to [0, 1] to be shown (the model saw it unclipped). Where the seed or the checkpoint is not
there, a note says so; ``noise_plan`` decides what a pair's noise is from what the pair and the run
record (docs/noise.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

MAX_SIDE = 512


@dataclass(frozen=True)
class NoisePlan:
    """A pair's noised image: its step and seed (None: it cannot be reproduced, ``note`` says why)."""

    step: int | None
    seed: int | None
    note: str
    space: str = "normalised"  # where the noise is added (TrainingObjective.noise_space)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def noise_plan(pair: dict[str, Any], objective: dict[str, Any] | None) -> NoisePlan | None:
    """How ``pair``'s image was noised, from what it records (None: the pair records no noise).

    1. ``provenance.noise_step`` and ``noise_seed``: the method generated an answer from that noised image.
    2. The training objective's noise-negative term (``noise_negative_weight`` > 0): the trainer noises
       the image in the loss at ``noise_negative_step`` with the pair's own seed (harness/train/objective_batch.py).
    3. Any other noise or corruption the pair records (where it records none: its method's config sets),
       without a seed: not reproducible, and the note says so.
    """
    prov = pair.get("provenance") if isinstance(pair.get("provenance"), dict) else {}
    step, seed = prov.get("noise_step"), prov.get("noise_seed")
    if _is_int(step) and _is_int(seed):
        return NoisePlan(step, seed, f"noised at t={step} (seed {seed}), the image the method generated from")
    if objective and objective.get("noise_negative_weight") and _is_int(objective.get("noise_negative_step")):
        from harness.train.objective_batch import pair_seed

        t, space = objective["noise_negative_step"], str(objective.get("noise_space") or "normalised")
        example = {"image_ref": pair["image"], "prompt": pair["prompt"], "chosen": pair["chosen"]}
        note = f"noised at t={t} ({space}) in the loss (the objective's noise-negative term)"
        return NoisePlan(t, pair_seed(example), note, space)
    # the pair's own record decides (a null corruption: a clean image); without one, the method's config
    own = {k: v for k, v in prov.items() if re.search("noise|corrupt", k)}
    config = prov.get("config") if isinstance(prov.get("config"), dict) else {}
    said = own or {f"config.{k}": v for k, v in config.items() if re.search("noise|corrupt", k)}
    said = {k: v for k, v in said.items() if v not in (None, False, "", 0)}
    if said:
        what = ", ".join(f"{k}={v}" for k, v in sorted(said.items()))
        return NoisePlan(
            None,
            None,
            f"not reproducible: the pair records {what} but no noise seed, so the viewer cannot redraw its image",
        )
    return None


def _name(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:16] + ".png"


class Pictures:
    """Writes the PNGs into ``folder`` (once per image or noised image) and returns their names there."""

    def __init__(self, source: dict[str, Any], folder: Path, fallback_checkpoints: list[Path]):
        self.description = source
        self._source = None  # built on first use: only images without a file need it (synthetic scenes)
        self.folder = Path(folder)
        self.fallback = [Path(p) for p in fallback_checkpoints]
        self._processors: dict[str, Any] = {}
        self._written: set[str] = set()

    def _open(self, pair: dict[str, Any]):
        """The pair's image as the method opened it: its file, or the run's image source (a synthetic scene
        is drawn again from its id)."""
        from PIL import Image

        from harness.images.sources import ImageRef, source_from_description

        if pair.get("image_path"):
            with Image.open(pair["image_path"]) as im:
                return im.convert("RGB")
        if self._source is None:
            self._source = source_from_description(self.description)
        return self._source.open(ImageRef(pair["image"]))

    def _save(self, name: str, image) -> str:
        if name not in self._written:
            image.save(self.folder / name, format="PNG")
            self._written.add(name)
        return name

    def clean(self, pair: dict[str, Any]) -> tuple[str | None, str | None]:
        """(file name, None), or (None, why the image cannot be shown)."""
        name = _name("clean", pair["image"], pair.get("image_path"))
        if name in self._written:
            return name, None
        try:
            image = self._open(pair)
        except (OSError, ValueError, HarnessError) as exc:
            return None, f"image not readable here: {exc}"
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        return self._save(name, image), None

    def _processor(self, pair: dict[str, Any]):
        """The image processor of the checkpoint that generated ``pair`` (the fallbacks where it is gone)."""
        prov = pair.get("provenance") if isinstance(pair.get("provenance"), dict) else {}
        candidates = ([Path(str(prov["checkpoint"]))] if prov.get("checkpoint") else []) + self.fallback
        for path in candidates:
            key = str(path)
            if key not in self._processors:
                self._processors[key] = _load_processor(path)
            if self._processors[key] is not None:
                return key, self._processors[key]
        tried = ", ".join(str(p) for p in candidates) or "none recorded"
        raise HarnessError(f"no image processor of the generating checkpoint on this machine (looked in: {tried})")

    def noised(self, pair: dict[str, Any], plan: NoisePlan) -> tuple[str | None, str | None]:
        """(file name, None), or (None, why the noised image cannot be shown)."""
        if plan.step is None or plan.seed is None:
            return None, plan.note
        try:
            where, processor = self._processor(pair)
            name = _name("noised", pair["image"], pair.get("image_path"), plan.step, plan.seed, plan.space, where)
            if name in self._written:
                return name, None
            image = noised_view(self._open(pair), processor, plan)
        except (OSError, ValueError, HarnessError) as exc:
            return None, f"noised image not reproduced: {exc}"
        return self._save(name, image), None


def _load_processor(path: Path):
    if not path.is_dir():
        return None
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError):
        return None


def noised_view(image, processor, plan: NoisePlan):
    """The noised pixel tensor the model was fed, as a PIL image (clipped to [0, 1] to be shown).

    ``normalised``: the seeded noise added to the processor's tensor of the padded image (the generation
    backends, and the loss by default); ``pixel_unclamped``: the raw image noised and cast back without
    clamping (``harness.noise.raw_pixel_noise_unclamped``), then padded and processed like a clean one."""
    import numpy as np
    import torch
    from PIL import Image

    from harness import noise
    from harness.policy.padding import expand_to_square

    mean, std = processor.image_mean, processor.image_std
    if plan.space == "pixel_unclamped":
        image = noise.raw_pixel_noise_unclamped(image, plan.step, plan.seed)
    elif plan.space != "normalised":
        raise HarnessError(f"noise space {plan.space!r} is unknown to this viewer")
    pixels = processor(images=[expand_to_square(image, mean)], return_tensors="pt")["pixel_values"][0].float()
    if plan.space == "normalised":
        pixels = noise.add_noise(pixels, plan.step, plan.seed)
    shown = pixels * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
    array = (shown.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array)
