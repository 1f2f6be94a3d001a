"""Pretraining of the tiny model's vision tower: which shape covers each patch, before the LLaVA warm-up.

Real LVLMs start from a pretrained, frozen vision encoder (LLaVA-1.5: CLIP ViT-L/14-336); the language
model learns to read features that already separate objects. The tiny model gets the same start,
offline: its CLIP vision tower is trained for ``recipe.vision_steps`` steps to say, for every patch
feature the projector will read (the tower's ``vision_feature_layer``), the kind, colour and size of the
shape that covers the patch, or background (``patch_labels``). The linear heads are thrown away; the
tower is kept (and frozen by the default recipe). The scenes come from their own namespace with kinds
drawn independently (what a shape looks like does not depend on its company), and 300 held-out scenes
measure how well the tower sees, per cell of the 2 × 2 grid (``harness_tiny.json``: ``vision``).

Why per patch: the language model's attention reads single patches. A tower trained from scratch in
the warm-up learns colour at once but confuses circles and squares; one trained to name the shape of
a whole cell from its pooled patches separates the kinds there (0.99) but not patch by patch, and the
model's descriptions then still name the kind its caption prior expects (docs/proving-ground.md).
"""

from __future__ import annotations

import random
from typing import Any

from harness.images.synthetic import CANVAS, COLORS, SHAPES, Scene, draw_shape, make_scene

NAMESPACE = "tiny-vision"
HELDOUT_NAMESPACE = "tiny-vision-heldout"
KINDS = ("none",) + SHAPES
COLOURS = ("none",) + tuple(sorted(COLORS))
SIZES = ("none", "small", "large")


def cell_labels(scene: Scene) -> list[tuple[int, int, int]]:
    """Per cell of the 2 × 2 grid (row by row): (kind, colour, size) indices, 0 for an empty cell."""
    labels = [(0, 0, 0)] * 4
    half = CANVAS // 2
    for s in scene.shapes:
        cx, cy = (s.box[0] + s.box[2]) // 2 >= half, (s.box[1] + s.box[3]) // 2 >= half
        labels[2 * int(cy) + int(cx)] = (KINDS.index(s.kind), COLOURS.index(s.color), SIZES.index(s.size))
    return labels


def patch_labels(scene: Scene, grid: int, min_cover: float = 0.15) -> list[tuple[int, int, int]]:
    """Per patch of a ``grid`` × ``grid`` image (row by row): (kind, colour, size) indices of the shape that
    covers at least ``min_cover`` of the patch, 0 for a background patch."""
    from PIL import Image, ImageDraw

    labels = [(0, 0, 0)] * (grid * grid)
    step = CANVAS / grid
    for s in scene.shapes:
        mask = Image.new("L", (CANVAS, CANVAS), 0)
        draw_shape(ImageDraw.Draw(mask), s, 1)
        data = mask.load()
        for py in range(grid):
            for px in range(grid):
                xs, ys = range(int(px * step), int((px + 1) * step)), range(int(py * step), int((py + 1) * step))
                cover = sum(data[x, y] for x in xs for y in ys) / (len(xs) * len(ys))
                if cover >= min_cover:
                    labels[py * grid + px] = (KINDS.index(s.kind), COLOURS.index(s.color), SIZES.index(s.size))
    return labels


def _pixels(processor, scenes: list[Scene]):
    return processor.image_processor([sc.render() for sc in scenes], return_tensors="pt")["pixel_values"]


def _patch_features(tower, pixel_values, feature_layer: int):
    """[batch, patches, hidden]: the tower's patch features at ``feature_layer`` (CLS dropped), the ones
    the projector reads."""
    return tower(pixel_values=pixel_values, output_hidden_states=True).hidden_states[feature_layer][:, 1:]


def _by_cell(patches, grid: int):
    """[batch, patches, ...] → [batch, 4 cells, patches per cell, ...] (cells and patches row by row)."""
    b, _, *rest = patches.shape
    half = grid // 2
    cells = patches.reshape(b, 2, half, 2, half, *rest).transpose(2, 3)  # [b, row, col, y, x, ...]
    return cells.reshape(b, 4, half * half, *rest)


def pretrain_vision(model, processor, recipe, *, progress: bool = True) -> dict[str, Any]:
    """Train ``model``'s vision tower for ``recipe.vision_steps`` steps to give, for every patch, the kind,
    colour and size of the shape covering it (``patch_labels``); returns its held-out accuracies per
    occupied cell of the grid (and the share of scenes with every cell right)."""
    import torch

    from harness.progress import progress as progress_line

    grid = recipe.image_size // recipe.patch_size
    if grid % 2:
        raise ValueError(f"the vision pretraining needs an even patch grid, got {grid} × {grid}")
    tower = model.model.vision_tower
    layer = model.config.vision_feature_layer
    hidden = model.config.vision_config.hidden_size
    torch.manual_seed(recipe.seed + 7)
    heads = torch.nn.ModuleList([torch.nn.Linear(hidden, len(v)) for v in (KINDS, COLOURS, SIZES)])
    scenes = [make_scene(NAMESPACE, i) for i in range(recipe.vision_scenes)]
    pixels = _pixels(processor, scenes)
    labels = torch.tensor([patch_labels(sc, grid) for sc in scenes])  # [n, patches, 3]
    trainable = {id(p): p.requires_grad for p in tower.parameters()}  # the warm-up's choice, restored after
    for p in tower.parameters():
        p.requires_grad_(True)
    params = list(tower.parameters()) + list(heads.parameters())
    optim = torch.optim.AdamW(params, lr=recipe.vision_lr, weight_decay=0.0)
    steps = recipe.vision_steps
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 1 - s / steps))
    rng = random.Random(recipe.seed + 11)
    loss_fn = torch.nn.CrossEntropyLoss()
    tower.train()
    with progress_line("pretraining the tiny vision tower", steps, disable=not progress) as bar:
        for _ in range(steps):
            idx = torch.tensor([rng.randrange(len(scenes)) for _ in range(recipe.vision_batch)])
            feats, y = _patch_features(tower, pixels[idx], layer), labels[idx]  # every patch: its shape, or none
            loss = sum(loss_fn(head(feats).flatten(0, 1), y[..., k].flatten()) for k, head in enumerate(heads))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            bar.advance()
    tower.eval()
    for p in tower.parameters():
        p.requires_grad_(trainable[id(p)])
    held = [make_scene(HELDOUT_NAMESPACE, i) for i in range(300)]
    with torch.no_grad():
        feats = _by_cell(_patch_features(tower, _pixels(processor, held), layer), grid)  # [n, 4, p, h]
        # a cell's shape: the most probable label other than background over its patches, if above 0.5
        probs = [head(feats).softmax(-1)[..., 1:].amax(2) for head in heads]  # [n, 4, labels - 1]
        probs = [torch.cat([torch.full_like(pr[..., :1], 0.5), pr], -1) for pr in probs]
        pred = torch.stack([pr.argmax(-1) for pr in probs], dim=-1)  # [n, 4, 3]
    truth = torch.tensor([cell_labels(sc) for sc in held])
    occupied = truth[..., 0] > 0
    right = pred == truth
    return {
        "heldout_scenes": len(held),
        "kind_accuracy": round(right[..., 0][occupied].float().mean().item(), 4),
        "colour_accuracy": round(right[..., 1][occupied].float().mean().item(), 4),
        "size_accuracy": round(right[..., 2][occupied].float().mean().item(), 4),
        "scenes_all_cells_right": round(right.all(dim=-1).all(dim=-1).float().mean().item(), 4),
    }
