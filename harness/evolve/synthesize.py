"""The synthesis stage: θi−1 makes the iteration's preference pairs with the method, streamed in journaled
chunks (a killed stage resumes at its first unfinished chunk); θ1's pairs may be shared from a donor run."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness import atomic
from harness.backends.base import parse_backend_options
from harness.errors import HarnessError
from harness.evolve.gpu import generation_precision, load_policy_at, release_accelerator
from harness.evolve.handover import check_handed_over, mark_gpu
from harness.evolve.options import EvolveOptions
from harness.faults import maybe_kill
from harness.images import ImageRef
from harness.journal import (
    Journal,
    adopt_shards,
    chunked,
    merge_counts,
    recorded,
    remove_shards,
    shard_chunks,
    shard_journal,
)
from harness.method import SynthesisContext
from harness.progress import stage_end, stage_start
from harness.runs import Run
from harness.train.config import TrainConfig


class _CountingBackend:
    """Forwards to the real backend and counts the requests it is given (recorded per chunk)."""

    def __init__(self, backend):
        self.backend = backend
        self.requests = 0

    def generate(self, requests, *, desc: str = "generating") -> list[str]:
        self.requests += len(requests)
        return self.backend.generate(requests, desc=desc)

    def __getattr__(self, name: str):
        return getattr(self.backend, name)


def _open_chunk(source, refs: list[ImageRef]) -> tuple[dict[str, Any], list[list[str]]]:
    """Open (decode) one chunk's images: {id: image}, and [id, error] for each one that vanished or is
    corrupt (skipped and counted; the stage goes on)."""
    opened: dict[str, Any] = {}
    skipped: list[list[str]] = []
    for ref in refs:
        try:
            opened[ref.id] = source.open(ref)
        except (OSError, ValueError, HarnessError) as exc:  # PIL's errors are OSError/ValueError subclasses
            skipped.append([ref.id, f"{type(exc).__name__}: {exc}"[:200]])
    return opened, skipped


def _chunk_opener(opened: dict[str, Any], source):
    """ctx.open_image for one chunk: its already decoded images; any other ref is opened from the source."""

    def open_image(ref):
        image = opened.get(ref.id)
        return image if image is not None else source.open(ref)

    return open_image


def synthesize_stage(
    run: Run,
    i: int,
    prev: Path,
    method,
    source,
    refs: list[ImageRef],
    opts: EvolveOptions,
    console: Console,
    *,
    out: Path | None = None,
    marker: str | None = None,
    make_pairs=None,
    title: str | None = None,
    heldout: set[str] | frozenset[str] = frozenset(),
    shard: tuple[int, int] | None = None,
    helpers=None,
):
    """Synthesis, streamed: chunks of ``chunk_images`` images, each opened, generated and appended to the
    journal (``synthesize.journal.jsonl``) before the next is opened; a rerun skips the journaled chunks.
    pairs.jsonl is then written from the journal, atomically. Returns the policy when it can be reused.
    A training stage that makes its own pairs passes its folder ``out``, ``marker``, ``make_pairs``
    (``(backend, images, ctx) -> PreferenceSet``; default ``method.synthesize``) and ``title``. ``heldout``:
    images whose pairs go to ``heldout_pairs.jsonl`` instead (harness/evolve/heldout.py), never trained on.
    ``shard=(k, S)``: only the k-th of S contiguous blocks of chunks, journaled in a file of its own and not
    assembled (a stage split across cluster jobs, harness/cluster/); the call without ``shard`` adopts
    every shard's chunks (harness/journal.py) and finishes the stage. ``helpers``: spare-core generation
    helpers for the hf backend (harness/backends/helpers.py; the pairs do not change)."""
    out = out or run.iter_dir(i)
    marker = marker or f"synthesize-{i}"
    make_pairs = make_pairs or method.synthesize
    jpath = out / "synthesize.journal.jsonl"
    size = recorded(jpath, "chunk_images", opts.chunk_images)  # a resumed stage keeps its chunking
    journal = Journal(
        jpath,
        {
            "stage": marker,
            "chunk_images": size,
            "images": len(refs),
            "first": refs[0].id if refs else None,
            "last": refs[-1].id if refs else None,
        },
    )
    chunks = list(chunked(refs, size))
    if shard is not None:  # this job's block of chunks, in its own journal; the stage is finished elsewhere
        mine, stage_journal = shard_chunks(len(chunks), *shard), journal
        journal = shard_journal(jpath, journal.header, *shard)
        chunks = [(k, c) for k, c in chunks if k in mine and not stage_journal.done(k)]
    else:
        adopt_shards(journal)
    todo = [k for k, _ in chunks if not journal.done(k)]
    title = title or f"θ{i} · synthesize pairs with θ{i - 1}"
    resumed = f", resuming at chunk {todo[0] + 1} of {len(chunks)}" if todo and len(todo) < len(chunks) else ""
    t_stage = stage_start(console, f"{title} ({len(refs)} images{resumed})")
    policy = backend = None
    t0 = time.monotonic()
    requests_now = 0
    # an engine backend promises the GPU back when it closes (the hf policy is kept for the reference pass)
    handover = mark_gpu(f"{marker} ({opts.backend} engine)") if todo and opts.backend != "hf" else None
    if todo:
        policy, backend = _generation_backend(prev, opts, helpers)
        counted = _CountingBackend(backend)
        first = True
        for k, chunk in chunks:
            if journal.done(k):
                continue
            if not first:
                gc.collect()  # the previous chunk's images go before this chunk's are opened
            first = False
            opened, skipped = _open_chunk(source, list(chunk))
            ctx = SynthesisContext(
                seed=opts.seed * 1000 + i,
                iteration=i,
                checkpoint=str(prev),
                open_image=_chunk_opener(opened, source),
                progress=opts.progress,
                base_model=str(opts.model),
                run_seed=opts.seed,
                annotations=source.annotations,
            )
            before = counted.requests
            readable = [r for r in chunk if r.id in opened]
            pset = make_pairs(counted, readable, ctx) if readable else None
            record = {
                "pairs": [p.to_dict() for p in pset.pairs] if pset else [],
                "counts": pset.counts if pset else {},
                "stats": pset.stats if pset else {},
                "images": len(chunk),
                "skipped": skipped,
                "requests": counted.requests - before,
            }
            del opened, ctx, pset, readable  # this chunk's images go before the next chunk's are opened
            journal.append(k, record)
            maybe_kill(f"{marker}-chunk-{k}")
        requests_now = counted.requests
    maybe_kill(marker)
    if backend is not None:
        backend.close()  # engines and data-parallel workers give their GPUs back
        backend = None
        if opts.backend != "hf":
            policy = None
        release_accelerator()
        check_handed_over(handover)
    if shard is not None:
        stage_end(console, title, t_stage, f"shard {shard[0] + 1} of {shard[1]}: {len(todo)} chunk(s) journaled")
        return None
    records = journal.records(len(chunks))
    pairs = [p for rec in records for p in rec["pairs"]]
    skipped = [s for rec in records for s in rec.get("skipped", [])]
    counts = merge_counts([rec["counts"] for rec in records])
    if skipped:
        counts = {"images.unreadable_at_synthesis": len(skipped), **counts}
        console.print(
            f"[yellow]skipped {len(skipped)} image(s) that vanished or are unreadable[/], "
            f"e.g. {skipped[0][0]}: {skipped[0][1]}"
        )
    stats = records[0]["stats"] if len(records) == 1 else {"chunks": [rec["stats"] for rec in records]}
    held_pairs: list[dict] = []
    if heldout:
        from harness.evolve.heldout import HELDOUT_FILE, split_pairs

        pairs, held_pairs = split_pairs(pairs, set(heldout))
        atomic.write_jsonl(out / HELDOUT_FILE, held_pairs)
    atomic.write_jsonl(out / "pairs.jsonl", pairs)
    atomic.write_json(
        out / "stats.json",
        {
            "pairs": len(pairs),
            "images": len(refs) - len(heldout),
            **({"heldout_images": len(heldout), "heldout_pairs": len(held_pairs)} if heldout else {}),
            "counts": counts,
            "stats": stats,
            "skipped_images": skipped,
            "chunk_images": size,
            "chunks": len(chunks),
            "chunks_resumed": len(chunks) - len(todo),
            "requests_by_chunk": [rec["requests"] for rec in records],
            "requests_this_invocation": requests_now,
            "wall_s": round(time.monotonic() - t0, 3),
        },
    )
    run.mark_done(marker, pairs=len(pairs), chunk_images=size, chunks=len(chunks), skipped_images=len(skipped))
    journal.remove()
    remove_shards(jpath)
    held_text = f" (+ {len(held_pairs)} held-out pairs from {len(heldout)} images)" if heldout else ""
    stage_end(console, title, t_stage, f"{len(refs) - len(heldout)} images → {len(pairs)} pairs{held_text}")
    # the stage is finished (perf/streaming_memory.py measures up to here)
    maybe_kill(f"synthesized-{i}" if marker == f"synthesize-{i}" else f"{marker}-done")
    return policy if opts.backend == "hf" else None


def _generation_backend(prev: Path, opts: EvolveOptions, helpers=None):
    """(policy, backend) for θi−1. The backend class loads the policy: an engine that loads its own weights
    (vLLM) keeps the policy's off the GPU, so the GPU is the engine's while it generates."""
    from harness.plugins import registry

    cls = registry().backend(opts.backend)
    options = parse_backend_options(opts.backend, getattr(cls, "options", {}), opts.backend_opts)
    if opts.backend == "hf":
        options.setdefault("batch_size", opts.gen_batch_size)
        if helpers is not None:
            options["helpers"] = helpers
    dtype = generation_precision(opts.model, opts.gen_dtype)[1]
    policy = cls.load_policy(prev, dtype) if hasattr(cls, "load_policy") else load_policy_at(prev, dtype)
    return policy, cls(policy, **options)


def share_first_iteration(run: Run, donor: Path, train_cfg: TrainConfig, console: Console) -> None:
    """Copy θ1's pairs (and reference log-probs) from ``donor``, a run of the same θ0, images and synthesis.

    Only finished stages are copied, only when both runs drew the same θ1 images; ``stats.json`` and the
    stage marker say where they came from. Training, which differs, is never shared.
    """
    out, theirs = run.iter_dir(1), donor / "iter1"
    if not (donor / "stages" / "synthesize-1.done").is_file() or run.done("synthesize-1"):
        return
    if atomic.read_json(theirs / "images.json") != atomic.read_json(out / "images.json"):
        console.print(f"[yellow]not sharing θ1's pairs with {donor}: its θ1 images differ[/]")
        return
    stats = atomic.read_json(theirs / "stats.json")
    atomic.write_jsonl(out / "pairs.jsonl", atomic.read_jsonl(theirs / "pairs.jsonl"))
    if (theirs / "heldout_pairs.jsonl").is_file():
        atomic.write_jsonl(out / "heldout_pairs.jsonl", atomic.read_jsonl(theirs / "heldout_pairs.jsonl"))
    atomic.write_json(out / "stats.json", dict(stats, shared_from=str(donor)))
    run.mark_done("synthesize-1", pairs=stats.get("pairs"), shared_from=str(donor))
    if not train_cfg.live_reference and (donor / "stages" / "reference-1.done").is_file():
        rows = atomic.read_jsonl(theirs / "ref_logps.jsonl")
        atomic.write_jsonl(out / "ref_logps.jsonl", rows)
        run.mark_done("reference-1", pairs=len(rows), shared_from=str(donor))
    console.print(f"θ1 · pairs{'' if train_cfg.live_reference else ' and reference log-probs'} shared from {donor}")
