"""CSR: the release's pruning and rank-based reward by hand, the paper variant, the search on the tiny model
(kinds, counts, determinism), the CLIP requirement, bad options, and two iterations on the tiny model; and what
must not drift from the official code (YiyangZhou/CSR @ 353de42): the 11 prompts, each image's prompt fixed
across rounds, one image set every round, the training recipe (batch 1 per GPU, lr, epochs, LoRA)."""

from __future__ import annotations

import dataclasses
import json

import pytest

import methods.csr.method as csr
from harness.clip_score import TextScore
from harness.errors import HarnessError
from harness.method import build_config
from harness.plugins import registry
from methods.csr.search import Node, prune
from tests.method_fakes import ScriptedBackend, evolve_small, synthetic_context, synthetic_refs


class FakeScorer:
    name = "fake"

    def __init__(self, table):
        self.table = table

    def score(self, images, texts, *, image_index=None, aggregate="mean"):
        return [TextScore(2.5 * self.table.get(t, 0.2), [self.table.get(t, 0.2)]) for t in texts]


def test_registered_with_table4_numbers():
    assert registry().method("csr") is csr.Csr
    assert csr.Csr.reported[0].values["amber/CHAIR"] == 3.8


def test_pruning_keeps_best_one_and_worst_two():
    nodes = [Node(i, 0, 1, cum=c) for i, c in enumerate([-1.0, -5.0, -2.0, -4.0, -3.0, -0.5])]
    kept = prune(nodes, 5, key=lambda n: n.cum)
    assert [n.cum for n in kept] == [-0.5, -4.0, -5.0]
    assert [n.cum for n in prune(nodes[:4], 5, key=lambda n: n.cum)] == [-1.0, -2.0, -4.0, -5.0]


def test_rank_reward_by_hand():
    # root → a, b; a → a1 (final), a2 (final); b final
    tree = [
        Node(0, None, 0, children=[1, 2]),
        Node(1, 0, 1, lm=-0.1, clip=20.0, children=[3, 4]),
        Node(2, 0, 1, lm=-0.5, clip=25.0, final=True),
        Node(3, 1, 2, lm=-0.2, clip=22.0, final=True),
        Node(4, 1, 2, lm=-0.3, clip=30.0, final=True),
    ]
    method = csr.Csr()
    paths = method._complete_paths(tree)
    assert sorted(paths) == [[1, 3], [1, 4], [2]]
    values = dict(zip(map(tuple, paths), method._path_values(tree, paths)))
    v = {1: 0.1 * 0.5 + 0.9 * 1.0, 2: 0.1 * 1.0 + 0.9 * 0.5, 3: 0.1 * 0.5 + 0.9 * 1.0, 4: 0.1 * 1.0 + 0.9 * 0.5}
    assert values[(1, 3)] == pytest.approx((v[1] + v[3]) / 3)
    assert values[(1, 4)] == pytest.approx((v[1] + v[4]) / 3)
    assert values[(2,)] == pytest.approx(v[2] / 2)
    paper = csr.Csr(build_config(csr.Csr, variant="paper"))
    raw = dict(zip(map(tuple, paths), paper._path_values(tree, paths)))
    assert raw[(2,)] == pytest.approx((0.1 * -0.5 + 0.9 * 0.25) / 2)
    tree[3].removed = True
    assert sorted(method._complete_paths(tree)) == [[1, 4], [2]]


def test_cleaning_rules():
    assert csr.bad_sentence("Hi.") == "short"
    assert csr.bad_sentence("Привет, мир.") == "script"
    assert csr.bad_sentence("the the the the the the end") == "repetition"
    assert csr.bad_sentence("aaaaaaaaaaaa") == "repetition"
    assert csr.bad_sentence("There is a red circle.") is None


# The 11 distinct questions of YiyangZhou/CSR @ 353de42 inference_csr/data/CSR-Prompt-Dataset-12k.json (12,856
# prompts, each question 1,082-1,204 times), verbatim: the stray apostrophe of the first is the file's.
OFFICIAL_QUESTIONS = {
    "What is this photo about'?",
    "Can you describe the main features of this image for me?",
    "What's happening in the scene?",
    "What do you see happening in this image?",
    "What do you think is going on in this snapshot?",
    "Write a detailed description of the given image.",
    "What are the key elements in this picture?",
    "Can you elaborate on the elements of the picture provided?",
    "Analyze the image in a comprehensive and detailed manner.",
    "Explain the visual content of the image in great detail.",
    "Describe the following image.",
}


def test_questions_are_csrs_eleven():
    assert len(csr.QUESTIONS) == len(set(csr.QUESTIONS)) == 11
    assert set(csr.QUESTIONS) == OFFICIAL_QUESTIONS


