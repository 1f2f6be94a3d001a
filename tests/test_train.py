"""The DPO + alignment loss on TRL, the LLaVA collator and the reference pass, on the tiny model."""

import copy

import pytest
import torch

from harness.images.synthetic import make_scene
from harness.method import TrainingObjective
from harness.policy.templates import get_template
from harness.train.collator import LlavaPairCollator
from harness.train.config import TrainConfig
from harness.train.dpo import dpo_args
from harness.train.reference import reference_logps
from harness.train.trainer import SelfEvolutionDPOTrainer

EXAMPLES = [
    {
        "image_ref": "synthetic/t/0",
        "prompt": "Describe the image.",
        "chosen": "There is a red circle.",
        "rejected": "There is a blue square and a green triangle.",
        "kind": "des",
    },
    {
        "image_ref": "synthetic/t/1",
        "prompt": "What color is the square?",
        "chosen": "Blue",
        "rejected": "Red",
        "kind": "gen",
    },
    {
        "image_ref": "synthetic/t/2",
        "prompt": "Describe the image.",
        "chosen": "There is a yellow triangle.",
        "rejected": "There is a yellow circle.",
        "kind": "des",
    },
]


def _open(example):
    return make_scene("t", int(example["image_ref"].rsplit("/", 1)[1])).render()


@pytest.fixture()
def setup(tiny_policy, tmp_path):
    model = copy.deepcopy(tiny_policy.model).float()
    proc = tiny_policy.processor
    collator = LlavaPairCollator(proc, get_template("vicuna_v1"), _open)
    return model, proc, collator, tmp_path


def test_collator_tokenises_jointly_with_bos_and_eos(setup):
    model, proc, collator, _ = setup
    batch = collator(EXAMPLES)
    tok = proc.tokenizer
    assert batch["input_ids"].shape[0] == 6  # chosen rows, then rejected rows
    for j in range(6):
        ids = batch["input_ids"][j][batch["attention_mask"][j].bool()].tolist()
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
        answer = ids[batch["completion_mask"][j].bool().nonzero()[0].item() :]
        expected = EXAMPLES[j % 3]["chosen"] if j < 3 else EXAMPLES[j % 3]["rejected"]
        assert tok.decode(answer, skip_special_tokens=True).strip() == expected
    assert batch["is_des"].tolist() == [1.0, 0.0, 1.0]
    assert collator.boundary_mismatches == 0


def _trainer(model, proc, collator, tmp_path, *, align_weight, precomputed, examples, ref_model=None):
    from datasets import Dataset

    cfg = TrainConfig.for_model("tiny").with_overrides({"live_reference": not precomputed})
    args = dpo_args(cfg, tmp_path / "out", len(examples), objective=TrainingObjective())
    return SelfEvolutionDPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        data_collator=collator,
        train_dataset=Dataset.from_list(examples),
        processing_class=proc,
        align_weight=align_weight,
    )


def test_loss_without_ca_equals_trls_plain_dpo_and_ca_equals_hand_nll(setup):
    model, proc, collator, tmp_path = setup
    refs = reference_logps(model, collator, EXAMPLES, batch_size=2, progress=False)
    examples = [
        dict(e, ref_chosen_logps=r["chosen_logps"], ref_rejected_logps=r["rejected_logps"])
        for e, r in zip(EXAMPLES, refs)
    ]
    ours = _trainer(model, proc, collator, tmp_path, align_weight=0.0, precomputed=True, examples=examples)
    batch = collator(examples)
    with torch.no_grad():
        loss_ours = ours.compute_loss(ours.model, dict(batch)).item()
    # TRL's own DPO with a live frozen copy of the same model as reference
    plain = _trainer(
        copy.deepcopy(model),
        proc,
        collator,
        tmp_path,
        align_weight=0.0,
        precomputed=False,
        examples=EXAMPLES,
        ref_model=copy.deepcopy(model),
    )
    live = collator(EXAMPLES)
    live.pop("is_des")
    with torch.no_grad():
        loss_trl = plain.compute_loss(plain.model, live).item()
    assert loss_ours == pytest.approx(loss_trl, abs=1e-5)
    assert loss_ours == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=1e-4)  # policy == reference

    # the CA term: mean over the micro-batch of the length-normalised NLL of chosen descriptions
    with_ca = _trainer(model, proc, collator, tmp_path, align_weight=1.0, precomputed=True, examples=examples)
    with torch.enable_grad():
        total = with_ca.compute_loss(with_ca.model, dict(batch)).item()
    nlls = []
    for j, ex in enumerate(EXAMPLES):
        ids = batch["input_ids"][j : j + 1]
        att = batch["attention_mask"][j : j + 1]
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=att, pixel_values=batch["pixel_values"][j : j + 1]).logits
        logp = torch.log_softmax(logits[0, :-1].float(), -1).gather(1, ids[0, 1:, None])[:, 0]
        m = batch["completion_mask"][j, 1:].float()
        nll = -(logp * m).sum() / m.sum()
        nlls.append(nll.item() if ex["kind"] == "des" else 0.0)
    assert total - loss_ours == pytest.approx(sum(nlls) / len(nlls), rel=1e-4)


def test_bf16_training_keeps_fp32_weights_unless_deepspeed_or_lora():
    """A bf16 weight cannot take an lr-2e-6 Adam step (it rounds away), so plain bf16 training must
    autocast over fp32 weights; DeepSpeed keeps fp32 master weights itself, LoRA freezes the base."""
    from harness.train.dpo import weights_dtype

    cfg = TrainConfig()
    assert weights_dtype(cfg, cuda=False, deepspeed=False) == torch.float32
    assert weights_dtype(cfg, cuda=True, deepspeed=False) == torch.float32
    assert weights_dtype(cfg, cuda=True, deepspeed=True) == torch.bfloat16
    assert weights_dtype(cfg.with_overrides({"lora": True}), cuda=True, deepspeed=False) == torch.bfloat16
    assert weights_dtype(cfg.with_overrides({"bf16": False}), cuda=True, deepspeed=True) == torch.float32
    # the reason, in numbers: the paper's step vanishes in a bf16 weight and survives in an fp32 one
    w = torch.full((4,), 0.02)
    step = torch.full((4,), 2e-6)
    assert torch.equal((w.bfloat16() - step.bfloat16()), w.bfloat16())
    assert not torch.equal(w - step, w)
