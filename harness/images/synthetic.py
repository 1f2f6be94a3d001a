"""Synthetic shape scenes: the built-in offline images, deterministic from (namespace, index).

A scene holds one to three non-overlapping shapes (circle, square, triangle) in distinct colours on
a light background, one per cell of a 2 x 2 grid. Every attribute is known exactly: kind, colour,
size (``small``/``large``), position (``top left`` ...) and the count of shapes, so captions, yes/no
questions and CHAIR-style object lists can be derived from it (the built-in tiny model is warmed up on
them and the synthetic-scene benchmark scores against them).

Object co-occurrence is a property of a scene family (``CoOccurrence``). Real captioning corpora are
skewed (in COCO a fork comes with a dining table), and a model trained on them names the expected
companion of an object even when it is absent; that is the object hallucination that CHAIR-style
benchmarks measure.
The same mechanism is available here: in two-shape scenes ``SKEWED`` (the tiny model's warm-up scenes)
almost always puts a square beside a circle and a circle beside a square; ``BROKEN`` (for a held-out
test split) mostly separates them; ``UNIFORM`` (the default) draws kinds independently. docs/proving-ground.md lists the
statistics of each family.
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
CELLS = ((0, 0), (1, 0), (0, 1), (1, 1))
CELL_NAMES = {(0, 0): "top left", (1, 0): "top right", (0, 1): "bottom left", (1, 1): "bottom right"}
SIZE_RANGE = (30, 40)  # side in pixels of the 96 px canvas
LARGE_FROM = 36  # a side of at least this many pixels is "large"


@dataclass(frozen=True)
class Shape:
    kind: str
    color: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1

    @property
    def name(self) -> str:
        return f"{self.color} {self.kind}"

    @property
    def size(self) -> str:
        """``small`` or ``large`` (side below or at least ``LARGE_FROM`` pixels)."""
        return "large" if self.box[2] - self.box[0] >= LARGE_FROM else "small"

    @property
    def position(self) -> str:
        """The grid cell holding the shape: ``top left``, ``top right``, ``bottom left`` or ``bottom right``."""
        half = CANVAS // 2
        cx, cy = (self.box[0] + self.box[2]) // 2, (self.box[1] + self.box[3]) // 2
        return CELL_NAMES[(int(cx >= half), int(cy >= half))]


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

    @property
    def count(self) -> int:
        return len(self.shapes)

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
            draw_shape(draw, s, COLORS[s.color])
        return img


def draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, fill) -> None:
    """Draw ``shape`` filled with ``fill`` (a colour, or 1 on a mask)."""
    x0, y0, x1, y1 = shape.box
    if shape.kind == "circle":
        draw.ellipse(shape.box, fill=fill)
    elif shape.kind == "square":
        draw.rectangle(shape.box, fill=fill)
    else:
        draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=fill)


@dataclass(frozen=True)
class CoOccurrence:
    """How often the two kinds of ``pair`` appear together in a scene family.

    Kinds are first drawn independently (one to three distinct kinds). Then, with probability ``join``,
    a two-shape scene holding exactly one kind of the pair gets the other one instead of the third
    kind; with probability ``split``, a two-shape scene holding both gets the third kind instead of
    one of them. One-shape and three-shape scenes keep their kinds, so the kinds' frequencies per count
    stay the same and only what comes *with* what changes. Colours, cells and sizes are the same as
    without a prior.
    """

    pair: tuple[str, str] = ("circle", "square")
    join: float = 0.0
    split: float = 0.0

    def apply(self, kinds: list[str], rng: random.Random) -> list[str]:
        a, b = self.pair
        has_a, has_b = a in kinds, b in kinds
        kinds = list(kinds)
        if len(kinds) != 2:
            return kinds
        if has_a != has_b and rng.random() < self.join:
            other = next(k for k in kinds if k not in self.pair)
            kinds[kinds.index(other)] = b if has_a else a
        elif has_a and has_b and rng.random() < self.split:
            gone = rng.choice(self.pair)
            kinds[kinds.index(gone)] = next(k for k in SHAPES if k not in kinds)
        return kinds

    def partner(self, kind: str) -> str | None:
        """The kind this prior expects beside ``kind`` (None for a kind outside the pair)."""
        a, b = self.pair
        return b if kind == a else a if kind == b else None


UNIFORM = CoOccurrence()
SKEWED = CoOccurrence(join=0.95)
BROKEN = CoOccurrence(split=0.7)


def _rng(namespace: str, index: int, salt: str = "") -> random.Random:
    digest = hashlib.sha256(f"{namespace}:{index}{salt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def make_scene(namespace: str, index: int, prior: CoOccurrence = UNIFORM) -> Scene:
    """The scene number ``index`` of ``namespace`` under ``prior``; the same arguments always give the
    same scene (and ``UNIFORM`` gives the scenes this module always gave)."""
    rng = _rng(namespace, index)
    n = rng.choice((1, 1, 2, 2, 3))
    kinds = rng.sample(SHAPES, n)
    colors = rng.sample(sorted(COLORS), n)
    # one shape per cell of a 2x2 grid, so shapes never overlap
    cells = rng.sample(list(CELLS), n)
    sizes, offsets = [], []
    half = CANVAS // 2
    for _ in range(n):
        size = rng.randint(*SIZE_RANGE)
        sizes.append(size)
        offsets.append((rng.randint(2, half - size - 2), rng.randint(2, half - size - 2)))
    background = rng.choice(BACKGROUNDS)
    if prior != UNIFORM:
        kinds = prior.apply(kinds, _rng(namespace, index, ":prior"))
    shapes = []
    for kind, color, (cx, cy), size, (dx, dy) in zip(kinds, colors, cells, sizes, offsets):
        x0, y0 = cx * half + dx, cy * half + dy
        shapes.append(Shape(kind, color, (x0, y0, x0 + size, y0 + size)))
    return Scene(namespace, index, background, tuple(shapes))
