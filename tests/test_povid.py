"""POVID as published: stage 1 (DPO on ground truth vs injected hallucinations, 3 epochs) then stage 2
(0.5·DPO + 0.5·noised-argmax negative, 1 epoch, from stage 1) every iteration; the release's raw-pixel
noise; its released data file checked whole; the deviations as named variants; bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import methods.povid.method as povid
from harness.errors import HarnessError
from harness.images.sources import ImageRef, SyntheticSource, parse_synthetic_id
from harness.images.synthetic import SKEWED, make_scene
from harness.method import TrainingObjective, build_config
from harness.plugins import registry
from methods.povid import inject, load_stage1_pairs
from tests.method_fakes import ScriptedBackend, evolve_small, synthetic_context, synthetic_refs


def _record(
    image, question="Describe this image in detail.", chosen="A red circle.", rejected="A red circle and a cat."
):
    return {
        "id": "1",
        "image": image,
        "conversations": [{"from": "human", "value": f"<image>\n{question}"}, {"from": "gpt", "value": chosen}],
        "rejected_conversations": [
            {"from": "human", "value": f"<image>\n{question}"},
            {"from": "gpt", "value": rejected},
        ],
    }


def _file(tmp_path, rows, name="povid.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return str(path)


def test_registered():
    assert registry().method("povid") is povid.Povid


def test_stages_and_weights_are_the_official_ones():
    """run_dpo.sh: DPO, 3 epochs; run_povid.sh: 0.5·L_ai + 0.5·L_self at t = 500 on raw pixels, 1 epoch; β 0.1."""
    stages = povid.Povid().training_stages()
    assert [s.name for s in stages] == ["stage1", "stage2"]
    one, two = stages
    assert (one.objective.dpo_weight, one.objective.noise_negative_weight, one.objective.beta) == (1.0, 0.0, 0.1)
    assert one.recipe == {"epochs": 3.0} and one.pairs == "synthesized"
    obj = two.objective
    assert (obj.dpo_weight, obj.noise_negative_weight, obj.noise_negative_step, obj.beta) == (0.5, 0.5, 500, 0.1)
    assert obj.noise_space == "pixel_unclamped" and obj.rejected_score == "likelihood" and obj.sft_weight == 0
    assert two.recipe == {"epochs": 1.0} and two.pairs == "synthesized"
    recipe = povid.Povid().train_recipe()
    assert (recipe["lora_r"], recipe["lora_alpha"], recipe["learning_rate"]) == (128, 256, 1e-7)
    assert recipe["lora"] and not recipe["lora_train_projector"] and recipe["lr_scheduler"] == "cosine"
    assert recipe["per_device_batch_size"] == 1  # 1 per device × accumulation 1 × GPUs (the scripts)
    clean = povid.Povid(build_config(povid.Povid, variant="clean_noise")).training_stages()[1].objective
    assert clean.noise_space == "normalised"


def test_chosen_is_the_ground_truth_and_rejected_the_injected_hallucination():
    refs = synthetic_refs(24)
    backend = ScriptedBackend(lambda r, i: "never asked")
    out = povid.Povid().synthesize(backend, refs, synthetic_context())
    assert backend.calls == []  # nothing is generated: both answers come from the truth
    assert len(out.pairs) == 24 and out.counts["injected_by_rule"] == 24
    for pair in out.pairs:
        scene = make_scene(*parse_synthetic_id(pair.image))
        assert pair.prompt == povid.DESCRIBE and pair.chosen == scene.caption()
        assert pair.rejected != pair.chosen and pair.provenance["injected"].startswith("by rule")
    entity = [p for p in out.pairs if "entity" in p.provenance["injected"]]
    assert entity, "the prior's partner is injected wherever the scene lacks it"
    for pair in entity:
        scene = make_scene(*parse_synthetic_id(pair.image))
        kinds = {s.kind for s in scene.shapes}
        swapped = next(s.kind for s in scene.shapes if SKEWED.partner(s.kind) and SKEWED.partner(s.kind) not in kinds)
        assert SKEWED.partner(swapped) in pair.rejected


def test_injection_rule_by_hand():
    scene = next(
        make_scene("inj", i) for i in range(200) if [s.kind for s in make_scene("inj", i).shapes] == ["circle"]
    )
    text, change = inject(scene)
    assert text == scene.caption().replace("circle", "square") and change == "entity: circle → square"
    both = next(
        make_scene("inj", i)
        for i in range(500)
        if {s.kind for s in make_scene("inj", i).shapes} == {"circle", "square"}
    )
    text, change = inject(both)
    assert change.startswith("attribute:") and text != both.caption()
    first = both.shapes[0]
    assert change.endswith(f"{first.color} {first.kind} → {change.rsplit(' ', 1)[-1]}")
    assert change.rsplit(" ", 1)[-1] not in {s.color for s in both.shapes}


def test_the_released_file_gives_its_pairs(tmp_path):
    refs = synthetic_refs(3)
    path = _file(tmp_path, [_record(refs[0].id)])
    method = povid.Povid(build_config(povid.Povid, [f"stage1_file={path}"]))
    out = method.synthesize(ScriptedBackend(lambda r, i: "x"), refs, synthetic_context())
    filed = [p for p in out.pairs if p.provenance["source"] == "stage1_file"]
    assert [(p.prompt, p.chosen, p.rejected) for p in filed] == [
        ("Describe this image in detail.", "A red circle.", "A red circle and a cat.")
    ]
    assert out.counts["from_file"] == 1 and out.counts["injected_by_rule"] == 2


def test_a_malformed_file_names_every_bad_row_and_gives_nothing(tmp_path):
    rows = [_record("a.jpg"), {"image": "b.jpg", "conversations": [{"from": "human", "value": "q"}]}, "oops"]
    rows.append({"id": 7, "image": "c.jpg", "conversations": [], "rejected_conversations": []})
    path = _file(tmp_path, rows, "bad.json")
    with pytest.raises(HarnessError) as err:
        load_stage1_pairs(path)
    msg = str(err.value)
    assert "bad.json" in msg and "3 malformed row(s)" in msg and "nothing is trained" in msg
    assert "row 1:" in msg and "row 2:" in msg and "row 3 (id 7)" in msg and "row 0" not in msg


def test_a_file_whose_images_the_source_lacks_is_refused_before_any_work(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(folder / "a.jpg")
    from harness.images.sources import FolderSource

    path = _file(tmp_path, [_record("a.jpg"), _record("gone.jpg")])
    method = povid.Povid(build_config(povid.Povid, [f"stage1_file={path}"]))
    with pytest.raises(HarnessError, match=r"1 image\(s\) of the file are not in the image source .*gone.jpg"):
        method.check_images(FolderSource(folder))


def test_a_source_without_ground_truth_is_refused_before_any_work(tmp_path):
    from PIL import Image

    from harness.evolve import EvolveOptions, evolve
    from harness.images.sources import FolderSource

    folder = tmp_path / "imgs"
    folder.mkdir()
    for k in range(3):
        Image.new("RGB", (8, 8)).save(folder / f"{k}.jpg")
    with pytest.raises(HarnessError, match=r"imgs cannot give stage 1's pairs: it has no ground truth.*stage1_file"):
        povid.Povid().check_images(FolderSource(folder))
    run_dir = tmp_path / "run"
    with pytest.raises(HarnessError, match="no ground truth"):
        evolve(EvolveOptions(method="povid", iters=1, run_dir=run_dir, images=str(folder), evals=[], progress=False))
    assert not run_dir.exists()  # refused before the run folder was made
    povid.Povid(build_config(povid.Povid, variant="self_chosen")).check_images(FolderSource(folder))  # no truth needed


def test_raw_pixel_noise_is_the_releases():
    """√ᾱ·x + √(1−ᾱ)·ε on [0, 1] pixels, ×255 and cast to uint8 unclamped (wrapping), seeded."""
    from harness.noise import coefficients, gaussian, raw_pixel_noise_unclamped

    image = SyntheticSource().open(ImageRef("synthetic/train/3"))
    noisy = raw_pixel_noise_unclamped(image, 500, seed=11)
    assert noisy.size == image.size and noisy == raw_pixel_noise_unclamped(image, 500, seed=11)
    a, b = coefficients(500)
    assert a == pytest.approx(0.863, abs=2e-3) and b == pytest.approx(0.505, abs=2e-3)
    x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
    y = a * x + b * gaussian(x.shape, 11).numpy()
    expect = np.mod(np.trunc(y * 255.0).astype(np.int64), 256).astype(np.uint8).transpose(1, 2, 0)
    assert np.array_equal(np.asarray(noisy), expect)
    assert ((y < 0) | (y > 1)).any(), "at t = 500 some values leave [0, 1] and wrap"


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


def test_self_chosen_variant_is_stage_two_alone():
    backend = ScriptedBackend(lambda r, i: f"There is a shape {i}.")
    method = povid.Povid(build_config(povid.Povid, variant="self_chosen"))
    out = method.synthesize(backend, synthetic_refs(4), synthetic_context())
    assert len(backend.calls) == 1 and all(r.noise_step is None for r in backend.calls[0])
    assert all(p.rejected == "" and p.provenance["source"] == "self" for p in out.pairs)
    assert [s.name for s in method.training_stages()] == ["stage2"]
    obj = method.objective()
    assert (obj.dpo_weight, obj.noise_negative_weight) == (0.0, 1.0)


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


@pytest.mark.parametrize(
    "override, needle",
    [
        ("negative=sample", "argmax_teacher_forced, generate_on_noise"),
        ("stages=3", "1\\+2, 1, 2"),
        ("chosen=self", "stages=2"),
        ("negative=generate_on_noise", "chosen=self"),
        ("noise_space=raw", "pixel_unclamped, normalised"),
        ("stage1_file=/nonexistent.json", "no such file"),
        ("noise_step=1000", "0-999"),
        ("gpt4v_prompt=x", "accepted: "),
    ],
)
def test_bad_options(override, needle):
    with pytest.raises(HarnessError, match=needle):
        build_config(povid.Povid, [override])


def test_two_stages_per_iteration_on_the_tiny_model(tiny_path, tmp_path):
    run_dir = tmp_path / "povid"
    evolve_small(run_dir, "povid", 2, [])
    for i in (1, 2):
        it = run_dir / f"iter{i}"
        stats = json.loads((it / "stats.json").read_text())
        assert stats["pairs"] == 4 and "stage 1" in stats["stats"]["stage"]
        train = json.loads((it / "train.json").read_text())
        one, two = train["stages"]
        assert (one["stage"], two["stage"]) == ("stage1", "stage2")
        assert one["epochs"] == 3.0 and two["epochs"] == 1.0
        assert one["objective"]["dpo_weight"] == 1.0 and two["objective"]["noise_negative_weight"] == 0.5
        assert "objective/noise_negative" in two["final_log"] and "objective/dpo" in two["final_log"]
        # stage 2's reference is stage 1's result, its noised-negative reference values precomputed with it
        refs2 = [json.loads(x) for x in (it / "stage-stage2" / "ref_logps.jsonl").read_text().splitlines()]
        refs1 = [json.loads(x) for x in (it / "stage-stage1" / "ref_logps.jsonl").read_text().splitlines()]
        assert all("ref_noise_logps" in r for r in refs2) and not any("ref_noise_logps" in r for r in refs1)
        assert [r["chosen_logps"] for r in refs1] != [r["chosen_logps"] for r in refs2]
        assert (it / "stage-stage1" / "checkpoint" / "config.json").is_file()
        assert (it / "checkpoint" / "config.json").is_file()
        assert (run_dir / "stages" / f"train-{i}.done").is_file()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["objective"]["noise_space"] == "pixel_unclamped"
    # rerunning the finished run redoes and rewrites nothing
    files = lambda: {p: p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file() and "lock" not in p.name}  # noqa: E731
    before = files()
    evolve_small(run_dir, "povid", 2, [])
    assert files() == before


def test_methods_command_lists_the_stages_and_the_published_row():
    from typer.testing import CliRunner

    from harness.cli import app

    result = CliRunner().invoke(app, ["methods", "povid"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Training stages per iteration" in text
    assert "stage1" in text and "stage2" in text and "epochs=3.0" in text and "epochs=1.0" in text
    assert "dpo_weight=0.5, noise_negative_weight=0.5, noise_space=pixel_unclamped" in text
    assert "Published rows it reproduces" in text and "row 'w/ POVID'" in text
    stic_text = " ".join(CliRunner().invoke(app, ["methods", "stic"], env={"COLUMNS": "250"}).output.split())
    assert "(reproduced by --variant released)" in stic_text and "its own pairs" in stic_text
