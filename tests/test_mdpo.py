"""mDPO as a training objective: the loss equals the formula by hand, zero extra weights give TRL's DPO,
the crop, the selection by name, and one evolve iteration of another method trained with it."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.method import TrainingObjective
from harness.train.config import TrainConfig
from harness.train.objectives import crop_box, random_resized_crop, select_objective, with_mdpo
from tests.method_fakes import evolve_small, synthetic_refs

BETA = 0.1


def _rows(n: int = 3) -> list[dict]:
    refs = synthetic_refs(n)
    answers = [
        ("A red circle.", "A blue square."),
        ("Two shapes.", "Five shapes and a dog."),
        ("A green triangle on the left.", "Nothing."),
    ]
    return [
        {
            "image_ref": r.id,
            "image_path": None,
            "prompt": "Describe the image.",
            "chosen": c,
            "rejected": j,
            "kind": "des",
            "ref_chosen_logps": -20.0 - k,
            "ref_rejected_logps": -25.0 + k,
        }
        for k, (r, (c, j)) in enumerate(zip(refs, answers))
    ]


def _trainer(tiny_path, tmp_path, objective):
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from harness.images.sources import ImageRef, SyntheticSource
    from harness.policy.templates import get_template
    from harness.train.dpo import dpo_args
    from harness.train.objective_batch import ObjectivePairCollator
    from harness.train.trainer import SelfEvolutionDPOTrainer

    source = SyntheticSource(namespace="method-test")
    processor = AutoProcessor.from_pretrained(tiny_path, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(tiny_path, dtype=torch.float32, local_files_only=True)
    collator = ObjectivePairCollator(
        processor, get_template("vicuna_v1"), lambda e: source.open(ImageRef(e["image_ref"]))
    )
    cfg = TrainConfig.for_model("tiny")
    rows = _rows()
    args = dpo_args(cfg, tmp_path / "t", len(rows), objective=objective)
    trainer = SelfEvolutionDPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        data_collator=collator,
        train_dataset=Dataset.from_list(rows),
        processing_class=processor,
        objective=objective,
    )
    trainer.model.eval()
    return trainer, collator, rows


def _summed_logps(model, batch, pixel_values, rows: slice) -> torch.Tensor:
    """Σ log softmax(logits)[next token] over completion tokens, from plain logits (no fused head)."""
    ids, att, cm = batch["input_ids"][rows], batch["attention_mask"][rows], batch["completion_mask"][rows]
    logits = model(input_ids=ids, attention_mask=att, pixel_values=pixel_values, use_cache=False).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (logp * cm[:, 1:]).sum(1)


def test_loss_equals_the_formula_by_hand(tiny_path, tmp_path):
    from harness.train.objective_batch import extended_loss, pair_seed

    obj = with_mdpo(TrainingObjective(beta=BETA), copo_weight=0.7, anchor_weight=1.3, anchor_delta=0.5)
    trainer, collator, rows = _trainer(tiny_path, tmp_path, obj)
    batch = collator(rows)
    n = len(rows)
    with torch.no_grad():
        model = trainer.model
        pix = batch["pixel_values"]
        lw = _summed_logps(model, batch, pix[:n], slice(0, n))
        ll = _summed_logps(model, batch, pix[n:], slice(n, 2 * n))
        crops = torch.stack([random_resized_crop(pix[k], (0.01, 0.2), pair_seed(rows[k])) for k in range(n)])
        lwc = _summed_logps(model, batch, crops, slice(0, n))
    ref_w = torch.tensor([r["ref_chosen_logps"] for r in rows])
    ref_l = torch.tensor([r["ref_rejected_logps"] for r in rows])
    expected = 0.0
    for k in range(n):
        rw, rl = BETA * (lw[k] - ref_w[k]), BETA * (ll[k] - ref_l[k])
        expected += -math.log(1 / (1 + math.exp(-(rw - rl).item())))
    expected /= n
    # the reference values come from the batch (precomputed): CoPO's too
    batch2 = dict(collator(rows))
    batch2["ref_copo_logps"] = lwc - 2.0  # any fixed reference
    with torch.no_grad():
        loss2 = extended_loss(trainer, trainer.model, batch2)
    copo = sum(-F.logsigmoid(BETA * (lw[k] - ref_w[k]) - BETA * (lwc[k] - (lwc[k] - 2.0))).item() for k in range(n)) / n
    anchor = sum(-F.logsigmoid(BETA * (lw[k] - ref_w[k]) - 0.5).item() for k in range(n)) / n
    assert loss2.item() == pytest.approx(expected + 0.7 * copo + 1.3 * anchor, rel=1e-4)
    logged = trainer._metrics["eval"]  # the model is in eval mode here
    assert logged["objective/copo"][-1] == pytest.approx(copo, rel=1e-4)
    assert logged["objective/anchor"][-1] == pytest.approx(anchor, rel=1e-4)
    assert logged["objective/dpo"][-1] == pytest.approx(expected, rel=1e-4)


def test_zero_extra_weights_equal_trls_dpo(tiny_path, tmp_path):
    from harness.train.objective_batch import extended_loss

    obj = dataclasses.replace(with_mdpo(TrainingObjective(beta=BETA)), copo_weight=0.0, anchor_weight=0.0)
    trainer, collator, rows = _trainer(tiny_path, tmp_path, obj)
    with torch.no_grad():
        ours = extended_loss(trainer, trainer.model, dict(collator(rows)))
        trainer.objective = None  # TRL's sigmoid DPO path
        batch = dict(collator(rows))
        for k in ("row_seed", "has_rejected"):
            batch.pop(k)
        trl = trainer.compute_loss(trainer.model, batch)
    assert ours.item() == pytest.approx(trl.item(), rel=1e-6, abs=1e-7)
    assert trl.item() != pytest.approx(math.log(2))  # the references differ from the policy: not a trivial 0.693


def test_crop_keeps_one_to_twenty_percent_and_is_seeded():
    areas = []
    for seed in range(300):
        top, left, h, w = crop_box(336, 336, (0.01, 0.2), seed)
        assert 0 <= top and top + h <= 336 and 0 <= left and left + w <= 336
        areas.append(h * w / 336**2)
    assert min(areas) >= 0.009 and max(areas) <= 0.21
    assert crop_box(336, 336, (0.01, 0.2), 7) == crop_box(336, 336, (0.01, 0.2), 7)
    x = torch.randn(3, 32, 32)
    assert random_resized_crop(x, (0.01, 0.2), 3).shape == x.shape
    assert torch.equal(random_resized_crop(x, (0.01, 0.2), 3), random_resized_crop(x, (0.01, 0.2), 3))
    assert not torch.equal(random_resized_crop(x, (0.01, 0.2), 3), random_resized_crop(x, (0.01, 0.2), 4))


def test_selection_by_name_and_unknown_objectives():
    base = TrainingObjective(beta=0.1, align_weight=1.0)
    assert select_objective(base, None) is base and select_objective(base, "dpo") is base
    m = select_objective(base, "mdpo")
    assert (m.name, m.copo_weight, m.anchor_weight, m.anchor_delta, m.align_weight) == ("mdpo", 1.0, 1.0, 0.0, 1.0)
    assert m.crop_scale == (0.01, 0.2)
    with pytest.raises(HarnessError, match="accepted: dpo, mdpo"):
        select_objective(base, "kto")
    with pytest.raises(HarnessError, match="accepted: dpo, mdpo"):
        TrainConfig(objective="kto").validate()


def test_another_method_trains_with_mdpo_through_train_option(tiny_path, tmp_path):
    run_dir = tmp_path / "stic-mdpo"
    evolve_small(run_dir, "stic", 1, ["max_new_tokens=16"], train_overrides={"objective": "mdpo"})
    train = json.loads((run_dir / "iter1" / "train.json").read_text())
    n_pairs = len((run_dir / "iter1" / "pairs.jsonl").read_text().splitlines())
    if not n_pairs:
        pytest.skip("the tiny model made no pairs for these images")
    assert train["objective"]["name"] == "stic+mdpo" and train["objective"]["copo_weight"] == 1.0
    assert train["steps"] >= 1 and "objective/copo" in train["final_log"] and "objective/sft" in train["final_log"]
    assert math.isfinite(train["train_loss"])
