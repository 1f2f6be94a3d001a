"""The built-in tiny CLIP and CLIP scoring: build, held-out accuracy, 77-token splitting, errors."""

from __future__ import annotations

import json
import random

import pytest

from harness.clip_score import ClipScorer, split_sentences
from harness.errors import HarnessError
from harness.images.synthetic import make_scene
from harness.policy.tiny_clip import HELDOUT_NAMESPACE, TinyClipRecipe, corrupt_caption, ensure_tiny_clip, fingerprint


@pytest.fixture(scope="module")
def clip_path(cache_root):
    return ensure_tiny_clip(cache_root, progress=False)


@pytest.fixture(scope="module")
def scorer(clip_path):
    return ClipScorer.load("tiny")  # resolves through HARNESS_CACHE_DIR, set by cache_root


def test_the_shipped_clip_is_this_recipe_with_heldout_accuracy(clip_path, cache_root):
    from harness.policy.shipped import read_manifest, shipped_folder

    assert clip_path == shipped_folder("tiny_clip")  # shipped with the package: nothing is built
    assert read_manifest("tiny_clip")["fingerprint"] == fingerprint(TinyClipRecipe())
    assert ensure_tiny_clip(cache_root) == clip_path
    assert not (cache_root / "models" / f"tiny-clip-{fingerprint(TinyClipRecipe())}").exists()
    metrics = json.loads((clip_path / "harness_tiny_clip.json").read_text())["heldout"]
    assert metrics["retrieval_top1"] > 10 * metrics["chance"]
    assert metrics["beats_corrupted"] > 0.8
    cfg = json.loads((clip_path / "config.json").read_text())
    tok = json.loads((clip_path / "tokenizer_config.json").read_text())
    assert cfg["text_config"]["eos_token_id"] is not None and tok["eos_token"] == "<|endoftext|>"


def test_true_captions_outscore_hallucinated_ones(scorer):
    rng = random.Random(7)
    scenes = [make_scene(HELDOUT_NAMESPACE, 1000 + i) for i in range(40)]
    images = [s.render() for s in scenes]
    texts = [s.caption() for s in scenes] + [corrupt_caption(s, rng) for s in scenes]
    scores = scorer.score(images, texts, image_index=list(range(40)) * 2)
    wins = sum(scores[i].score > scores[40 + i].score for i in range(40))
    assert wins >= 28
    assert scores == scorer.score(images, texts, image_index=list(range(40)) * 2)  # deterministic


def test_long_texts_are_scored_sentence_by_sentence(scorer):
    scene = make_scene(HELDOUT_NAMESPACE, 5)
    sentences = [scene.caption(), "The background is plain.", "There is a yellow triangle."] * 8
    long_text = " ".join(sentences)
    assert scorer.n_tokens(long_text) > 77 and scorer.n_tokens(scene.caption()) <= 77
    assert scorer.segments(scene.caption()) == [scene.caption()]
    assert scorer.segments(long_text) == sentences
    img = scene.render()
    mean = scorer.score([img], [long_text])[0]
    low = scorer.score([img], [long_text], aggregate="min")[0]
    parts = scorer.score([img] * 3, sentences[:3])
    assert mean.segments == 24 and low.score <= mean.score
    assert mean.score == pytest.approx(sum(p.score for p in parts) / 3, abs=1e-5)
    assert low.score == pytest.approx(min(p.score for p in parts), abs=1e-5)


def test_split_sentences():
    assert split_sentences("A red circle. Is it big?  Yes!\nA square") == [
        "A red circle.",
        "Is it big?",
        "Yes!",
        "A square",
    ]
    assert split_sentences("   ") == []
    assert split_sentences("v1.5 is a model.") == ["v1.5 is a model."]


def test_bad_inputs(scorer, tmp_path):
    with pytest.raises(HarnessError, match="no config.json"):
        ClipScorer.load(tmp_path)
    with pytest.raises(HarnessError, match="mean, min"):
        scorer.score([make_scene("x", 0).render()], ["a"], aggregate="median")
    with pytest.raises(HarnessError, match="out of range"):
        scorer.score([make_scene("x", 0).render()], ["a"], image_index=[3])
