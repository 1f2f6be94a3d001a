"""The tiny model's vision tower is pretrained to see the shapes: every patch a shape covers is labelled
with that shape, background patches with none, and the built model's tower tells the kinds apart on
held-out scenes (the figures it stores in harness_tiny.json)."""

from __future__ import annotations

import json

from harness.images.synthetic import Scene, Shape
from harness.policy.tiny_vision import COLOURS, KINDS, SIZES, patch_labels


def _scene(*shapes: Shape) -> Scene:
    return Scene("test", 0, (245, 245, 240), shapes)


def test_patches_are_labelled_with_the_shape_that_covers_them():
    # a large red square filling most of the top-left cell, a small blue circle in the bottom-right cell
    scene = _scene(Shape("square", "red", (4, 4, 44, 44)), Shape("circle", "blue", (60, 60, 90, 90)))
    labels = patch_labels(scene, 6)  # 48 px / patch 8: a 6 x 6 grid, each patch 16 px of the 96 px canvas
    square = (KINDS.index("square"), COLOURS.index("red"), SIZES.index("large"))
    circle = (KINDS.index("circle"), COLOURS.index("blue"), SIZES.index("small"))
    assert labels[0 * 6 + 0] == square and labels[1 * 6 + 1] == square  # inside the square
    assert labels[4 * 6 + 4] == circle  # the circle's centre patch (canvas 64-80)
    assert labels[0 * 6 + 5] == (0, 0, 0) and labels[5 * 6 + 0] == (0, 0, 0)  # empty cells: background
    assert sum(lab == square for lab in labels) == 9 and 1 <= sum(lab == circle for lab in labels) <= 9


def test_a_circle_and_a_square_of_one_box_cover_different_patches():
    box = (48, 0, 95, 47)  # the whole top-right cell: 3 x 3 patches
    sq = patch_labels(_scene(Shape("square", "green", box)), 6, min_cover=0.7)
    ci = patch_labels(_scene(Shape("circle", "green", box)), 6, min_cover=0.7)
    assert sum(lab[0] > 0 for lab in sq) == 9
    assert sum(lab[0] > 0 for lab in ci) == 5  # a circle leaves its four corner patches mostly empty


def test_the_built_tower_tells_the_kinds_apart(tiny_path):
    info = json.loads((tiny_path / "harness_tiny.json").read_text())
    vision = info["vision"]
    assert vision["heldout_scenes"] == 300
    assert vision["colour_accuracy"] >= 0.99
    assert vision["kind_accuracy"] >= 0.85, vision  # measured 0.917 (chance 1/3)
    assert info["recipe"]["train_vision"] is False  # frozen after its pretraining, as LLaVA freezes CLIP
