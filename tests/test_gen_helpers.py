"""Spare-core generation helpers (harness/backends/helpers.py): the same texts as one process, whichever
process generated a batch; a helper that dies or fails costs time, never a text; bad --gen-helpers values."""

from __future__ import annotations

import pytest

from harness.backends.base import GenerationRequest
from harness.backends.helpers import GenerationHelpers, open_helpers, parse_helpers
from harness.backends.hf import HFBackend
from harness.errors import HarnessError
from harness.images.synthetic import make_scene

PROMPTS = [
    "Describe the image.",
    "Is there a circle in this image?",
    "What color is the square?\nAnswer the question using a single word or phrase.",
]


def _requests(n: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            make_scene("helpers-test", i).render(),
            PROMPTS[i % len(PROMPTS)],
            noise_step=500 if i % 4 == 0 else None,
            max_new_tokens=10 if i % 5 else 6,
            seed=i,
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def helpers():
    pool = GenerationHelpers(1)
    assert pool.wait_ready(180), pool.retired
    yield pool
    pool.close()


def test_helpers_generate_the_same_texts_as_one_process(tiny_policy, helpers):
    reqs = _requests(24)
    alone = HFBackend(tiny_policy, batch_size=2, progress=False).generate(reqs)
    before = helpers.batches_by_helpers
    shared = HFBackend(tiny_policy, batch_size=2, progress=False, helpers=helpers)
    assert helpers.wait_ready(180, key=shared.helper_key())  # loaded: it takes batches from the first call
    assert shared.generate(reqs) == alone
    assert helpers.batches_by_helpers > before  # the helper did generate some of the batches
    assert shared.generate(list(reversed(reqs))) == list(reversed(alone))  # a second call, helper loaded
    assert helpers.retired == []


def test_a_helper_that_dies_costs_time_not_texts(tiny_policy):
    reqs = _requests(12)
    alone = HFBackend(tiny_policy, batch_size=2, progress=False).generate(reqs)
    with GenerationHelpers(1) as pool:
        assert pool.wait_ready(180)
        backend = HFBackend(tiny_policy, batch_size=2, progress=False, helpers=pool)
        assert pool.wait_ready(180, key=backend.helper_key())
        pool._helpers[0].proc.kill()  # gone before it is sent its first batch
        pool._helpers[0].proc.join()
        assert backend.generate(reqs) == alone
        assert pool.count == 0 and "exited" in pool.retired[0]


def test_a_helper_that_cannot_load_the_policy_is_retired_and_named(tiny_policy, tmp_path):
    reqs = _requests(8)
    alone = HFBackend(tiny_policy, batch_size=2, progress=False).generate(reqs)
    with GenerationHelpers(1) as pool:
        assert pool.wait_ready(180)
        backend = HFBackend(tiny_policy, batch_size=2, progress=False)
        key = (str(tmp_path / "no-such-checkpoint"), "float32", 1, "llava_v1", True, ())
        pool.prepare(key)
        assert pool.wait_ready(180, key=key)  # it tried, and says so
        texts = pool.run(key, [list(reqs[k : k + 2]) for k in range(0, 8, 2)], backend._generate_batch)
        assert [t for batch in texts for t in batch] == alone
        assert pool.count == 0 and "no-such-checkpoint" in pool.retired[0]  # named, and retired


def test_gen_helpers_values_are_checked_as_typed():
    assert parse_helpers("auto") == "auto" and parse_helpers("2") == 2 and parse_helpers(0) == 0
    with pytest.raises(HarnessError, match=r"--gen-helpers 'two'"):
        parse_helpers("two")
    with pytest.raises(HarnessError, match=r"--gen-helpers '-1'"):
        parse_helpers("-1")
    # a number where helpers could change outputs (no fixed thread count: a GPU or a large model) is refused
    with pytest.raises(HarnessError, match=r"--gen-helpers 1: .*--gen-helpers 0"):
        open_helpers(1, threads=None)
    assert open_helpers("auto", threads=None) is None  # auto: none there
    assert open_helpers("auto", threads=1, images=8) is None  # a run too small to pay for a helper's start-up
    assert open_helpers(0, threads=1) is None


def test_evolve_with_a_helper_writes_the_same_run(tmp_path):
    """The default path: `harness evolve` with a helper writes the same pairs, checkpoints and scores."""
    import hashlib

    from harness.evolve import EvolveOptions, evolve

    def run(helpers, folder):
        opts = EvolveOptions(
            method="seva",
            iters=1,
            run_dir=tmp_path / "run",
            images_per_iter=16,
            heldout_images=0,
            evals=["shapes"],
            eval_options={"bench_options": {"scenes": 8}},
            overrides=["max_new_tokens=16"],
            progress=False,
            gen_batch_size=2,
            gen_helpers=helpers,
        )
        evolve(opts)
        (tmp_path / "run").rename(tmp_path / folder)
        root = tmp_path / folder
        files = ["iter1/pairs.jsonl", "iter1/checkpoint/model.safetensors", "iter1/eval/shapes/predictions.jsonl"]
        return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files if (root / f).is_file()}

    alone, helped = run(0, "alone"), run(1, "helped")
    assert alone == helped and "iter1/pairs.jsonl" in alone


