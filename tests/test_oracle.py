"""The oracle control: its pairs (true caption vs the noised-image answer), its refusals, and that
training on them lowers CHAIR on held-out scenes (the loop can move the model)."""

from __future__ import annotations

import pytest

import methods.oracle as oracle_plugin
import methods.oracle.method as oracle
from harness.errors import HarnessError
from harness.images.sources import ImageRef
from harness.images.synthetic import make_scene
from harness.method import build_config
from harness.plugins import registry
from harness.policy.warmup_tasks import DESCRIBE_PROMPTS
from tests.method_fakes import ScriptedBackend, synthetic_context, synthetic_refs


def test_registered_as_a_validation_control():
    reg = registry(entry_points=False, extra=[oracle_plugin])
    assert reg.method("oracle") is oracle.Oracle
    assert oracle.Oracle.validation_only is True


def test_chosen_is_the_true_caption_and_rejected_the_noised_answer():
    refs = synthetic_refs(3)
    truth = {r.id: make_scene("method-test", int(r.id.rsplit("/", 1)[1])).caption() for r in refs}
    # the scripted policy gets image 1 right on the noised image: that pair is dropped
    backend = ScriptedBackend(
        lambda r, i: truth[refs[1].id] if i // len(DESCRIBE_PROMPTS) == 1 else f"a red star {i}</s>"
    )
    out = oracle.Oracle().synthesize(backend, refs, synthetic_context())
    assert len(backend.calls) == 1  # one batched call: only noised answers are generated
    reqs = backend.calls[0]
    assert [r.noise_step for r in reqs] == [500] * 9 and len({r.seed for r in reqs}) == 9
    assert [r.prompt for r in reqs[:3]] == list(DESCRIBE_PROMPTS)
    assert out.counts == {"images": 3, "questions": 9, "differs_from_truth": 6}
    assert [p.chosen for p in out.pairs] == [truth[refs[0].id]] * 3 + [truth[refs[2].id]] * 3
    assert out.pairs[0].rejected == "a red star 0" and {p.kind for p in out.pairs} == {"des"}
    assert out.pairs[0].provenance["method"] == "oracle"


def test_existence_pairs_take_the_true_answer():
    refs = synthetic_refs(2)
    backend = ScriptedBackend(lambda r, i: "Yes" if r.prompt.startswith("Is there") else "nothing")
    cfg = build_config(oracle.Oracle, ["prompts_per_image=1"], variant="with_existence")
    out = oracle.Oracle(cfg).synthesize(backend, refs, synthetic_context())
    qa = [p for p in out.pairs if p.kind == "qa"]
    scenes = [make_scene("method-test", i) for i in range(2)]
    absent = sum(k not in s.objects for s in scenes for k in ("circle", "square", "triangle"))
    assert len(qa) == absent and all(p.chosen == "No" and p.rejected == "Yes" for p in qa)


def test_refuses_images_whose_content_it_cannot_know():
    backend = ScriptedBackend(lambda r, i: "x")
    ctx = synthetic_context()
    with pytest.raises(HarnessError, match=r"oracle: image 'photos/cat\.jpg' is not a synthetic scene"):
        oracle.Oracle().synthesize(backend, [ImageRef("photos/cat.jpg", "/tmp/cat.jpg")], ctx)


@pytest.mark.parametrize(
    "option, message",
    [
        ("noise_step=1000", r"noise_step=1000: accepted values are integers 0-999"),
        ("prompts_per_image=4", r"prompts_per_image=4: accepted values are integers 1-3"),
        ("epochs=0", r"epochs=0.0: accepted values are numbers > 0"),
    ],
)
def test_bad_options_name_the_option(option, message):
    with pytest.raises(HarnessError, match=message):
        build_config(oracle.Oracle, [option])


def test_recipe_and_objective_follow_the_options():
    o = oracle.Oracle(build_config(oracle.Oracle, ["epochs=3", "sft_weight=0.5"]))
    assert o.train_recipe() == {"epochs": 3.0}
    assert o.objective().sft_weight == 0.5 and o.objective().beta == 0.1


