"""POVID: pairs without a file (stage 2 alone), with a file of GPT-4V pairs, the noised-generation variant,
the objective's weights, the noisy-argmax term by hand, bad options, and two iterations on the tiny model."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import methods.povid.method as povid
from harness.errors import HarnessError
from harness.images.sources import ImageRef
from harness.method import TrainingObjective, build_config
from harness.plugins import registry
from tests.method_fakes import ScriptedBackend, evolve_small, synthetic_context, synthetic_refs


def _file(tmp_path, refs):
    data = [
        {
            "id": "1",
            "image": refs[0].id,
            "conversations": [
                {"from": "human", "value": "<image>\nDescribe this image in detail."},
                {"from": "gpt", "value": "A red circle."},
            ],
            "rejected_conversations": [
                {"from": "human", "value": "<image>\nDescribe this image in detail."},
                {"from": "gpt", "value": "A red circle next to a cat."},
            ],
        }
    ]
    path = tmp_path / "povid.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_registered():
    assert registry().method("povid") is povid.Povid


def test_without_a_file_the_second_stage_alone():
    backend = ScriptedBackend(lambda r, i: f"There is a shape {i}.")
    method = povid.Povid()
    out = method.synthesize(backend, synthetic_refs(4), synthetic_context())
    assert len(backend.calls) == 1
    assert all(r.prompt == povid.DESCRIBE and r.noise_step is None for r in backend.calls[0])
    assert out.counts == {"images": 4, "file_pairs": 0, "self_prompts": 4, "self_valid": 4, "pairs": 4}
    assert all(p.rejected == "" and p.provenance["source"] == "self" for p in out.pairs)
    assert "2 alone" in out.stats["stage"]
    obj = method.objective()
    assert (obj.dpo_weight, obj.noise_negative_weight, obj.noise_negative_step) == (0.0, 1.0, 500)


def test_with_a_file_both_terms(tmp_path):
    refs = synthetic_refs(3)
    method = povid.Povid(build_config(povid.Povid, [f"stage1_file={_file(tmp_path, refs)}"]))
    backend = ScriptedBackend(lambda r, i: f"own answer {i}")
    out = method.synthesize(backend, refs, synthetic_context())
    assert out.counts["file_pairs"] == 1 and out.counts["self_prompts"] == 2 and out.counts["pairs"] == 3
    filed = [p for p in out.pairs if p.provenance["source"] == "stage1_file"][0]
    assert (filed.prompt, filed.chosen, filed.rejected) == (
        "Describe this image in detail.",
        "A red circle.",
        "A red circle next to a cat.",
    )
    obj = method.objective()
    assert (obj.dpo_weight, obj.noise_negative_weight) == (0.5, 0.5)
    stage1 = povid.Povid(build_config(povid.Povid, [f"stage1_file={_file(tmp_path, refs)}", "stage=1"]))
    only = stage1.synthesize(ScriptedBackend(lambda r, i: "x"), refs, synthetic_context())
    assert len(only.pairs) == 1 and stage1.train_recipe()["epochs"] == 3.0 and stage1.objective().dpo_weight == 1.0


def test_generate_on_noise_variant_and_seeds():
    backend = ScriptedBackend(lambda r, i: f"{'noisy' if r.noise_step else 'clean'} {i}")
    method = povid.Povid(build_config(povid.Povid, variant="generate_on_noise"))
    out = method.synthesize(backend, synthetic_refs(3), synthetic_context())
    assert [r.noise_step for r in backend.calls[1]] == [500] * 3
    assert all(p.rejected.startswith("noisy") for p in out.pairs)
    seeds = [r.seed for r in backend.calls[1]]
    backend2 = ScriptedBackend(lambda r, i: f"{'noisy' if r.noise_step else 'clean'} {i}")
    method.synthesize(backend2, synthetic_refs(3), synthetic_context())
    assert [r.seed for r in backend2.calls[1]] == seeds and len(set(seeds)) == 3


def test_noise_negative_term_by_hand():
    from harness.train.objectives import objective_loss, top_alternative

    obj = TrainingObjective(dpo_weight=0.5, noise_negative_weight=0.5)
    pol = {
        "chosen": torch.tensor([-10.0, -12.0]),
        "rejected": torch.tensor([-20.0, -9.0]),
        "noise": torch.tensor([-15.0, -14.0]),
    }
    ref = {
        "chosen": torch.tensor([-11.0, -12.5]),
        "rejected": torch.tensor([-19.0, -10.0]),
        "noise": torch.tensor([-14.0, -13.0]),
    }
    loss, terms = objective_loss(obj, pol, ref, torch.tensor([1.0, 0.0]))
    rw = 0.1 * (pol["chosen"] - ref["chosen"])
    dpo = torch.stack([-F.logsigmoid(rw[0] - 0.1 * (-20.0 + 19.0)), torch.tensor(0.0)]).mean()
    self_term = (-F.logsigmoid(rw - 0.1 * (pol["noise"] - ref["noise"]))).mean()
    assert loss.item() == pytest.approx(0.5 * dpo.item() + 0.5 * self_term.item(), rel=1e-6)
    logp = torch.log_softmax(torch.tensor([[[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]]]), -1)
    assert top_alternative(logp, torch.tensor([[0, 0]])).tolist() == [[1, 1]]


@pytest.mark.parametrize(
    "override, needle",
    [
        ("negative=sample", "argmax_teacher_forced, generate_on_noise"),
        ("stage=3", "1, 2"),
        ("stage=1", "stage1_file"),
        ("stage1_file=/nonexistent.json", "no such file"),
        ("noise_step=1000", "0-999"),
        ("gpt4v_prompt=x", "accepted: "),
    ],
)
def test_bad_options(override, needle):
    with pytest.raises(HarnessError, match=needle):
        build_config(povid.Povid, [override])


def test_bad_file_names_the_entry(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            [{"image": "a.jpg", "conversations": [{"from": "human", "value": "q"}], "rejected_conversations": []}]
        )
    )
    method = povid.Povid(build_config(povid.Povid, [f"stage1_file={path}"]))
    with pytest.raises(HarnessError, match=r"bad.json: entry 0: 'conversations' has no 'gpt' turn"):
        method.synthesize(ScriptedBackend(lambda r, i: "x"), [ImageRef("a.jpg")], synthetic_context())


def test_two_iterations_on_the_tiny_model(tiny_path, tmp_path):
    run_dir = tmp_path / "povid"
    evolve_small(run_dir, "povid", 2, ["max_new_tokens=16"])
    for i in (1, 2):
        it = run_dir / f"iter{i}"
        stats = json.loads((it / "stats.json").read_text())
        assert "2 alone" in stats["stats"]["stage"]
        train = json.loads((it / "train.json").read_text())
        if stats["pairs"]:
            assert train["steps"] >= 1 and train["objective"]["noise_negative_weight"] == 1.0
            assert "objective/noise_negative" in train["final_log"] and "objective/dpo" not in train["final_log"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["objective"]["dpo_weight"] == 0.0
