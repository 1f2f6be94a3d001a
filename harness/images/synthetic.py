"""Synthetic shape scenes: the built-in offline images, deterministic from (namespace, index).

A scene holds one to three non-overlapping shapes (circle, square, triangle) in distinct colours on
a light background. Its content is known exactly, so captions, yes/no questions and CHAIR-style
object lists can be derived from it (the built-in tiny model is warmed up on them and the
``shapes`` benchmark scores against them).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 205, 30),
}
BACKGROUNDS = ((245, 245, 240), (230, 232, 236), (250, 240, 225))
CANVAS = 96
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


@dataclass(frozen=True)
class Shape:
    kind: str
    color: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1

    @property
    def name(self) -> str:
        return f"{self.color} {self.kind}"


@dataclass(frozen=True)
class Scene:
    namespace: str
    index: int
    background: tuple[int, int, int]
    shapes: tuple[Shape, ...]

    @property
    def objects(self) -> list[str]:
        """Object words present (shape kinds), in drawing order, unique."""
        return list(dict.fromkeys(s.kind for s in self.shapes))

    def caption(self) -> str:
        names = [f"a {s.name}" for s in self.shapes]
        if len(names) == 1:
            body = names[0]
        else:
            body = ", ".join(names[:-1]) + " and " + names[-1]
        return f"There is {body}."

    def render(self) -> Image.Image:
        img = Image.new("RGB", (CANVAS, CANVAS), self.background)
        draw = ImageDraw.Draw(img)
        for s in self.shapes:
            fill = COLORS[s.color]
            x0, y0, x1, y1 = s.box
            if s.kind == "circle":
                draw.ellipse(s.box, fill=fill)
            elif s.kind == "square":
                draw.rectangle(s.box, fill=fill)
            else:
                draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=fill)
        return img


def _rng(namespace: str, index: int) -> random.Random:
    digest = hashlib.sha256(f"{namespace}:{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def make_scene(namespace: str, index: int) -> Scene:
    """The scene number ``index`` of ``namespace``; the same arguments always give the same scene."""
    rng = _rng(namespace, index)
    n = rng.choice((1, 1, 2, 2, 3))
    kinds = rng.sample(SHAPES, n)
    colors = rng.sample(sorted(COLORS), n)
    # one shape per cell of a 2x2 grid, so shapes never overlap
    cells = rng.sample([(0, 0), (1, 0), (0, 1), (1, 1)], n)
    shapes = []
    half = CANVAS // 2
    for kind, color, (cx, cy) in zip(kinds, colors, cells):
        size = rng.randint(30, 40)
        x0 = cx * half + rng.randint(2, half - size - 2)
        y0 = cy * half + rng.randint(2, half - size - 2)
        shapes.append(Shape(kind, color, (x0, y0, x0 + size, y0 + size)))
    return Scene(namespace, index, rng.choice(BACKGROUNDS), tuple(shapes))