def test_a_methods_own_batched_search_gives_the_same_results_with_helpers(tiny_policy, helpers):
    """csr's sentence-level search runs its own batches on the policy (map_batches): the same expansions."""
    from methods.csr.search import expand

    images = [make_scene("helpers-csr", i).render() for i in range(6)]
    args = (tiny_policy, images, ["Describe the following image."] * 6, [[], [], [5], [], [7, 8], []])
    options = {"groups": 3, "penalty": 3.0, "max_new_tokens": 8, "batch_size": 1}
    alone = expand(*args, **options)
    backend = HFBackend(tiny_policy, batch_size=2, progress=False, helpers=helpers)
    assert helpers.wait_ready(180, key=backend.helper_key())
    before = helpers.batches_by_helpers
    assert expand(*args, **options, map_batches=backend.map_batches) == alone
    assert helpers.batches_by_helpers > before


def test_a_checkpoint_rewritten_in_place_is_loaded_again(tiny_path, helpers, tmp_path):
    """A helper keys what it loaded by the weight files too: new weights at the same path are never generated
    from with the old ones."""
    import shutil
    import time

    from safetensors.torch import load_file, save_file

    from harness.policy import load_policy

    folder = tmp_path / "theta"
    shutil.copytree(tiny_path, folder)
    reqs = _requests(12)
    first = load_policy(folder)
    backend = HFBackend(first, batch_size=2, progress=False, helpers=helpers)
    assert helpers.wait_ready(180, key=backend.helper_key())
    backend.generate(reqs)
    time.sleep(0.01)  # a later modification time, whatever the file system's clock resolution
    for shard in folder.glob("*.safetensors"):
        save_file({k: v * 1.5 if v.is_floating_point() else v for k, v in load_file(shard).items()}, shard)
    second = load_policy(folder)
    alone = HFBackend(second, batch_size=2, progress=False).generate(reqs)
    rewritten = HFBackend(second, batch_size=2, progress=False, helpers=helpers)
    assert rewritten.helper_key() != backend.helper_key()
    assert helpers.wait_ready(180, key=rewritten.helper_key())
    before = helpers.batches_by_helpers
    assert rewritten.generate(reqs) == alone
    assert helpers.batches_by_helpers > before


def test_a_helper_refuses_weights_rewritten_since_the_main_process_read_them(tiny_path, tiny_policy, tmp_path):
    import shutil
    import time

    from safetensors.torch import load_file, save_file

    from harness.policy import load_policy

    folder = tmp_path / "theta"
    shutil.copytree(tiny_path, folder)
    policy = load_policy(folder)
    reqs = _requests(8)
    alone = HFBackend(policy, batch_size=2, progress=False).generate(reqs)
    time.sleep(0.01)
    for shard in folder.glob("*.safetensors"):
        save_file({k: v * 1.5 if v.is_floating_point() else v for k, v in load_file(shard).items()}, shard)
    with GenerationHelpers(1) as pool:
        backend = HFBackend(policy, batch_size=2, progress=False, helpers=pool)
        assert pool.wait_ready(180, key=backend.helper_key())  # it tried, found other weights, and says so
        assert backend.generate(reqs) == alone  # the policy this process holds, not the file's new weights
        assert pool.count == 0 and "weights changed" in pool.retired[0]
