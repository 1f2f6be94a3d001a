"""Streamed stages: chunked synthesis and evaluation with an append-only journal, resume after kill -9, bad images
mid-stream; the data-parallel shard pool; the vllm backends' options and their GPU-free policy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from harness.backends.base import parse_backend_options
from harness.backends.shards import ShardPool, gpu_groups, shard_bounds
from harness.backends.vllm import VLLM_OPTIONS
from harness.errors import HarnessError
from harness.journal import Journal, chunked, merge_counts, recorded

# ----------------------------------------------------------------------------------------------- the journal


def test_journal_keeps_finished_chunks_and_drops_a_line_cut_short(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path, {"chunk_images": 4})
    j.append(0, {"pairs": [1, 2]})
    j.append(1, {"pairs": [3]})
    with open(path, "ab") as fh:  # a kill in the middle of the third append
        fh.write(b'{"chunk": 2, "pairs": [4,')
    again = Journal(path, {"chunk_images": 4})
    assert again.done(0) and again.done(1) and not again.done(2)
    again.append(2, {"pairs": [4]})
    assert [r["pairs"] for r in Journal(path, {"chunk_images": 4}).records(3)] == [[1, 2], [3], [4]]
    assert recorded(path, "chunk_images", 99) == 4 and recorded(tmp_path / "none", "chunk_images", 99) == 99
    other = Journal(path, {"chunk_images": 8})  # another chunking: the journal starts over
    assert not other.done(0) and not path.exists()
    with pytest.raises(HarnessError, match="missing"):
        other.records(1)


def test_chunks_and_counts():
    assert [list(c) for _, c in chunked(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    merged = merge_counts(
        [{"images": 4, "pairs": 2, "filter": {"a": 1}}, {"images": 3, "pairs": 0, "filter": {"a": 2}}]
    )
    assert merged == {"images": 7, "pairs": 2, "filter": {"a": 3}}
    with pytest.raises(HarnessError):
        list(chunked([1], 0))


# ------------------------------------------------------------------------------------ kill -9 inside synthesis


def _evolve(run_dir, *, kill_at=None, chunk=4, images=None, per_iter=12):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("HARNESS_KILL_AT", None)
    if kill_at:
        env["HARNESS_KILL_AT"] = kill_at
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "evolve",
        "--method",
        "sena",
        "--iters",
        "1",
        "--images-per-iter",
        str(per_iter),
        "--eval",
        "none",
        "--set",
        "max_new_tokens=12",
        "--set",
        "sq_max_new_tokens=12",
        "--chunk-images",
        str(chunk),
        "--heldout-images",
        "0",
        "--run-dir",
        str(run_dir),
    ] + (["--images", str(images)] if images else [])
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _stats(run_dir) -> dict:
    return json.loads((run_dir / "iter1" / "stats.json").read_text())


def test_kill_9_mid_synthesis_reruns_only_the_unfinished_chunks(tiny_path, tmp_path):
    clean = _evolve(tmp_path / "clean", kill_at="synthesized-1")  # stop once the stage is finished
    assert clean.returncode == -signal.SIGKILL and (tmp_path / "clean" / "iter1" / "pairs.jsonl").is_file(), (
        clean.stderr[-2000:]
    )
    full = _stats(tmp_path / "clean")
    assert full["chunks"] == 3 and full["chunks_resumed"] == 0
    assert full["requests_this_invocation"] == sum(full["requests_by_chunk"]) > 0

    killed = tmp_path / "killed"
    res = _evolve(killed, kill_at="synthesize-1-chunk-1")  # dies after its second chunk is journaled
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert not (killed / "iter1" / "pairs.jsonl").exists()
    journal = (killed / "iter1" / "synthesize.journal.jsonl").read_text().splitlines()
    assert len(journal) == 3  # header + chunks 0 and 1

    # the rerun asks for another chunk size: the interrupted stage keeps the one it started with
    res = _evolve(killed, kill_at="synthesized-1", chunk=5)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    resumed = _stats(killed)
    assert resumed["chunk_images"] == 4 and resumed["chunks_resumed"] == 2
    assert resumed["requests_this_invocation"] == full["requests_by_chunk"][2]  # only chunk 2 was generated
    clean_pairs = (tmp_path / "clean" / "iter1" / "pairs.jsonl").read_bytes()
    assert (killed / "iter1" / "pairs.jsonl").read_bytes() == clean_pairs
    assert not (killed / "iter1" / "synthesize.journal.jsonl").exists()  # the journal went with the stage's end
    manifest = (
        json.loads((killed / "stages" / "synthesize-1.done").read_text())
        if (killed / "stages" / "synthesize-1.done").is_file()
        else None
    )
    if manifest is not None:
        assert manifest.get("chunk_images") == 4


def test_images_that_vanish_or_are_corrupt_mid_stream_are_skipped_and_counted(tiny_path, tmp_path, monkeypatch):
    import harness.evolve.synthesize as synthesize_mod
    from harness.evolve import EvolveOptions, evolve
    from harness.images.synthetic import make_scene

    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(12):
        make_scene("stream", k).render().save(folder / f"im{k:02d}.png")
    run = tmp_path / "run"
    hit = []

    def between_chunks(point: str) -> None:  # after chunk 0: one image of chunk 2 vanishes, one of chunk 1 rots
        if point == "synthesize-1-chunk-0":
            order = [r["path"] for r in json.loads((run / "iter1" / "images.json").read_text())]
            os.remove(order[9])
            with open(order[5], "wb") as fh:
                fh.write(b"\x89PNG\r\n\x1a\n not an image")
            hit.append(point)

    monkeypatch.setattr(synthesize_mod, "maybe_kill", between_chunks)
    opts = EvolveOptions(
        method="sena",
        iters=1,
        images=str(folder),
        images_per_iter=12,
        heldout_images=0,
        evals=[],
        run_dir=run,
        overrides=["max_new_tokens=12", "sq_max_new_tokens=12"],
        chunk_images=4,
        progress=False,
    )
    evolve(opts)
    assert hit
    stats = _stats(run)
    ids = [r["id"] for r in json.loads((run / "iter1" / "images.json").read_text())]
    assert {s[0] for s in stats["skipped_images"]} == {ids[5], ids[9]}
    assert stats["counts"]["images.unreadable_at_synthesis"] == 2
    assert stats["counts"]["images"] == 10  # the method saw the 10 readable ones; the stage went on
    assert json.loads((run / "iter1" / "train.json").read_text())["steps"] >= 0


# ------------------------------------------------------------------------------- data-parallel generation


class FakeEngine:
    """Stands in for one GPU's engine: answers depend only on the request (prompt, seed)."""

    def __init__(self, rank: int):
        self.rank = rank
        self.device = os.environ.get("CUDA_VISIBLE_DEVICES")

    def generate(self, items: list[tuple[str, int]]) -> list[str]:
        return [f"{prompt}|seed={seed}" for prompt, seed in items]

    def where(self, items: list) -> list[str]:
        return [f"{self.rank}:{self.device}" for _ in items]


