"""STIC: verbatim prompts, the two rejected branches and their corruptions, seeded choices, counts, bad
options, the objective (DPO + SFT, released top-alternative score), and two iterations on the tiny model."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch
from PIL import Image

import methods.stic.method as stic
import methods.stic.prompts as P
from harness.errors import HarnessError
from harness.method import build_config
from harness.plugins import registry
from tests.method_fakes import ScriptedBackend, evolve_small, synthetic_context, synthetic_refs


def _run(seed=0, n=12, **overrides):
    backend = ScriptedBackend(lambda r, i: f"answer to {r.prompt[:20]} #{i}")
    method = stic.Stic(dataclasses.replace(stic.SticConfig(), **overrides))
    return method.synthesize(backend, synthetic_refs(n), synthetic_context(seed=seed)), backend


def test_registered_and_listed():
    reg = registry()
    assert reg.method("stic") is stic.Stic
    assert stic.Stic.reported[0].values["amber/CHAIR"] == 7.6 and stic.Stic.reported[0].table == "sena-table4"


def test_prompts_are_verbatim(shared_dir):
    spec = (shared_dir / "spec" / "baselines.md").read_text()
    block = spec.split("**(a) Preferred")[1].split("```\n")[1].split("```")[0]
    assert P.PREFERRED == block.rstrip("\n")
    for prompt in P.SIMPLE + P.HALLUCINATION:
        assert f"`{prompt}`" in spec
    assert len(P.SIMPLE) == len(P.HALLUCINATION) == 8


def test_pairs_two_branches_counts_and_seed():
    out, backend = _run()
    assert len(backend.calls) == 2  # chosen, then all rejected answers: one batched call each
    chosen_reqs, rejected_reqs = backend.calls
    assert all(r.prompt == P.PREFERRED and r.noise_step is None for r in chosen_reqs)
    assert out.counts == {"images": 12, "generated": 12, "valid_text": 12, "not_equal": 12}
    branches = [p.provenance["rejected_branch"] for p in out.pairs]
    assert set(branches) == {"hallucination_prompt", "corrupted_image"}
    for p, req in zip(out.pairs, rejected_reqs):
        assert p.kind == "des" and p.prompt in P.SIMPLE
        if p.provenance["rejected_branch"] == "hallucination_prompt":
            assert req.prompt in P.HALLUCINATION
        else:
            assert req.prompt == p.prompt and p.provenance["corruption"] in ("low_resolution", "color_jitter")
    assert sum(out.stats["pairs_by_branch"].values()) == 12
    again, _ = _run()
    assert [p.to_dict() for p in again.pairs] == [p.to_dict() for p in out.pairs]
    other, _ = _run(seed=5)
    assert [p.prompt for p in other.pairs] != [p.prompt for p in out.pairs]


def test_corruptions_change_the_image_and_released_keeps_it():
    out, backend = _run()
    refs = synthetic_refs(12)
    ctx = synthetic_context()
    for ref, p, req in zip(refs, out.pairs, backend.calls[1]):
        clean = ctx.open_image(ref)
        if p.provenance["corruption"] == "low_resolution":
            assert min(req.image.size) == 20
        elif p.provenance["corruption"] == "color_jitter":
            assert req.image.size == clean.size and req.image.tobytes() != clean.tobytes()
    released, backend = _run(corrupt="released")
    for ref, p, req in zip(refs, released.pairs, backend.calls[1]):
        if p.provenance["rejected_branch"] == "corrupted_image":
            assert req.image.tobytes() == ctx.open_image(ref).tobytes()


def test_corruption_functions():
    im = Image.new("RGB", (64, 32), (200, 40, 40))
    assert P.low_resolution(im).size == (40, 20)
    shifted = P.shift_hue(im, 0.3)
    assert shifted.getpixel((0, 0)) != im.getpixel((0, 0))
    assert P.shift_hue(im, 0.0).getpixel((0, 0)) == pytest.approx(im.getpixel((0, 0)), abs=2)
    a = P.color_jitter(im, random.Random(3))
    assert a.tobytes() == P.color_jitter(im, random.Random(3)).tobytes()


def test_equal_and_empty_answers_are_dropped_and_counted():
    script = {0: ("Same.", "Same."), 1: ("", "x"), 2: ("A circle.", "A dog.")}
    backend = ScriptedBackend(lambda r, i: script[i][0] if r.prompt == P.PREFERRED else script[i][1])
    out = stic.Stic().synthesize(backend, synthetic_refs(3), synthetic_context())
    assert out.counts == {"images": 3, "generated": 3, "valid_text": 2, "not_equal": 1}


def test_objective_and_recipe():
    obj = stic.Stic().objective()
    assert obj.sft_weight == pytest.approx(1 / 1024) and obj.rejected_score == "likelihood" and obj.beta == 0.1
    rel = stic.Stic(build_config(stic.Stic, variant="released")).objective()
    assert rel.rejected_score == "top_alternative"
    m = stic.Stic(build_config(stic.Stic, ["objective=mdpo"])).objective()
    assert m.copo_weight == 1.0 and m.anchor_weight == 1.0 and m.sft_weight == pytest.approx(1 / 1024)
    recipe = stic.Stic().train_recipe()
    assert recipe["lora"] and recipe["lora_r"] == 128 and recipe["learning_rate"] == 1e-7
    assert recipe["global_batch_size"] == 8


@pytest.mark.parametrize(
    "override, needle",
    [
        ("corrupt=blur", "paper, released"),
        ("rejected_logp=x", "likelihood, released_code"),
        ("objective=kto", "dpo, mdpo"),
        ("stage2=maybe", "expected true or false"),
        ("temperature=0.2", "accepted: "),
    ],
)
def test_bad_options(override, needle):
    with pytest.raises(HarnessError, match=needle):
        build_config(stic.Stic, [override])


def test_two_stages_as_published():
    """Stage 1: DPO + (1/1024)·SFT on the iteration's pairs; stage 2 (finetune_lora.sh): token-mean SFT on its own
    samples, lr 2e-5, global batch 32, 1 epoch, max length 2048; the published row on the released variant."""
    one, two = stic.Stic().training_stages()
    assert (one.name, one.pairs, one.objective.dpo_weight) == ("stage1", "synthesized", 1.0)
    assert (two.name, two.pairs) == ("stage2", "own")
    obj = two.objective
    assert (obj.dpo_weight, obj.sft_weight, obj.sft_norm) == (0.0, 1.0, "token_mean")
    assert two.recipe == {
        "learning_rate": 2e-5,
        "global_batch_size": 32,
        "per_device_batch_size": 16,
        "epochs": 1.0,
        "max_length": 2048,
    }
    assert [s.name for s in stic.Stic(build_config(stic.Stic, ["stage2=false"])).training_stages()] == ["stage1"]
    (row,) = stic.Stic.reported
    assert row.variant == "released" and row.table == "sena-table4"


def test_stage_two_samples_are_instruction_data_with_the_own_description():
    from methods.stic.prompts import SIMPLE

    backend = ScriptedBackend(lambda r, i: f"There is a shape {i}.")
    refs = synthetic_refs(5)
    ctx = synthetic_context()
    out = stic.Stic().stage_pairs("stage2", backend, refs, ctx)
    assert len(backend.calls) == 1 and all(r.prompt in SIMPLE and r.noise_step is None for r in backend.calls[0])
    assert len(out.pairs) == 5 and out.counts["with_instruction_data"] == 5
    for pair in out.pairs:
        truth = {q: a for q, a in ctx.annotations(type(refs[0])(pair.image)) if q}
        head, question = pair.prompt.split("\n\n", 1)
        assert head.startswith("Image description:\nThere is a shape ")
        assert truth[question] == pair.chosen and pair.rejected == ""


def test_the_token_mean_sft_term_by_hand():
    from harness.method import TrainingObjective
    from harness.train.objectives import objective_loss

    obj = TrainingObjective(dpo_weight=0.0, sft_weight=1.0, sft_norm="token_mean")
    tokens = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, 0.0, 0.0]])
    pol = {"chosen": tokens.sum(1), "chosen_tokens": tokens, "chosen_count": torch.tensor([2.0, 1.0])}
    ref = {"chosen": torch.tensor([-3.0, -0.5])}
    loss, terms = objective_loss(obj, pol, ref, torch.tensor([0.0, 0.0]))
    assert loss.item() == pytest.approx(3.5 / 3)  # mean over the 3 answer tokens, not the mean of sums (1.75)


def test_two_iterations_on_the_tiny_model(tiny_path, tmp_path):
    run_dir = tmp_path / "stic"
    evolve_small(run_dir, "stic", 2, ["max_new_tokens=16"])
    for i in (1, 2):
        it = run_dir / f"iter{i}"
        pairs = (it / "pairs.jsonl").read_text().splitlines()
        train = json.loads((it / "train.json").read_text())
        assert (it / "checkpoint" / "config.json").is_file()
        if pairs:
            one, two = train["stages"]
            assert one["steps"] >= 1 and one["objective"]["name"] == "stic"
            assert "objective/sft" in one["final_log"]
            samples = (it / "stage-stage2" / "pairs.jsonl").read_text().splitlines()
            assert len(samples) >= 1 and two["objective"]["sft_norm"] == "token_mean" and two["steps"] >= 1
            assert all(json.loads(x)["prompt"].startswith("Image description:\n") for x in samples)