def _ctx(run_seed: int, iteration: int):
    # the evolve loop's context: its seed mixes in the iteration, run_seed is the run's --seed
    return dataclasses.replace(
        synthetic_context(seed=run_seed * 1000 + iteration), iteration=iteration, run_seed=run_seed
    )


def test_every_image_gets_one_of_the_eleven_and_keeps_it_every_round():
    from harness.images import ImageRef

    # images that carry annotation questions (as a LLaVA-665k file's do): the default still asks CSR's
    refs = [ImageRef(f"coco/{k}.jpg", f"/x/coco/{k}.jpg", ("What color is the bus?",)) for k in range(300)]
    method = csr.Csr()
    rounds = [[method.question(r, _ctx(7, i)) for r in refs] for i in (1, 2, 3)]
    assert rounds[0] == rounds[1] == rounds[2]  # fixed per image, as the released file fixes it
    assert set(rounds[0]) == OFFICIAL_QUESTIONS  # all 11 in use over 300 images
    assert [method.question(r, _ctx(8, 1)) for r in refs] != rounds[0]  # the run's seed draws them
    own = csr.Csr(build_config(csr.Csr, ["question_source=annotation"]))
    assert {own.question(r, _ctx(7, 2)) for r in refs} == {"What color is the bus?"}
    assert own.question(ImageRef("a.jpg", "/x/a.jpg"), _ctx(7, 2)) in OFFICIAL_QUESTIONS


def test_one_fixed_image_set_every_round(tmp_path):
    from harness.images import open_source, sample_iterations
    from tests.llava665k_fixture import make_llava665k

    assert csr.Csr.images_per_iter == 12_856  # CSR-Prompt-Dataset-12k.json's prompts, one per COCO image
    plan = csr.Csr().image_plan(12_856)
    assert plan.same_every_iteration and dict(plan.quotas) == {"coco": 12_856}
    json_path, root = make_llava665k(tmp_path)
    split = sample_iterations(
        open_source(str(json_path), image_root=str(root)), 3, 3, seed=1, plan=csr.Csr().image_plan(3)
    )
    ids = [[r.id for r in it] for it in split.iterations]
    assert ids[0] == ids[1] == ids[2] and all(i.startswith("coco/") for i in ids[0])


def test_recipe_is_the_official_one():
    from harness.train.config import resolve_train_config

    recipe = csr.Csr().train_recipe()
    # scripts/run_train.sh: 1 per device × accumulation 1 on every GPU, lr 1e-7, 1 epoch, LoRA r128/α256, cosine
    assert (recipe["per_device_batch_size"], recipe["global_batch_size"]) == (1, 0)
    assert (recipe["learning_rate"], recipe["epochs"], recipe["lr_scheduler"]) == (1e-7, 1.0, "cosine")
    assert (recipe["lora"], recipe["lora_r"], recipe["lora_alpha"], recipe["warmup_ratio"]) == (True, 128, 256, 0.03)
    cfg, _ = resolve_train_config("llava-hf/llava-1.5-7b-hf", recipe, {})
    assert [cfg.global_batch(n) for n in (1, 4, 8)] == [1, 4, 8]  # the global batch is the GPU count