def _oracle_iteration(tmp_path, images: int):
    """One oracle iteration at the control's measured scale (docs/proving-ground.md): lr 5e-5, 3 epochs."""
    from harness.evolve import EvolveOptions, evolve

    run_dir = tmp_path / "run"
    evolve(
        EvolveOptions(
            method="oracle",
            iters=1,
            run_dir=run_dir,
            evals=[],
            images_per_iter=images,
            heldout_images=0,  # the tests measure on their own held-out scenes
            train_overrides={"learning_rate": 5e-5},
            progress=False,
        )
    )
    return run_dir / "iter1" / "checkpoint"


def _chair_change(before, after, scenes: int, tmp_path):
    from PIL import Image

    from benchmarks.shapes import ShapesBenchmark, metrics_from_counters, scene_units
    from harness.backends.base import GenerationRequest
    from harness.backends.hf import HFBackend
    from harness.report.bootstrap import paired_test

    bench = ShapesBenchmark(scenes=scenes, image_dir=tmp_path / "images")
    items = [it for it in bench.load(None) if it.meta["task"] == "description"]
    images = [Image.open(it.image).convert("RGB") for it in items]
    units = []
    for policy in (before, after):
        outs = HFBackend(policy, batch_size=32, progress=False).generate(
            [GenerationRequest(prompt=it.prompt, image=im, max_new_tokens=48) for it, im in zip(items, images)]
        )
        units.append(scene_units(bench.score(items, {it.id: o for it, o in zip(items, outs)}).records))
    return paired_test(units[0], units[1], metrics_from_counters)["CHAIR"]


@pytest.mark.slow
def test_one_oracle_iteration_lowers_chair_significantly(tiny_path, tiny_policy, tmp_path):
    """Measured: CHAIR 16.4 -> 11.0 (-5.4, 95 % interval [-8.0, -2.6], p < 0.001) on 300 scenes."""
    from harness.policy import load_policy

    change = _chair_change(tiny_policy, load_policy(_oracle_iteration(tmp_path, 384)), 300, tmp_path)
    assert change.delta <= -5 and change.p_value < 0.01, change


def _held_out_margins(policy, pairs: list[dict]) -> list[float]:
    """log π(true caption) − log π(θ0's own description) per held-out scene (summed token log-probs)."""
    from harness.policy.templates import get_template
    from harness.train.collator import LlavaPairCollator
    from harness.train.reference import reference_logps

    collator = LlavaPairCollator(
        policy.processor,
        get_template("llava_v1"),
        lambda ex: ex["image"],
        max_length=512,
        pad_to_square=policy.pad_to_square,
    )
    rows = reference_logps(policy.model, collator, pairs, batch_size=16, progress=False)
    return [r["chosen_logps"] - r["rejected_logps"] for r in rows]


def test_a_small_oracle_iteration_moves_the_model_towards_the_truth(tiny_path, tiny_policy, tmp_path):
    """The fast variant: after one oracle iteration on 64 training scenes, the margin between the true
    description and θ0's own (wrong) description grows on held-out scenes, paired over scenes. A loop
    that does not learn (or learns the wrong way) leaves it flat or shrinks it."""
    from harness.backends.base import GenerationRequest
    from harness.backends.hf import HFBackend
    from harness.policy import load_policy
    from harness.report.compare import paired_bootstrap

    scenes = [make_scene("oracle-held-out", i) for i in range(120)]
    images = [s.render() for s in scenes]
    own = HFBackend(tiny_policy, batch_size=32, progress=False).generate(
        [GenerationRequest(prompt="Describe the image.", image=im, max_new_tokens=48) for im in images]
    )
    pairs = [
        {"image": im, "prompt": "Describe the image.", "chosen": s.caption(), "rejected": o, "kind": "des"}
        for s, im, o in zip(scenes, images, own)
        if o.strip() != s.caption()
    ]
    assert len(pairs) >= 15  # θ0 gets some of these scenes wrong
    before = _held_out_margins(tiny_policy, pairs)
    # 64 scenes: on 32 the interval's lower end depends on the draw (above 0 for the shipped model and for
    # the model rebuilt under seed 1 with one draw of 32, below it with another); on 64 it is above 0 for both
    after = _held_out_margins(load_policy(_oracle_iteration(tmp_path, 64)), pairs)
    result = paired_bootstrap([(str(i), a, b) for i, (a, b) in enumerate(zip(before, after))], resamples=2000)
    assert result.delta > 0 and result.ci_low > 0, result
