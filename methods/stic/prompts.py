"""STIC's prompts and image corruptions (Deng et al., "Enhancing Large Vision Language Models with
Self-Training on Image Comprehension", NeurIPS 2024, arXiv 2405.19716; yihedeng9/STIC @ 993734e,
``stic/generate_pref.py``). The prompts are protocol and reproduced verbatim, whitespace included:
the preferred prompt keeps the trailing spaces and the 4-space indents its Python source gives it.
"""

from __future__ import annotations

import random

from PIL import Image, ImageEnhance

# the "well-curated" prompt of every chosen description (generate_pref.py, the preferred prompt)
PREFERRED = (
    "Please provide a detailed description of the image, focusing on the following. \n"
    "    Identify the main subjects (people, animals, objects) in the image and describe what they are doing.\n"
    "    Describe the setting of the image. Is it indoors or outdoors? What kind of environment or location does "
    "it depict? \n"
    "    What mood does the image convey? Are there any specific elements (such as lighting, weather, expressions) "
    "that contribute to this atmosphere? \n"
    "    Describe the dominant colors and the overall composition. How do these elements affect the image's impact?\n"
    "    Point out any details or symbols that might be relevant to understanding the image's meaning or context.\n"
    "    If applicable, provide interpretations of what the image might represent or communicate."
)

# the simple captioning prompts: the training prompt of both answers, and the corrupted branch's prompt
SIMPLE = (
    "Illustrate the details of the picture.",
    "Summarize the visual content presented.",
    "Explain what is depicted in the photograph.",
    "Outline the key elements captured in the image.",
    "Detail the composition and subjects within the frame.",
    "Convey the atmosphere and mood represented in the snapshot.",
    "Interpret the scene shown in the image.",
    "Identify and describe the main focal points in the visual.",
)

# the hallucination-inducing prompts of the bad-prompt branch
HALLUCINATION = (
    "Describe the image with imaginative objects that may exist in the scene.",
    "Enrich the description by adding hypothetical objects or characters that could be part of the scene.",
    "Suggest and detail practical items or people that could logically inhabit the image's setting.",
    "Incorporate elements that, though absent, would seamlessly fit into the context of the picture.",
    "Imagine and describe additional everyday objects or activities taking place just out of frame.",
    "Augment the scene with details of potential events or items that are plausible.",
    "Conceive of and detail natural elements, such as weather or animals, that could realistically enter the scene. "
    "Make the description affirmative.",
    "Invent and incorporate details of practical tools, vehicles, or gadgets that could be expected in a similar "
    "scenario.",
)

LOW_RES_SIDE = 20  # torchvision Resize(size=20): the shorter side becomes 20 px, aspect ratio kept
BRIGHTNESS = 0.5  # ColorJitter(brightness=0.5): factor uniform in [0.5, 1.5]
HUE = 0.3  # ColorJitter(hue=0.3): hue shift uniform in [-0.3, 0.3] of a full turn


def low_resolution(image: Image.Image) -> Image.Image:
    """The shorter side resized to 20 px (bilinear, antialiased), the aspect ratio kept."""
    w, h = image.size
    if w <= h:
        size = (LOW_RES_SIDE, max(1, int(LOW_RES_SIDE * h / w)))
    else:
        size = (max(1, int(LOW_RES_SIDE * w / h)), LOW_RES_SIDE)
    return image.convert("RGB").resize(size, Image.BILINEAR)


def shift_hue(image: Image.Image, shift: float) -> Image.Image:
    """Rotate the hue by ``shift`` of a full turn (in HSV, uint8 hue wrapping around, as torchvision's PIL path)."""
    h, s, v = image.convert("HSV").split()
    offset = int(round(shift * 255))
    h = h.point(lambda x: (x + offset) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


def color_jitter(image: Image.Image, rng: random.Random) -> Image.Image:
    """Brightness × U[0.5, 1.5] and a hue shift U[−0.3, 0.3], in a random order (as ColorJitter)."""
    factor = rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS)
    shift = rng.uniform(-HUE, HUE)
    ops = [lambda im: ImageEnhance.Brightness(im).enhance(factor), lambda im: shift_hue(im, shift)]
    if rng.random() < 0.5:
        ops.reverse()
    out = image.convert("RGB")
    for op in ops:
        out = op(out)
    return out


def corrupt(image: Image.Image, rng: random.Random) -> tuple[Image.Image, str]:
    """One of STIC's two corruptions, 50/50: ("low_resolution" | "color_jitter")."""
    if rng.random() > 0.5:
        return low_resolution(image), "low_resolution"
    return color_jitter(image, rng), "color_jitter"


def infuse(description: str, question: str) -> str:
    """A stage-2 sample's question with the description prepended (yihedeng9/STIC ``stic/add_des_to_data.py``
    format; the image token is the template's)."""
    return f"Image description:\n{description}\n\n{question}"
