"""Each method runs its paper's recipe by default: SeVa's training recipe and 665k questions, the merge
TrainConfig ⊕ recipe ⊕ --train (tiny keeps its scale), and the per-source image sampler."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import methods.seva.method as seva
from harness.errors import HarnessError
from harness.images import ImagePlan, ImageRef, ImageSource, open_source, sample_iterations
from harness.images.sampling import LLAVA_665K_SOURCES
from harness.method import build_config
from harness.train.config import TINY_SCALE_KEYS, TrainConfig, resolve_train_config
from tests.llava665k_fixture import make_llava665k
from tests.method_fakes import ScriptedBackend, synthetic_context

OCR_QUESTIONS = {"Who wrote this book?", "What is the title of this book?", "Is this a comedy book?"}


# ------------------------------------------------------------------ the training recipe merge


def test_seva_recipe_at_real_scale_is_the_released_script():
    cfg, record = resolve_train_config("ckpt/llava-1.5-7b-hf", seva.Seva().train_recipe(), {})
    assert (cfg.lora, cfg.lora_r, cfg.lora_alpha, cfg.lora_train_projector) == (True, 1024, 2048, True)
    assert (cfg.learning_rate, cfg.global_batch_size, cfg.per_device_batch_size, cfg.epochs) == (2e-6, 128, 16, 1.0)
    assert (cfg.lr_scheduler, cfg.warmup_ratio, cfg.bf16, cfg.gradient_checkpointing) == ("cosine", 0.03, True, True)
    assert seva.Seva().objective().duplicate == 2
    assert record == {"recipe": seva.TRAIN_RECIPE, "user": {}, "tiny_scale_kept": []}
    # the user's --train overrides the recipe
    mine, record = resolve_train_config("ckpt/llava", seva.Seva().train_recipe(), {"lora_r": 64, "lora": True})
    assert (mine.lora_r, mine.lora_alpha) == (64, 2048) and record["user"] == {"lora_r": 64, "lora": True}


def test_sena_recipe_is_full_fine_tuning_with_the_effective_constant_schedule():
    import methods.sena.method as sena

    cfg, record = resolve_train_config("ckpt/llava-1.5-7b-hf", sena.SenaMethod().train_recipe(), {})
    assert (cfg.lora, cfg.learning_rate, cfg.global_batch_size, cfg.per_device_batch_size) == (False, 2e-6, 128, 2)
    assert (cfg.lr_scheduler, cfg.warmup_ratio, cfg.max_length, cfg.bf16) == ("constant_with_warmup", 0.03, 2048, True)
    assert sena.SenaMethod().objective().duplicate == 1 and record["recipe"] == sena.TRAIN_RECIPE
    tiny, _ = resolve_train_config("tiny", sena.SenaMethod().train_recipe(), {})
    assert tiny == TrainConfig.for_model("tiny")  # nothing of the 7B recipe changes the tiny model's training


def test_tiny_model_keeps_its_scale_under_a_recipe():
    tiny = TrainConfig.for_model("tiny")
    cfg, record = resolve_train_config("tiny", seva.Seva().train_recipe(), {})
    for key in TINY_SCALE_KEYS:
        assert getattr(cfg, key) == getattr(tiny, key), key
    assert (cfg.lora, cfg.lora_train_projector, cfg.lr_scheduler) == (True, True, "cosine")  # the rest applies
    assert set(record["tiny_scale_kept"]) == set(seva.TRAIN_RECIPE) & set(TINY_SCALE_KEYS)
    user, _ = resolve_train_config("tiny", seva.Seva().train_recipe(), {"learning_rate": 3e-5})
    assert user.learning_rate == 3e-5  # --train still wins
    with pytest.raises(HarnessError, match="unknown option"):
        resolve_train_config("tiny", {"lr": 1.0}, {})


# ------------------------------------------------------------------ SeVa's questions from LLaVA-665k


def test_seva_pairs_come_from_the_annotation_questions_of_a_665k_file(tmp_path):
    json_path, root = make_llava665k(tmp_path)
    source = open_source(str(json_path), image_root=str(root))
    method = seva.Seva()
    plan = method.image_plan(6)
    assert dict(plan.quotas) == {"ocr_vqa": 2, "textvqa": 4}  # SeVa's 4k : 8k
    assert dict(method.image_plan(12000).quotas) == seva.SOURCE_QUOTAS
    split = sample_iterations(source, 1, 6, seed=0, plan=plan)
    refs = split.iterations[0]
    assert sorted(r.id.split("/")[0] for r in refs) == ["ocr_vqa"] * 2 + ["textvqa"] * 4
    ctx = synthetic_context()
    ctx.open_image = source.open
    backend = ScriptedBackend(lambda r, i: f"{'noisy' if r.noise_step else 'clean'} {i}")
    out = method.synthesize(backend, refs, ctx)
    prompts = [r.prompt for r in backend.calls[0]]
    by_image: dict[str, list[str]] = {}
    for req_prompt, pair in zip(prompts, out.pairs):
        by_image.setdefault(pair.image, []).append(req_prompt)
    for image, qs in by_image.items():
        if image.startswith("ocr_vqa/"):
            # two of the image's three questions, the single-word suffix and newlines removed (make_ocrvqa_data.py)
            assert len(qs) == 2 and set(qs) <= OCR_QUESTIONS
        else:
            # TextVQA keeps the whole human turn but its <image>\n (make_textvqa_data.py)
            assert len(qs) == 1 and "\nReference OCR token: " in qs[0]
            assert qs[0].endswith("\nAnswer the question using a single word or phrase.")
    assert out.stats["question_source"] == "annotations" and out.counts["questions"] == 2 * 2 + 4


def test_seva_refuses_a_665k_file_without_ocr_vqa_and_textvqa(tiny_path, tmp_path):
    json_path, root = make_llava665k(tmp_path, drop_sources=("ocr_vqa", "textvqa"))
    source = open_source(str(json_path), image_root=str(root))
    with pytest.raises(HarnessError) as err:
        sample_iterations(source, 1, 6, seed=0, plan=seva.Seva().image_plan(6))
    message = str(err.value)
    assert str(json_path) in message and "ocr_vqa, textvqa" in message
    assert "OCR-VQA and TextVQA annotations" in message and "this file has: coco (4), gqa (4), vg (4)" in message
    from harness.evolve import EvolveOptions, evolve

    with pytest.raises(HarnessError, match="needs images of the source\\(s\\) ocr_vqa, textvqa"):
        evolve(
            EvolveOptions(
                method="seva",
                iters=1,
                images=str(json_path),
                image_root=str(root),
                images_per_iter=6,
                evals=[],
                run_dir=tmp_path / "run",
                progress=False,
            )
        )
    assert not (tmp_path / "run").exists()  # refused before the run directory is created
    # a folder or synthetic pool: SeVa writes its own questions there, so the plan falls back to uniform
    split = sample_iterations(open_source(None), 1, 6, seed=0, plan=seva.Seva().image_plan(6))
    assert split.mode.startswith("uniform") and len(split.iterations[0]) == 6
    forced = seva.Seva(build_config(seva.Seva, ["question_source=annotations"]))
    with pytest.raises(HarnessError, match="needs a LLaVA-665k-format image source"):
        sample_iterations(open_source(None), 1, 6, seed=0, plan=forced.image_plan(6))


# ------------------------------------------------------------------ the per-source sampler


class _GroupedPool(ImageSource):
    """``per_source`` images in each of LLaVA-665k's five sources (ids ``<source>/<k>.jpg``)."""

    kind = "grouped-test"

    def __init__(self, per_source: int, unreadable: frozenset[str] = frozenset()):
        self._refs = [
            ImageRef(f"{s}/{k}.jpg", f"/nowhere/{s}/{k}.jpg") for k in range(per_source) for s in LLAVA_665K_SOURCES
        ]
        self.unreadable = unreadable

    def refs(self):
        return self._refs

    def group_of(self, ref):
        return ref.id.split("/")[0]

    def describe(self):
        return {"kind": self.kind, "count": len(self._refs)}

    def open(self, ref):
        if ref.id in self.unreadable:
            raise OSError("cannot identify image file")
        return Image.new("RGB", (4, 4))