def test_plan_reads_the_global_batch_as_the_gpu_count(tmp_path):
    from rich.console import Console

    from harness.evolve import EvolveOptions
    from harness.plan import plan_evolve, print_plan
    from perf.gpu_smoke import llava_config

    llava_config(tiny=False).save_pretrained(tmp_path)
    plan = plan_evolve(EvolveOptions(method="csr", iters=3, model=str(tmp_path), evals=[]), gpus=8, gpu_memory_gib=80)
    assert plan.images_per_iter == 12_856 and plan.global_batch == 8
    assert plan.train_steps == -(-12_856 // 8)  # one step per 8 pairs (about one pair per image)
    console = Console(record=True, width=200)
    print_plan(plan, console)
    assert "optimiser steps of global batch 8 " in console.export_text()


def test_harness_methods_csr_shows_the_prompts_images_and_batch():
    from harness.plugin_info import method_images, method_options, method_recipe, recipe_text

    help_text = {o.name: o.help for o in method_options(csr.Csr)}["question_source"]
    assert all(q in help_text for q in OFFICIAL_QUESTIONS)
    assert "one fixed set of 12856 images" in method_images(csr.Csr)
    assert "the same every iteration" in method_images(csr.Csr)
    assert "global_batch_size=0 (per-device × GPUs: no accumulation)" in recipe_text(method_recipe(csr.Csr))


def test_search_on_the_tiny_model_is_deterministic(tiny_policy):
    from harness.backends.hf import HFBackend

    cfg = dataclasses.replace(csr.CsrConfig(), max_new_tokens=10, max_sentences=3)
    refs = synthetic_refs(3)
    runs = []
    for _ in range(2):
        method = csr.Csr(cfg, scorer=FakeScorer({}))
        runs.append(method.synthesize(HFBackend(tiny_policy, progress=False), refs, synthetic_context(seed=2)))
    a, b = runs
    assert [p.to_dict() for p in a.pairs] == [p.to_dict() for p in b.pairs]
    c = a.counts
    assert c["images"] == 3 and c["distinct_paths"] == len(a.pairs) <= c["with_complete_path"] <= 3
    assert a.stats["steps"]["search"]["generation_calls"] == a.stats["max_depth"] <= 3
    for p in a.pairs:
        assert p.kind == "des" and p.chosen != p.rejected and p.prompt in csr.QUESTIONS
        assert p.provenance["value_chosen"] <= p.provenance["value_rejected"]


def test_expansion_gives_distinct_sentences(tiny_policy):
    from harness.images.synthetic import make_scene
    from methods.csr.search import expand

    images = [make_scene("csr-test", i).render() for i in range(2)]
    out = expand(
        tiny_policy, images, ["Describe the following image."] * 2, [[], []], groups=5, penalty=3.0, max_new_tokens=10
    )
    assert len(out) == 2 and all(len(children) == 5 for children in out)
    plain = expand(
        tiny_policy, images, ["Describe the following image."] * 2, [[], []], groups=5, penalty=0.0, max_new_tokens=10
    )
    assert all(len({tuple(c.tokens) for c in children}) == 1 for children in plain)  # no penalty: 5 × greedy
    assert any(len({tuple(c.tokens) for c in children}) > 1 for children in out)  # the penalty diversifies
    assert all(c.score <= 0 for children in plain for c in children)


def test_clip_is_required_off_the_tiny_model():
    backend = ScriptedBackend(lambda r, i: "x")
    backend.policy = type("P", (), {"model": type("M", (), {"generate": None})()})()
    ctx = dataclasses.replace(synthetic_context(), checkpoint="ckpt/llava-1.5-7b-hf", base_model="ckpt/llava")
    with pytest.raises(HarnessError, match="clip_model="):
        csr.Csr().synthesize(backend, synthetic_refs(1), ctx)
    bad = csr.Csr(build_config(csr.Csr, ["clip_model=/nonexistent/clip"]))
    with pytest.raises(HarnessError, match="csr option clip_model=/nonexistent/clip"):
        bad.synthesize(backend, synthetic_refs(1), ctx)
    with pytest.raises(HarnessError, match="'hf' backend"):
        csr.Csr().synthesize(ScriptedBackend(lambda r, i: "x"), synthetic_refs(1), ctx)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("reward=mean", "released_ranks, paper_raw"),
        ("clip_alpha=2", "0-1"),
        ("groups=0", "≥ 1"),
        ("objective=ipo", "dpo, mdpo"),
        ("question_source=self", "csr, annotation"),
        ("beam=3", "accepted: "),
    ],
)
def test_bad_options(override, needle):
    with pytest.raises(HarnessError, match=needle):
        build_config(csr.Csr, [override])


def test_two_iterations_on_the_tiny_model(tiny_path, tmp_path):
    run_dir = tmp_path / "csr"
    evolve_small(run_dir, "csr", 2, ["max_new_tokens=10", "max_sentences=3"])
    # one fixed image set, the same in both rounds, recorded as such; every pair asks one of the 11, and an
    # image asks the same question in both rounds
    images = [json.loads((run_dir / f"iter{i}" / "images.json").read_text()) for i in (1, 2)]
    assert images[0] == images[1] and len(images[0]) == 4
    config = json.loads((run_dir / "config.json").read_text())
    assert config["images"]["plan"]["same_every_iteration"] is True
    prompts = [
        {json.loads(line)["image"]: json.loads(line)["prompt"] for line in open(run_dir / f"iter{i}" / "pairs.jsonl")}
        for i in (1, 2)
    ]
    assert set(prompts[0].values()) | set(prompts[1].values()) <= OFFICIAL_QUESTIONS
    assert all(prompts[0][k] == prompts[1][k] for k in prompts[0].keys() & prompts[1].keys())
    for i in (1, 2):
        it = run_dir / f"iter{i}"
        stats = json.loads((it / "stats.json").read_text())
        assert stats["counts"]["images"] == 4 and stats["stats"]["steps"]["clip_score"]["clip_model"] == "tiny"
        train = json.loads((it / "train.json").read_text())
        assert (it / "checkpoint" / "config.json").is_file()
        if stats["pairs"]:
            assert train["steps"] >= 1 and train["objective"]["name"] == "csr"
