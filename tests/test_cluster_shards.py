"""Generation across nodes: a synthesis stage split into shard jobs, each journaling its block of chunks in a file
of its own, joined by the stage's journal into the pairs one process makes (harness/journal.py,
harness/evolve/synthesize.py ``shard=``, harness/cluster/work.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.journal import Journal, adopt_shards, shard_chunks, shard_journal


def test_shards_cover_every_chunk_once_in_contiguous_blocks():
    for n in (0, 1, 5, 7, 16):
        for shards in (1, 2, 3, 8):
            blocks = [list(shard_chunks(n, k, shards)) for k in range(shards)]
            assert [c for b in blocks for c in b] == list(range(n))
            assert max(map(len, blocks)) - min(map(len, blocks)) <= 1


def test_the_stage_journal_adopts_its_shards_and_drops_another_chunkings(tmp_path):
    header = {"stage": "synthesize-1", "chunk_images": 2, "images": 6, "first": "a", "last": "f"}
    path = tmp_path / "synthesize.journal.jsonl"
    second = shard_journal(path, header, 1, 2)
    second.append(2, {"pairs": ["c"]})
    first = shard_journal(path, header, 0, 2)
    first.append(0, {"pairs": ["a"]})
    first.append(1, {"pairs": ["b"]})
    stale = shard_journal(path, {**header, "chunk_images": 3}, 0, 3)  # another chunking: never adopted
    stale.append(0, {"pairs": ["x"]})
    stage = Journal(path, header)
    assert adopt_shards(stage) == 3
    assert [r["pairs"] for r in stage.records(3)] == [["a"], ["b"], ["c"]]
    assert not (tmp_path / "synthesize.journal.shard0-of-3.jsonl").exists()
    assert adopt_shards(Journal(path, header)) == 0  # adopted once


def test_a_synthesis_split_in_two_shards_equals_one_process(tiny_path, tmp_path):
    """Two shard jobs, then the job that joins them, against one process on a copy of the same run: the same
    pairs, byte for byte, and the join generates nothing."""
    pytest.importorskip("submitit")  # harness/cluster/work.py runs the jobs
    from harness import atomic
    from harness.cluster.jobs import JobSpec
    from harness.cluster.work import run_spec
    from harness.evolve import EvolveOptions
    from harness.evolve.synthesize import synthesize_stage
    from harness.images import ImageRef, open_source
    from harness.method import build_config
    from harness.plugins import registry
    from harness.policy.loading import resolve_model_path
    from harness.runs import Run, read_manifest

    opts = EvolveOptions(
        method="sena",
        iters=1,
        images_per_iter=4,
        chunk_images=1,
        evals=[],
        eval_theta0=False,
        run_dir=tmp_path / "shards",
        overrides=["max_new_tokens=16", "sq_max_new_tokens=16"],
        progress=False,
    )
    run_spec(JobSpec("r/open", "open", run_dir=opts.run_dir, opts=opts))  # the run opened, images drawn
    single = tmp_path / "single"
    shutil.copytree(opts.run_dir, single)
    rows = atomic.read_json(single / "iter1" / "images.json")
    refs = [ImageRef(r["id"], r["path"], tuple(r.get("questions", ()))) for r in rows]
    assert len(refs) >= 4
    for k in range(2):
        run_spec(JobSpec(f"r/synth-1-{k + 1}of2", "synth", run_dir=opts.run_dir, iteration=1, shard=(k, 2), opts=opts))
    shards = sorted(p.name for p in (opts.run_dir / "iter1").glob("synthesize.journal.shard*"))
    assert shards == ["synthesize.journal.shard0-of-2.jsonl", "synthesize.journal.shard1-of-2.jsonl"]
    assert not (opts.run_dir / "stages" / "synthesize-1.done").exists()  # a shard never finishes the stage

    cls = registry().method("sena")
    method = cls(build_config(cls, opts.overrides))
    from rich.console import Console

    console = Console(quiet=True)
    for folder in (opts.run_dir, single):  # the join (no shard), and one process over every chunk
        run = Run(folder, read_manifest(folder))
        synthesize_stage(run, 1, resolve_model_path("tiny"), method, open_source(None), refs, opts, console)
    mine, theirs = (f / "iter1" / "pairs.jsonl" for f in (opts.run_dir, single))
    assert mine.read_bytes() == theirs.read_bytes() and mine.read_text().strip()
    joined = json.loads((opts.run_dir / "iter1" / "stats.json").read_text())
    one = json.loads((single / "iter1" / "stats.json").read_text())
    assert joined["requests_this_invocation"] == 0 and joined["chunks_resumed"] == joined["chunks"] == len(refs)
    assert joined["counts"] == one["counts"] and joined["requests_by_chunk"] == one["requests_by_chunk"]
    assert not list((opts.run_dir / "iter1").glob("synthesize.journal*"))  # journals gone once the stage is done
    assert (opts.run_dir / "stages" / "synthesize-1-shard1-of-2.done").is_file()