def _ids(split):
    return [[r.id for r in it] for it in split.iterations]


def test_per_source_sampler_equal_counts_disjoint_and_seeded():
    pool = _GroupedPool(40)
    plan = ImagePlan.equal(LLAVA_665K_SOURCES, 10, "test")
    a = sample_iterations(pool, 3, 10, seed=4, plan=plan)
    assert a.mode == "per_source" and a.quotas == {s: 2 for s in LLAVA_665K_SOURCES}
    for it in a.iterations:  # 2 from each of the five sources, every iteration
        assert sorted(r.id.split("/")[0] for r in it) == sorted(LLAVA_665K_SOURCES * 2)
    flat = [i for it in _ids(a) for i in it]
    assert len(flat) == len(set(flat)) == 30  # disjoint across iterations
    assert _ids(a) == _ids(sample_iterations(pool, 3, 10, seed=4, plan=plan))  # deterministic in the seed
    assert _ids(a) != _ids(sample_iterations(pool, 3, 10, seed=5, plan=plan))
    # iteration 1 does not depend on how many iterations are drawn (a 1-iteration ablation sees θ1's images)
    assert _ids(sample_iterations(pool, 1, 10, seed=4, plan=plan))[0] == _ids(a)[0]
    # SENA's paper scale: 1,200 from each source of a 6k iteration
    assert dict(ImagePlan.equal(LLAVA_665K_SOURCES, 6000).quotas) == {s: 1200 for s in LLAVA_665K_SOURCES}
    assert dict(ImagePlan.equal(LLAVA_665K_SOURCES, 12).quotas) == {
        "coco": 3,
        "gqa": 3,
        "ocr_vqa": 2,
        "textvqa": 2,
        "vg": 2,
    }