def test_two_shards_return_the_single_engine_results_in_request_order():
    items = [(f"q{k}", 1000 + k) for k in range(11)]
    expected = FakeEngine(0).generate(items)
    pool = ShardPool(FakeEngine, 2, [{"CUDA_VISIBLE_DEVICES": g} for g in gpu_groups(2, 1, "4,5")])
    try:
        assert pool.map("generate", items) == expected
        assert pool.map("where", items) == ["0:4"] * 6 + ["1:5"] * 5  # contiguous shards, own GPU each
        assert pool.map("generate", []) == []
    finally:
        pool.close()


def test_the_hf_backend_over_two_worker_processes_matches_one(tiny_policy):
    from harness.backends.base import GenerationRequest
    from harness.backends.hf import HFBackend
    from harness.images.synthetic import make_scene

    reqs = [
        GenerationRequest(
            make_scene("hf-dp", k).render(),
            "Describe the image.",
            max_new_tokens=6,
            noise_step=600 if k % 2 else None,
            seed=k,
        )
        for k in range(5)
    ]
    single = HFBackend(tiny_policy, batch_size=1, progress=False).generate(reqs)
    dp = HFBackend(tiny_policy, batch_size=1, progress=False, data_parallel_size=2)
    try:
        assert dp.generate(reqs) == single  # batch 1: no padding, so the texts match exactly
    finally:
        dp.close()


def test_shard_bounds_and_gpu_groups():
    assert shard_bounds(5, 2) == [(0, 3), (3, 5)]
    assert shard_bounds(1, 3) == [(0, 1), (1, 1), (1, 1)]
    assert gpu_groups(2, 2) == ["0,1", "2,3"]
    with pytest.raises(HarnessError, match="needs 4 GPUs; 2 visible"):
        gpu_groups(2, 2, "0,1")


# ---------------------------------------------------------------------------------- vllm options, GPU hand-over


