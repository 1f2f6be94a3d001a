"""CLIP scoring of answers against images (the judge-free method's verifier).

``ClipScorer.load(spec)`` takes a local CLIP checkpoint folder (a transformers ``CLIPModel`` with
its tokenizer and image processor), a Hugging Face hub id (``DEFAULT_CLIP``,
openai/clip-vit-large-patch14-336, the CLIP of LLaVA-1.5's vision tower: read from the local hub
cache first, downloaded only when the hub is reachable and ``HF_HUB_OFFLINE`` is not set), or
``"tiny"``, the built-in offline model (harness/policy/tiny_clip.py). Images go through the
checkpoint's own image processor (PIL backend, no torchvision).

Score: CLIPScore (Hessel et al. 2021) = 2.5 · max(cos(image, text), 0), from the projected
embeddings (``get_*_features(...).pooler_output`` in transformers 5.x).

Long texts: CLIP's text tower reads at most 77 tokens. A text within the limit is scored whole.
A longer one is split into sentences (a regular expression on ``.``, ``!``, ``?`` followed by
whitespace: NLTK's punkt data cannot be downloaded offline), each sentence is scored, and the
sentence scores are aggregated with the mean (default) or the min (one hallucinated sentence
then sinks the answer). A single sentence still past the limit is truncated to 77 tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

AGGREGATES = ("mean", "min")
DEFAULT_CLIP = "openai/clip-vit-large-patch14-336"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
CLIPSCORE_W = 2.5
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``, read now)."""
    import os

    return any(
        os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _load_parts(path: str | Path, option: str):
    """(model, tokenizer, image processor) from a folder, or from a hub id: the local cache first, then the hub."""
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    def load(local_only: bool):
        kw = {"local_files_only": local_only}
        return (
            AutoModel.from_pretrained(path, **kw),
            AutoTokenizer.from_pretrained(path, **kw),
            AutoImageProcessor.from_pretrained(path, **kw),
        )

    try:
        return load(True)
    except (OSError, ValueError, KeyError) as exc:
        if isinstance(path, Path):
            raise HarnessError(f"{option}={path}: failed to load the CLIP checkpoint ({exc})") from None
        first = exc
    if _hub_offline():
        raise HarnessError(
            f"{option}={path}: not in the local Hugging Face cache and the hub is offline (HF_HUB_OFFLINE); "
            f"download it where the hub is reachable (huggingface-cli download {path} --local-dir "
            f"ckpt/{path.split('/')[-1]}) and pass --set {option}=ckpt/{path.split('/')[-1]} ({first})"
        ) from None
    try:
        return load(False)
    except Exception as exc:  # network, authentication or format errors from the hub client
        raise HarnessError(
            f"{option}={path}: cannot be loaded from the Hugging Face hub ({type(exc).__name__}: {exc}); "
            f"download it (huggingface-cli download {path} --local-dir ckpt/{path.split('/')[-1]}) and pass "
            f"--set {option}=ckpt/{path.split('/')[-1]}"
        ) from None


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (split after ``.``, ``!`` or ``?`` followed by whitespace), non-empty."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


@dataclass
class TextScore:
    """The aggregated CLIPScore of one text, and the per-segment cosines it came from."""

    score: float
    cosines: list[float] = field(default_factory=list)

    @property
    def segments(self) -> int:
        return len(self.cosines)


@dataclass
class ClipScorer:
    model: Any
    tokenizer: Any
    image_processor: Any
    name: str
    batch_size: int = 64

    @classmethod
    def load(
        cls,
        spec: str | Path = "tiny",
        *,
        cache_root: Path | None = None,
        device: str | None = None,
        option: str = "clip_model",
    ) -> ClipScorer:
        """A scorer from a CLIP checkpoint folder, a hub id, or ``"tiny"`` (built offline on first use).

        ``option``: the user-facing option that named ``spec``, quoted in errors.
        """
        import torch

        if str(spec) == "tiny":
            from harness.policy.tiny_clip import ensure_tiny_clip

            path: str | Path = ensure_tiny_clip(cache_root)
        elif Path(spec).exists() or not _HUB_ID.match(str(spec)):
            path = Path(spec)
            if not (path / "config.json").is_file():
                raise HarnessError(
                    f"{option}={spec}: not a CLIP checkpoint folder (no config.json); use a local "
                    f"transformers CLIP folder, a hub id such as {DEFAULT_CLIP}, or 'tiny'"
                )
        else:
            path = str(spec)
        model, tokenizer, image_processor = _load_parts(path, option)
        if not (hasattr(model, "get_text_features") and hasattr(model, "get_image_features")):
            raise HarnessError(f"{path}: {type(model).__name__} is not a CLIP-style dual encoder")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device).eval()
        return cls(model, tokenizer, image_processor, "tiny" if str(spec) == "tiny" else str(path))

    @property
    def max_tokens(self) -> int:
        cfg = getattr(self.model.config, "text_config", self.model.config)
        return int(getattr(cfg, "max_position_embeddings", 77))

    def n_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    def segments(self, text: str) -> list[str]:
        """The pieces scored for ``text``: itself if it fits in the context, else its sentences."""
        if self.n_tokens(text) <= self.max_tokens:
            return [text]
        return split_sentences(text) or [text]

    def _features(self, images: Sequence, texts: Sequence[str]):
        import torch

        device = next(self.model.parameters()).device
        img_out, txt_out = [], []
        with torch.inference_mode():
            for k in range(0, len(images), self.batch_size):
                px = self.image_processor(
                    images=[im.convert("RGB") for im in images[k : k + self.batch_size]], return_tensors="pt"
                )["pixel_values"].to(device)
                img_out.append(self.model.get_image_features(pixel_values=px).pooler_output.float())
            for k in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    list(texts[k : k + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                ).to(device)
                txt_out.append(
                    self.model.get_text_features(
                        input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                    ).pooler_output.float()
                )
        norm = torch.nn.functional.normalize
        return norm(torch.cat(img_out), dim=-1), norm(torch.cat(txt_out), dim=-1)

    def score(
        self,
        images: Sequence,
        texts: Sequence[str],
        *,
        image_index: Sequence[int] | None = None,
        aggregate: str = "mean",
    ) -> list[TextScore]:
        """CLIPScore of ``texts[k]`` against ``images[image_index[k]]`` (``image_index`` defaults to k).

        Every image and every segment is encoded once, in batches.
        """
        if aggregate not in AGGREGATES:
            raise HarnessError(f"CLIP aggregate {aggregate!r} unknown; accepted: {', '.join(AGGREGATES)}")
        index = list(range(len(texts))) if image_index is None else list(image_index)
        if len(index) != len(texts):
            raise HarnessError(f"CLIP scoring: {len(texts)} texts but {len(index)} image indices")
        if not texts:
            return []
        if any(not 0 <= i < len(images) for i in index):
            raise HarnessError(f"CLIP scoring: image index out of range (0-{len(images) - 1})")
        pieces = [self.segments(t) for t in texts]
        flat = [p for ps in pieces for p in ps]
        img, txt = self._features(images, flat)
        out, k = [], 0
        for i, ps in zip(index, pieces):
            cos = (txt[k : k + len(ps)] @ img[i]).tolist()
            k += len(ps)
            per = [CLIPSCORE_W * max(c, 0.0) for c in cos]
            agg = sum(per) / len(per) if aggregate == "mean" else min(per)
            out.append(TextScore(agg, cos))
        return out
