"""LLaVA-1.5's ``image_aspect_ratio=pad``: pad to a square with the CLIP mean colour before the
processor resizes and centre-crops (haotian-liu/LLaVA ``llava/mm_utils.py``, ``expand2square``). llava-hf's processor alone would crop."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image


def expand_to_square(image: Image.Image, mean: Sequence[float]) -> Image.Image:
    image = image.convert("RGB")
    w, h = image.size
    if w == h:
        return image
    fill = tuple(int(255 * m) for m in mean)
    side = max(w, h)
    out = Image.new("RGB", (side, side), fill)
    out.paste(image, ((side - w) // 2, (side - h) // 2))
    return out