def test_backend_options_are_typed_and_checked():
    opts = parse_backend_options(
        "vllm", VLLM_OPTIONS, ["gpu_memory_utilization=0.7", "data_parallel_size=8", "enforce_eager=true"]
    )
    assert opts == {"gpu_memory_utilization": 0.7, "data_parallel_size": 8, "enforce_eager": True}
    for bad, message in [
        ("gpu_memory_utilization=1.5", "gpu_memory_utilization=1.5: expected a number > 0"),
        ("tensor_parallel_size=0", "expected an integer ≥ 1"),
        ("data_parallel_size=two", "data_parallel_size=two"),
        ("swap_space=4", "no such option; accepted: data_parallel_size"),
        ("gpu_memory_utilization", "expected key=value"),
    ]:
        with pytest.raises(HarnessError, match=message):
            parse_backend_options("vllm", VLLM_OPTIONS, [bad])
    from harness.backends.hf import HFBackend

    with pytest.raises(HarnessError, match="backend 'hf' has no such option; accepted: data_parallel_size"):
        parse_backend_options("hf", HFBackend.options, ["gpu_memory_utilization=0.5"])


def test_a_bad_backend_option_is_refused_before_the_run_folder_exists(tmp_path):
    from harness.evolve import EvolveOptions, evolve

    with pytest.raises(HarnessError, match="--backend-opt gpu_memory_utilization=0"):
        evolve(
            EvolveOptions(
                method="sena",
                iters=1,
                backend="vllm",
                backend_opts=["gpu_memory_utilization=0"],
                run_dir=tmp_path / "run",
                evals=[],
                progress=False,
            )
        )
    assert not (tmp_path / "run").exists()


def test_the_vllm_policy_holds_no_weights_and_builds_the_same_inputs(tiny_path, tiny_policy):
    from harness.backends.base import GenerationRequest
    from harness.backends.vllm import build_inputs, host_policy
    from harness.images.synthetic import make_scene

    light = host_policy(tiny_path, "float32")
    assert {p.device.type for p in light.model.parameters()} == {"meta"}  # nothing allocated, on any device
    img = make_scene("vllm-host", 0).render()
    reqs = [GenerationRequest(img, "What is it?"), GenerationRequest(img, "What is it?", noise_step=600, seed=3)]
    a, b = build_inputs(light, reqs), build_inputs(tiny_policy, reqs)
    assert [x["prompt"] for x in a] == [x["prompt"] for x in b]
    assert all(
        x["multi_modal_data"]["image"].tobytes() == y["multi_modal_data"]["image"].tobytes() for x, y in zip(a, b)
    )


def test_the_embeds_policy_reads_only_the_vision_parts_and_embeds_exactly(tiny_path, tiny_policy, monkeypatch):
    """``vllm_embeds`` keeps the vision tower and projector (read alone from the checkpoint) and nothing of the
    language model; its noised-image embeddings are those of the fully loaded policy, bit for bit."""
    import transformers

    from harness.backends.base import GenerationRequest
    from harness.backends.image_embeds import noised_image_embeds
    from harness.backends.vllm import host_policy
    from harness.images.synthetic import make_scene

    def no_full_load(*a, **k):
        raise AssertionError("the whole checkpoint was loaded")

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", no_full_load)
    light = host_policy(tiny_path, "float32", vision_device="cpu")
    inner = light.model.model
    assert {p.device.type for p in inner.language_model.parameters()} == {"meta"}
    for part in (inner.vision_tower, inner.multi_modal_projector):
        assert {p.device.type for p in part.parameters()} == {"cpu"}
    reqs = [GenerationRequest(make_scene("embeds", k).render(), "Describe.", noise_step=500, seed=k) for k in range(3)]
    got, want = noised_image_embeds(light, reqs), noised_image_embeds(tiny_policy, reqs)
    assert all(torch_equal(a, b) for a, b in zip(got, want)) and got[0].shape == want[0].shape


def torch_equal(a, b) -> bool:
    import torch

    return a.shape == b.shape and bool(torch.equal(a, b))


FAKE_VLLM = '''
"""A stand-in for the vllm package (tests only): LLM echoes each prompt with its engine's settings."""
import os


class SamplingParams:
    def __init__(self, **kw):
        self.kw = kw


class _Completion:
    def __init__(self, text):
        self.text = text


class _Output:
    def __init__(self, text):
        self.outputs = [_Completion(text)]


class LLM:
    def __init__(self, model, **kw):
        self.kw = kw
        self.gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "-")

    def generate(self, inputs, params, use_tqdm=False):
        image = lambda x: type(x.get("multi_modal_data", {}).get("image")).__name__
        return [_Output(f"{x['prompt'][-12:]}|{image(x)}|{p.kw['max_tokens']}|gmu={self.kw['gpu_memory_utilization']}"
                        f"|gpus={self.gpus}|n={len(inputs)}") for x, p in zip(inputs, params)]
'''


