"""CLIP scoring of answers against images (the judge-free method's verifier).

``ClipScorer.load(spec)`` takes a local CLIP checkpoint folder (a transformers ``CLIPModel`` with
its tokenizer and image processor, e.g. a saved ``openai/clip-vit-large-patch14``) or ``"tiny"``,
the built-in offline model (harness/policy/tiny_clip.py). Images go through the checkpoint's own
image processor (PIL backend, no torchvision).

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
CLIPSCORE_W = 2.5
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


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
    def load(cls, spec: str | Path = "tiny", *, cache_root: Path | None = None, device: str | None = None) -> "ClipScorer":
        """A scorer from a CLIP checkpoint folder, or ``"tiny"`` (built offline on first use)."""
        import torch
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        if str(spec) == "tiny":
            from harness.policy.tiny_clip import ensure_tiny_clip

            path = ensure_tiny_clip(cache_root)
        else:
            path = Path(spec)
            if not (path / "config.json").is_file():
                raise HarnessError(f"{path}: not a CLIP checkpoint folder (no config.json); "
                                   f"use a local transformers CLIP folder or 'tiny'")
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
            model = AutoModel.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise HarnessError(f"{path}: failed to load the CLIP checkpoint ({exc})") from None
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
                px = self.image_processor(images=[im.convert("RGB") for im in images[k:k + self.batch_size]],
                                          return_tensors="pt")["pixel_values"].to(device)
                img_out.append(self.model.get_image_features(pixel_values=px).pooler_output.float())
            for k in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(list(texts[k:k + self.batch_size]), padding=True, truncation=True,
                                     max_length=self.max_tokens, return_tensors="pt").to(device)
                txt_out.append(self.model.get_text_features(input_ids=enc["input_ids"],
                                                            attention_mask=enc["attention_mask"]).pooler_output.float())
        norm = torch.nn.functional.normalize
        return norm(torch.cat(img_out), dim=-1), norm(torch.cat(txt_out), dim=-1)

    def score(self, images: Sequence, texts: Sequence[str], *, image_index: Sequence[int] | None = None,
              aggregate: str = "mean") -> list[TextScore]:
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
            cos = (txt[k:k + len(ps)] @ img[i]).tolist()
            k += len(ps)
            per = [CLIPSCORE_W * max(c, 0.0) for c in cos]
            agg = sum(per) / len(per) if aggregate == "mean" else min(per)
            out.append(TextScore(agg, cos))
        return out
