"""Engine mechanisms any method may use: an image plan that keeps one fixed set every iteration (sampling, a run
that grows), and ``global_batch_size=0`` (per-device × processes, no accumulation)."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image
from rich.console import Console

from harness import atomic
from harness.errors import HarnessError
from harness.evolve.open_run import open_run
from harness.evolve.options import EvolveOptions
from harness.images import FolderSource, ImagePlan, ImageRef, ImageSource, SyntheticSource, sample_iterations
from harness.images.sampling import LLAVA_665K_SOURCES
from harness.options import parse_train_sets
from harness.train.config import TrainConfig


class _GroupedPool(ImageSource):
    """``per_source`` images in each of LLaVA-665k's five sources (ids ``<source>/<k>.jpg``)."""

    kind = "grouped-test"

    def __init__(self, per_source: int):
        self._refs = [
            ImageRef(f"{s}/{k}.jpg", f"/x/{s}/{k}.jpg") for k in range(per_source) for s in LLAVA_665K_SOURCES
        ]

    def refs(self):
        return self._refs

    def group_of(self, ref):
        return ref.id.split("/")[0]

    def describe(self):
        return {"kind": self.kind, "count": len(self._refs)}

    def open(self, ref):
        return Image.new("RGB", (4, 4))


def _ids(split):
    return [[r.id for r in it] for it in split.iterations]


def test_a_per_source_plan_with_a_fixed_set_gives_every_iteration_the_same_images():
    pool = _GroupedPool(40)
    plan = ImagePlan.equal(LLAVA_665K_SOURCES, 10, "test")
    fixed = dataclasses.replace(plan, same_every_iteration=True)
    split = sample_iterations(pool, 3, 10, seed=4, plan=fixed)
    ids = _ids(split)
    assert split.same_every_iteration and split.mode == "per_source"
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == 10
    assert sorted(i.split("/")[0] for i in ids[0]) == sorted(LLAVA_665K_SOURCES * 2)  # the quotas still hold
    # the fixed set is the first iteration of the plain plan: θ1's images do not depend on the plan's flag
    assert ids[0] == _ids(sample_iterations(pool, 3, 10, seed=4, plan=plan))[0]
    assert ids[0] != _ids(sample_iterations(pool, 3, 10, seed=5, plan=fixed))[0]
    # the plain plan stays disjoint, and its recorded form is unchanged (old runs' configs still match)
    assert not set(_ids(sample_iterations(pool, 2, 10, seed=4, plan=plan))[1]) & set(ids[0])
    assert "same_every_iteration" not in plan.to_dict() and fixed.to_dict()["same_every_iteration"] is True
    # a pool only big enough for one iteration serves any number of them
    assert len(_ids(sample_iterations(_GroupedPool(2), 5, 10, seed=0, plan=fixed))) == 5
    with pytest.raises(HarnessError, match="too few images"):
        sample_iterations(_GroupedPool(2), 2, 10, seed=0, plan=plan)


def test_a_fixed_set_on_a_pool_without_sources_falls_back_to_uniform():
    fixed = ImagePlan({"coco": 6}, "test", same_every_iteration=True)
    split = sample_iterations(SyntheticSource("train", size=8), 4, 6, seed=1, plan=fixed)
    assert split.mode.startswith("uniform") and split.same_every_iteration
    assert all(it == _ids(split)[0] for it in _ids(split)) and len(set(_ids(split)[0])) == 6


def _folder(root, n):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(root / f"img{i:02d}.png")
    return root


def _open(run_dir, source, iters, plan):
    opts = EvolveOptions(method="test", iters=iters, evals=[], seed=3, progress=False)
    config = {
        "method": "test",
        "images": {"source": source.describe(), "per_iter": 3, "plan": plan.to_dict()},
        "iterations": iters,
        "seed": 3,
        "evals": [],
    }
    return open_run(run_dir, config, opts, source, 3, Console(quiet=True), plan=plan)


def test_a_run_that_grows_keeps_its_fixed_set_and_refuses_a_changed_one(tmp_path):
    plan = ImagePlan({"coco": 3}, "test", same_every_iteration=True)
    images = _folder(tmp_path / "imgs", 6)
    run_dir = tmp_path / "run"
    _open(run_dir, FolderSource(images), 1, plan)
    first = atomic.read_json(run_dir / "iter1" / "images.json")
    run = _open(run_dir, FolderSource(images), 3, plan)  # grows θ1 → θ3
    assert [atomic.read_json(run_dir / f"iter{i}" / "images.json") for i in (2, 3)] == [first, first]
    assert run.stage_info("images")["same_every_iteration"] is True
    assert atomic.read_json(run_dir / "manifest.json")["config"]["images"]["plan"]["same_every_iteration"] is True
    # an image of the fixed set became unreadable: growing further would train on another set
    (images / first[0]["path"]).write_bytes(b"not an image")
    with pytest.raises(HarnessError, match=r"fixed image set .* differs .*did the image source change\?"):
        _open(run_dir, FolderSource(images), 4, plan)


def test_global_batch_zero_is_per_device_times_processes():
    cfg = TrainConfig(global_batch_size=0, per_device_batch_size=1).validate()
    assert [cfg.global_batch(n) for n in (1, 4, 8)] == [1, 4, 8]
    assert TrainConfig(global_batch_size=0, per_device_batch_size=2).global_batch(8) == 16
    assert TrainConfig().global_batch(8) == 128  # a positive value is the global batch whatever the processes
    assert parse_train_sets(["global_batch_size=0"]) == {"global_batch_size": 0}
    with pytest.raises(HarnessError, match=r"--train global_batch_size=-1: expected an integer >= 1, or 0"):
        parse_train_sets(["global_batch_size=-1"])
    with pytest.raises(HarnessError, match="global_batch_size=-2: accepted values are integers ≥ 1, or 0"):
        TrainConfig(global_batch_size=-2).validate()


def test_global_batch_zero_trains_without_accumulation(tmp_path):
    from harness.method import TrainingObjective
    from harness.train.dpo import dpo_args

    cfg = TrainConfig(global_batch_size=0, per_device_batch_size=1)
    args = dpo_args(cfg, tmp_path, 10, objective=TrainingObjective())
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (1, 1)
    args = dpo_args(dataclasses.replace(cfg, global_batch_size=4), tmp_path, 10, objective=TrainingObjective())
    assert args.gradient_accumulation_steps == 4  # the same per-device batch, accumulated to a global 4