def test_the_vllm_backend_passes_its_options_and_shards_over_data_parallel_engines(tiny_path, tmp_path, monkeypatch):
    from harness.backends.base import GenerationRequest
    from harness.backends.vllm import VLLMBackend
    from harness.images.synthetic import make_scene

    (tmp_path / "vllm.py").write_text(FAKE_VLLM)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,4")
    policy = VLLMBackend.load_policy(tiny_path, "float16")
    assert {p.device.type for p in policy.model.parameters()} == {"meta"}
    reqs = [
        GenerationRequest(
            make_scene("fake-vllm", k).render(),
            f"Question {k}?",
            max_new_tokens=5 + k,
            noise_step=600 if k == 2 else None,
            seed=k,
        )
        for k in range(5)
    ]
    one = VLLMBackend(policy, gpu_memory_utilization=0.6, request_chunk=3, progress=False)
    texts = one.generate(reqs)
    one.close()
    assert [t.split("|")[2] for t in texts] == ["5", "6", "7", "8", "9"]  # request order kept
    assert all("gmu=0.6" in t for t in texts)
    assert [t.split("|")[-1] for t in texts] == ["n=3"] * 3 + ["n=2"] * 2  # request_chunk: calls of ≤ 3
    dp = VLLMBackend(policy, gpu_memory_utilization=0.6, data_parallel_size=2, progress=False)
    try:
        texts2 = dp.generate(reqs)
    finally:
        dp.close()
    assert [t.split("|")[:3] for t in texts2] == [t.split("|")[:3] for t in texts]
    assert [t.split("|")[4] for t in texts2] == ["gpus=3"] * 3 + ["gpus=4"] * 2  # one engine per GPU, own shard


# ------------------------------------------------------------------------------ kill -9 inside evaluation


def _eval(model, out, data, *, kill_at=None, chunk=8):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("HARNESS_KILL_AT", None)
    if kill_at:
        env["HARNESS_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "harness.cli", "eval", "--bench", "shapes", "--model", str(model)]
    cmd += ["--set", "scenes=6", "--chunk-items", str(chunk), "--data-dir", str(data), "--out", str(out)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_kill_9_mid_evaluation_resumes_at_the_first_unfinished_chunk(tiny_path, tmp_path):
    clean = _eval(tiny_path, tmp_path / "clean", tmp_path / "data")
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert "chunk 3 of 3" in clean.stdout + clean.stderr  # 24 items in chunks of 8

    killed = tmp_path / "killed"
    res = _eval(tiny_path, killed, tmp_path / "data", kill_at="eval-shapes-chunk-1")  # after its second chunk
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert not (killed / "predictions.jsonl").exists() and not (killed / "results.json").exists()
    journal = (killed / "predictions.jsonl.journal.jsonl").read_text().splitlines()
    assert len(journal) == 3 and [json.loads(x)["chunk"] for x in journal[1:]] == [0, 1]

    res = _eval(tiny_path, killed, tmp_path / "data", chunk=5)  # the interrupted generation keeps its chunking
    assert res.returncode == 0, res.stderr[-2000:]
    said = res.stdout + res.stderr
    assert "2 of 3 chunks of answers were generated" in said and "generating the other 1" in said
    assert "chunk 1 of 3" not in said and "chunk 2 of 3" not in said  # only chunk 3 was generated
    assert (killed / "predictions.jsonl").read_bytes() == (tmp_path / "clean" / "predictions.jsonl").read_bytes()
    assert (
        json.loads((killed / "results.json").read_text())["metrics"]
        == json.loads((tmp_path / "clean" / "results.json").read_text())["metrics"]
    )
    assert not (killed / "predictions.jsonl.journal.jsonl").exists()  # gone once the predictions are written


def test_an_evaluation_image_that_is_missing_is_named_before_the_model_loads(tiny_path, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    import benchmarks.shapes as shapes_plugin
    import harness.policy
    from harness.evaluate import evaluate
    from harness.plugins import registry

    def no_model(*a, **k):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(harness.policy, "load_policy", no_model)
    bench = shapes_plugin.ShapesBenchmark(scenes=3, image_dir=tmp_path / "images")
    items = bench.load(None)
    gone = next(it for it in items if it.image == items[-1].image)  # the first item of the last scene's image
    os.remove(gone.image)
    monkeypatch.setattr(shapes_plugin.ShapesBenchmark, "load", lambda self, data_dir: items)
    with pytest.raises(HarnessError, match=f"image of item '{gone.id}' is missing"):
        evaluate(
            "shapes",
            model=tiny_path,
            out=tmp_path / "out",
            bench_options={"scenes": 3},
            reg=registry(entry_points=False, extra=[shapes_plugin]),
            console=Console(file=io.StringIO()),
        )
