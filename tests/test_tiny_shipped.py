"""The built world ships with the package: the default tiny LLaVA and tiny CLIP are the shipped folders,
checked against their recorded SHA-256; another recipe or seed builds locally; a rebuild is compared with
the shipped model; tiny-scale models run on one thread."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import HarnessError
from harness.policy import shipped, threads, tiny, tiny_clip


def _wanted_fingerprint() -> str:
    recipe = tiny.TinyRecipe()
    return tiny.fingerprint(recipe, tiny.build_corpus(recipe, tiny.collect_tasks()))


def test_the_default_tiny_models_are_the_shipped_ones(monkeypatch, tmp_path):
    monkeypatch.delenv("HARNESS_TINY_SEED", raising=False)
    manifest = shipped.read_manifest(tiny.SHIPPED_NAME)
    assert manifest is not None, "no tiny model is shipped with the package"
    # the shipped model was built from today's recipe and every installed plugin's warm-up tasks
    assert manifest["fingerprint"] == _wanted_fingerprint()
    assert tiny.ensure_tiny(tmp_path / "cache", progress=False) == shipped.shipped_folder(tiny.SHIPPED_NAME)
    assert not (tmp_path / "cache").exists()  # nothing was built
    clip = tiny_clip.ensure_tiny_clip(tmp_path / "cache", progress=False)
    assert clip == shipped.shipped_folder(tiny_clip.SHIPPED_NAME)
    for name in (tiny.SHIPPED_NAME, tiny_clip.SHIPPED_NAME):
        files = shipped.read_manifest(name)["files"]
        assert "model.safetensors" in files and "config.json" in files


def test_a_damaged_shipped_file_is_named_never_rebuilt_silently(monkeypatch, tmp_path):
    copy = tmp_path / "shipped"
    shutil.copytree(shipped.SHIPPED_DIR, copy)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", copy)
    fp = shipped.read_manifest(tiny.SHIPPED_NAME)["fingerprint"]
    assert shipped.shipped_model(tiny.SHIPPED_NAME, fp) == copy / tiny.SHIPPED_NAME
    weights = copy / tiny.SHIPPED_NAME / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(HarnessError, match=r"model\.safetensors: its SHA-256 differs .*reinstall"):
        shipped.shipped_model(tiny.SHIPPED_NAME, fp)
    weights.unlink()
    with pytest.raises(HarnessError, match=r"model\.safetensors: a file of the shipped tiny model is missing"):
        shipped.shipped_model(tiny.SHIPPED_NAME, fp)


def test_another_fingerprint_is_not_served_by_the_shipped_model():
    assert shipped.shipped_model(tiny.SHIPPED_NAME, "0" * 16) is None
    seeded = tiny.TinyRecipe(seed=1)
    other = tiny.fingerprint(seeded, tiny.build_corpus(seeded, tiny.collect_tasks()))
    assert other != shipped.read_manifest(tiny.SHIPPED_NAME)["fingerprint"]
    assert shipped.shipped_model(tiny.SHIPPED_NAME, other) is None


def test_the_seed_variable_chooses_the_recipe_seed(monkeypatch):
    monkeypatch.setenv("HARNESS_TINY_SEED", "3")
    assert tiny.default_recipe().seed == 3
    monkeypatch.setenv("HARNESS_TINY_SEED", "three")
    with pytest.raises(HarnessError, match="HARNESS_TINY_SEED='three': a whole number"):
        tiny.default_recipe()
    monkeypatch.delenv("HARNESS_TINY_SEED")
    assert tiny.default_recipe() == tiny.TinyRecipe()


def test_info_says_the_shipped_model_is_in_use(monkeypatch):
    monkeypatch.delenv("HARNESS_TINY_SEED", raising=False)
    result = CliRunner().invoke(app, ["tiny", "info"])
    assert result.exit_code == 0, result.output
    assert "the shipped one" in result.output
    assert shipped.read_manifest(tiny.SHIPPED_NAME)["fingerprint"] in result.output


def test_a_model_compared_with_itself_is_at_distance_zero():
    from harness.policy.rebuild import behaviour_agreement, weight_distance

    folder = shipped.shipped_folder(tiny.SHIPPED_NAME)
    w = weight_distance(folder, folder)
    assert w["same_architecture"] and w["tensors_identical"] == w["tensors"]
    assert w["max_abs_difference"] == 0.0 and w["relative_l2"] == 0.0
    b = behaviour_agreement(folder, folder, scenes=4)
    assert b["identical_answers"] == 1.0 and b["answers"] == 12
    assert b["yes_rate_shipped"] == b["yes_rate_rebuilt"]


def test_tiny_scale_models_run_on_one_thread(tmp_path, monkeypatch):
    import torch

    monkeypatch.delenv("HARNESS_TORCH_THREADS", raising=False)

    assert threads.threads_for(shipped.shipped_folder(tiny.SHIPPED_NAME)) == 1
    big = tmp_path / "big"
    big.mkdir()
    (big / "config.json").write_text(json.dumps({"text_config": {"hidden_size": 4096}}))
    assert threads.threads_for(big) is None
    assert threads.threads_for(tmp_path / "missing") is None
    before = torch.get_num_threads()
    with threads.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    monkeypatch.setenv("HARNESS_TORCH_THREADS", "2")
    assert threads.threads_for(shipped.shipped_folder(tiny.SHIPPED_NAME)) == 2
    assert threads.threads_for(big) is None  # the override is for tiny-scale models only
    monkeypatch.setenv("HARNESS_TORCH_THREADS", "0")
    with pytest.raises(HarnessError, match="HARNESS_TORCH_THREADS='0': a whole number"):
        threads.threads_for(shipped.shipped_folder(tiny.SHIPPED_NAME))


def test_the_build_path_still_builds_a_loadable_model(tmp_path):
    """Nothing in the suite builds the default recipe any more (it ships); a short recipe keeps the build
    code, the cache folder and the loaders tested."""
    from harness.backends.base import GenerationRequest
    from harness.backends.hf import HFBackend
    from harness.clip_score import ClipScorer
    from harness.images.synthetic import make_scene
    from harness.policy.loading import load_policy

    recipe = tiny.TinyRecipe(scenes=40, curriculum_steps=8, steps=8, vision_steps=8, vision_scenes=64)
    path = tiny.ensure_tiny(tmp_path, recipe=recipe, progress=False)
    assert path.parent == tmp_path / "models" and path.name.startswith("tiny-")
    info = json.loads((path / "harness_tiny.json").read_text())
    assert info["recipe"]["threads"] == 1 and "vision" in info
    image = make_scene("build-check", 0).render()
    [out] = HFBackend(load_policy(path), progress=False).generate(
        [GenerationRequest(image=image, prompt="Describe the image.", max_new_tokens=4)]
    )
    assert isinstance(out, str)
    clip_recipe = tiny_clip.TinyClipRecipe(scenes=64, heldout=16, steps=4, batch_size=16)
    clip = tiny_clip.ensure_tiny_clip(tmp_path, recipe=clip_recipe, progress=False)
    assert clip.parent == tmp_path / "models"
    assert ClipScorer.load(clip) is not None
