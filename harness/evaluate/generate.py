"""Predictions for a benchmark's items: items loaded and cut to `--limit`, images opened per chunk, answers
generated with the policy in journaled chunks (a killed run resumes at its first unfinished chunk)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.benchmark import BenchItem, Benchmark
from harness.errors import HarnessError
from harness.evaluate.models import DEFAULT_DATA_ROOT
from harness.journal import Journal
from harness.plugins import Registry


def load_items(bench: Benchmark, data_dir: Path | None) -> list[BenchItem]:
    if data_dir is None and bench.data_sources():
        data_dir = DEFAULT_DATA_ROOT / bench.name
    items = bench.load(data_dir)  # type: ignore[arg-type]  # a benchmark without data files takes None
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise HarnessError(f"benchmark {bench.name!r}: item id {item.id!r} appears twice in {data_dir}")
        seen.add(item.id)
    return items


def _open_images(items: Sequence[BenchItem]) -> dict[Path, Any]:
    """The images of ``items``, each opened once (items sharing an image share it)."""
    from PIL import Image

    opened: dict[Path, Any] = {}
    for item in items:
        if item.image is None or Path(item.image) in opened:
            continue
        try:
            with Image.open(item.image) as im:
                opened[Path(item.image)] = im.convert("RGB")
        except (OSError, ValueError) as exc:
            raise HarnessError(f"{item.image}: cannot open the image of item {item.id!r} ({exc})") from None
    return opened


def generate_predictions(
    bench: Benchmark,
    items: list[BenchItem],
    model_path: str,
    *,
    backend: str,
    batch_size: int,
    reg: Registry,
    console: Console,
    journal: Journal,
    chunk_items: int,
    helpers=None,
) -> dict[str, str]:
    """The policy's answers to ``items``, streamed: chunks of ``chunk_items`` items, each chunk's images
    opened, answered and appended to ``journal`` before the next chunk's are opened. Chunks already in
    the journal (a killed run's) are not generated again; the policy is loaded only if one is missing.
    ``helpers``: spare-core generation helpers (harness/backends/helpers.py), for a backend that takes them."""
    from harness.backends.base import GenerationRequest
    from harness.faults import maybe_kill
    from harness.journal import chunked

    max_new_tokens = int(bench.generation_params().get("max_new_tokens", 1024))
    chunks = list(chunked(items, chunk_items))
    todo = [k for k, _ in chunks if not journal.done(k)]
    for k in todo:  # a missing image fails before the model is loaded (opening them all would hold them all)
        for item in chunks[k][1]:
            if item.image is not None and not Path(item.image).is_file():
                raise HarnessError(f"{item.image}: the image of item {item.id!r} is missing")
    engine = None
    threads = ExitStack()  # one torch thread for a tiny-scale model (harness/policy/threads.py)
    try:
        if todo:
            from harness.policy import load_policy
            from harness.policy.threads import threads_for, torch_threads

            if len(todo) < len(chunks):
                console.print(
                    f"{bench.name}: {len(chunks) - len(todo)} of {len(chunks)} chunks of answers were generated "
                    f"before the last run stopped ({journal.path}); generating the other {len(todo)}",
                    highlight=False,
                )
            console.print(f"loading {model_path} …", highlight=False)
            policy = load_policy(model_path)
            threads.enter_context(torch_threads(threads_for(policy.path)))
            cls = reg.backend(backend)
            accepted = inspect.signature(cls).parameters
            options = {"batch_size": batch_size} if "batch_size" in accepted else {}
            if helpers is not None and "helpers" in accepted:  # spare-core helpers (harness/backends/helpers.py)
                options["helpers"] = helpers
            engine = cls(policy, **options)
        for k, chunk in chunks:
            if journal.done(k):
                continue
            opened = _open_images(chunk)
            requests = [
                GenerationRequest(
                    image=opened.get(Path(item.image)) if item.image is not None else None,
                    prompt=item.prompt,
                    max_new_tokens=max_new_tokens,
                    with_image=item.image is not None,
                )
                for item in chunk
            ]
            where = f" (chunk {k + 1} of {len(chunks)})" if len(chunks) > 1 else ""
            texts = engine.generate(requests, desc=f"{bench.name}: generating{where}")
            del opened, requests  # this chunk's images go before the next chunk's are opened
            journal.append(k, {"answers": list(texts)})
            maybe_kill(f"eval-{bench.name}-chunk-{k}")
    finally:
        if engine is not None:
            engine.close()
        threads.close()
    answers = [a for rec in journal.records(len(chunks)) for a in rec["answers"]]
    return {item.id: text for item, text in zip(items, answers)}
