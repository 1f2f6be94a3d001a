"""The built-in tiny model sees: on held-out scenes of the shapes benchmark it names the shapes that are
there, answers existence questions both ways, and its hallucinations are the ones its skewed warm-up
prior predicts. A regression of the recipe, the curriculum or the image path fails these tests
(the recipe before the curriculum answered "Yes" to every question and covered 17 % of the objects).
The bounds are the ones docs/proving-ground.md records; the fast test uses fewer scenes and bounds
widened by about its 95 % bootstrap interval."""

from __future__ import annotations

import pytest
from PIL import Image

from benchmarks.shapes import ShapesBenchmark
from harness.backends.base import GenerationRequest
from harness.backends.hf import HFBackend


def _score(policy, scenes: int, tmp_path):
    bench = ShapesBenchmark(scenes=scenes, image_dir=tmp_path / "images")
    items = bench.load(None)
    backend = HFBackend(policy, batch_size=32, progress=False)
    outs = backend.generate(
        [
            GenerationRequest(
                prompt=it.prompt, image=Image.open(it.image).convert("RGB"), max_new_tokens=bench.max_new_tokens
            )
            for it in items
        ]
    )
    return bench.score(items, {it.id: o for it, o in zip(items, outs)})


def test_the_tiny_model_grounds_on_held_out_scenes(tiny_policy, tmp_path):
    # measured on these 80 scenes: Cover 33.3, Yes 21.2, F1 62.4, CHAIRobj 27.9, Prior 82.9; the bounds
    # are about the lower ends of their 95 % bootstrap intervals (the recipe before: Cover 17, Yes 100, F1 0)
    m = _score(tiny_policy, 80, tmp_path).metrics
    assert m["Cover"] >= 25, m
    assert 10 <= m["Yes"] <= 60, m  # answers existence questions both ways
    assert m["F1"] >= 55, m
    assert m["CHAIRobj"] <= 40, m
    assert m["Prior"] >= 60, m  # its hallucinated objects are mostly the ones the skewed prior predicts


@pytest.mark.slow
def test_the_tiny_model_keeps_its_measured_grounding(tiny_policy, tmp_path):
    # docs/proving-ground.md, 300 scenes: Cover 38.6 [34.4, 43.0], Yes 26.6 [21.7, 31.4], F1 64.3 [61.9, 66.7],
    # CHAIRobj 27.7 [23.6, 32.1], Prior 78.0 [70.8, 84.7]
    report = _score(tiny_policy, 300, tmp_path)
    m = report.metrics
    assert m["Cover"] >= 34, m
    assert 20 <= m["Yes"] <= 65, m
    assert m["F1"] >= 60, m
    assert m["CHAIRobj"] <= 33, m
    assert m["Prior"] >= 70, m
    assert report.intervals["CHAIR"][0] <= m["CHAIR"] <= report.intervals["CHAIR"][1]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="not reached yet: the issue's target figures (docs/proving-ground.md records the measured ones and the gap)",
)
def test_the_tiny_model_meets_the_target_figures(tiny_policy, tmp_path):
    m = _score(tiny_policy, 300, tmp_path).metrics
    assert m["Cover"] >= 60, m
    assert 10 <= m["CHAIR"] <= 35, m
    assert 35 <= m["Yes"] <= 65, m
    assert m["F1"] >= 50, m
    assert m["Prior"] > 50, m
