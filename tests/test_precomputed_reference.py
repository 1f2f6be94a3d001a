"""Every method's objective trains from precomputed reference values: the evolve reference stage computes
the extra terms' reference values (mDPO's crop, POVID's noised negative, STIC's top-alternative score) with
θi−1, so training needs no reference model, under DeepSpeed too (where the trainer cannot compute them)."""

from __future__ import annotations

import dataclasses

import pytest
from rich.console import Console

from harness import atomic
from harness.evolve.options import EvolveOptions
from harness.evolve.reference import reference_stage
from harness.images.sources import ImageRef, SyntheticSource
from harness.method import build_config
from harness.plugins import registry
from harness.runs import Run
from harness.train.config import TrainConfig
from harness.train.objectives import reference_keys


def _objectives():
    """(label, objective) of every stage of every registered method, default and with mDPO or variants that
    change the objective."""
    seen, out = set(), []
    for name, cls in sorted(registry().methods.items()):
        configs = [("default", cls.Config())]
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        if "objective" in fields:
            configs.append(("mdpo", build_config(cls, ["objective=mdpo"])))
        for variant in sorted(getattr(cls, "variants", {})):
            configs.append((variant, build_config(cls, variant=variant)))
        for label, config in configs:
            for stage in cls(config).training_stages():
                if reference_keys(stage.objective) and stage.objective not in seen:
                    seen.add(stage.objective)
                    out.append((f"{name}-{label}-{stage.name}", stage.objective))
    return out


OBJECTIVES = _objectives()


def test_the_extra_terms_are_all_covered():
    keys = {k for _, obj in OBJECTIVES for k in reference_keys(obj)}
    assert keys == {"ref_copo_logps", "ref_noise_logps", "ref_rejected_alt_logps"}


@pytest.mark.parametrize("label, objective", OBJECTIVES, ids=[label for label, _ in OBJECTIVES])
def test_trains_under_deepspeed_from_the_reference_stage(label, objective, tiny_path, tmp_path, monkeypatch):
    import harness.train.dpo as dpo

    source = SyntheticSource(namespace="ref-test")
    refs = [ImageRef(f"synthetic/ref-test/{k}") for k in range(2)]
    examples = [
        {
            "image_ref": r.id,
            "image_path": None,
            "prompt": "Describe this image.",
            "chosen": source.annotations(r)[0][1],
            "rejected": "There is a green triangle.",
            "kind": "des",
        }
        for r in refs
    ]
    cfg = TrainConfig.for_model("tiny").with_overrides({"global_batch_size": 2, "per_device_batch_size": 2})
    run = Run.open(tmp_path / "run", {"test": label})
    run.iter_dir(1).mkdir(parents=True)
    opts = EvolveOptions(method="x", progress=False)

    def open_image(example):
        return source.open(ImageRef(example["image_ref"]))

    reference_stage(run, 1, tiny_path, examples, cfg, opts, Console(quiet=True), open_image, objective=objective)
    rows = atomic.read_jsonl(run.iter_dir(1) / "ref_logps.jsonl")
    assert all(all(k in row for k in reference_keys(objective)) for row in rows)
    trained = [
        dict(e, ref_chosen_logps=r["chosen_logps"], ref_rejected_logps=r["rejected_logps"], **r)
        for e, r in zip(examples, rows)
    ]
    monkeypatch.setattr(dpo, "_deepspeed_in_use", lambda cfg: True)  # the trainer may not compute them itself
    info = dpo.train_iteration(
        tiny_path, tmp_path / "out", trained, objective=objective, cfg=cfg, open_image=open_image
    )
    assert info["steps"] == 1
    # the values the trainer would have computed itself are the stage's (same θi−1, same seeds)
    monkeypatch.undo()
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from harness.policy.templates import get_template
    from harness.train.dpo import noise_collation
    from harness.train.objective_batch import ObjectivePairCollator
    from harness.train.objectives import precompute_reference

    processor = AutoProcessor.from_pretrained(tiny_path, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(tiny_path, local_files_only=True)
    from trl.trainer.utils import add_fused_lm_head

    add_fused_lm_head(model)
    collator = ObjectivePairCollator(
        processor,
        get_template(cfg.template),
        open_image,
        max_length=cfg.max_length,
        align_kinds=objective.align_kinds,
        **noise_collation(objective),
    )
    again = precompute_reference(model, collator, examples, objective, batch_size=2)
    for key in reference_keys(objective):
        assert again[key] == pytest.approx([row[key] for row in rows], rel=1e-5, abs=1e-4)