def test_per_source_sampler_skips_unreadable_images_and_counts_shortfalls():
    bad = frozenset({"gqa/0.jpg", "gqa/1.jpg", "vg/3.jpg"})
    pool = _GroupedPool(6, unreadable=bad)
    split = sample_iterations(pool, 2, 10, seed=0, plan=ImagePlan.equal(LLAVA_665K_SOURCES, 10))
    taken = {r.id for it in split.iterations for r in it}
    assert not taken & bad and {s for s, _ in split.skipped} <= bad
    with pytest.raises(HarnessError, match="gqa: 6 images, 4 × 2 needed"):
        sample_iterations(pool, 4, 10, seed=0, plan=ImagePlan.equal(LLAVA_665K_SOURCES, 10))


def test_sena_images_from_a_665k_file_per_source(tmp_path):
    import methods.sena.method as sena

    json_path, root = make_llava665k(tmp_path)
    source = open_source(str(json_path), image_root=str(root))
    method = sena.SenaMethod()
    split = sample_iterations(source, 2, 10, seed=1, plan=method.image_plan(10))
    for it in split.iterations:
        assert sorted(r.id.split("/")[0] for r in it) == sorted(LLAVA_665K_SOURCES * 2)
    uniform = sena.SenaMethod(build_config(sena.SenaMethod, ["image_sampling=uniform"]))
    assert uniform.image_plan(10) is None
    assert json.loads(json_path.read_text())[-1]["id"] == "text_only_1"  # a text-only entry is ignored


# ------------------------------------------------------------------ `--method seva` with no options, end to end


def test_seva_default_run_records_its_recipe_and_trains_lora_with_the_projector(tiny_path, tmp_path):
    """`harness evolve --method seva` (no --train): config.json holds SeVa's recipe at the tiny model's scale,
    its pairs are annotation questions of a LLaVA-665k file, and θ1 is LoRA (merged) + a trained projector."""
    import torch
    from safetensors.torch import load_file

    from harness.evolve import EvolveOptions, evolve

    json_path, root = make_llava665k(tmp_path / "data")
    run_dir = tmp_path / "seva"
    evolve(
        EvolveOptions(
            method="seva",
            iters=1,
            images=str(json_path),
            image_root=str(root),
            images_per_iter=6,
            heldout_images=0,  # the mini LLaVA file holds just enough images
            evals=[],
            run_dir=run_dir,
            progress=False,
            overrides=["max_new_tokens=12", "noise_step=950"],
        )
    )
    config = json.loads((run_dir / "config.json").read_text())
    train = config["train"]
    assert (train["lora"], train["lora_train_projector"], train["lr_scheduler"]) == (True, True, "cosine")
    assert config["objective"]["duplicate"] == 2 and config["objective"]["beta"] == 0.1
    assert config["train_recipe"]["recipe"] == seva.TRAIN_RECIPE
    assert "lora_r" in config["train_recipe"]["tiny_scale_kept"] and train["lora_r"] == 8  # tiny scale, documented
    assert config["generation"] == {"dtype": "float32", "device": "cpu", "requested": "auto"}
    assert config["images"]["plan"]["quotas"] == {"ocr_vqa": 2, "textvqa": 4}
    entries = json.loads(json_path.read_text())
    questions = {
        e["image"]: [t["value"] for t in e["conversations"] if t["from"] == "human"] for e in entries if e.get("image")
    }
    pairs = [json.loads(x) for x in (run_dir / "iter1" / "pairs.jsonl").read_text().splitlines()]
    assert pairs
    for p in pairs:
        raw = [q.replace("<image>\n", "") for q in questions[p["image"]]]
        cleaned = [seva.clean_question(p["image"], q, True) for q in raw]
        assert p["prompt"] in cleaned and p["image"].split("/")[0] in ("ocr_vqa", "textvqa")
    info = json.loads((run_dir / "iter1" / "train.json").read_text())
    assert info["examples"] == 2 * len(pairs)  # every pair twice in the epoch
    before = load_file(tiny_path / "model.safetensors")
    after = load_file(run_dir / "iter1" / "checkpoint" / "model.safetensors")
    assert before.keys() == after.keys()  # LoRA merged back: a plain checkpoint
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    assert any("multi_modal_projector" in k for k in changed)  # the projector trains under LoRA
    assert any("language_model" in k for k in changed)
    assert not any("vision_tower" in k for k in changed)
