"""Batched greedy generation with transformers.

Requests are grouped by (with image, max new tokens) and sorted by prompt length, so each batch is
left-padded as little as possible; noisy images get their seeded diffusion noise on the
CLIP-normalised pixel tensor, exactly where the official self-evolution code adds it. Results come back in
request order. ``data_parallel_size`` > 1 runs one worker process per GPU (each with its own copy of the
policy) over contiguous shards of the requests (``harness.backends.shards``). ``helpers`` (on the CPU) lets
spare-core processes generate some of the very batches this process would, so outputs do not change
(``harness.backends.helpers``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from harness.backends.base import Backend, BackendOption, GenerationRequest
from harness.noise import add_noise
from harness.policy.padding import expand_to_square
from harness.progress import progress


class _HFShard:
    """One data-parallel worker: its own copy of the policy on the GPU(s) it sees (or the CPU)."""

    def __init__(self, path: str, dtype: str, batch_size: int):
        from harness.policy.loading import load_policy

        self.backend = HFBackend(load_policy(path, dtype=dtype), batch_size=batch_size, progress=False)

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        return self.backend.generate(requests)


class _HFShardFactory:
    def __init__(self, path: str, dtype: str, batch_size: int):
        self.args = (path, dtype, batch_size)

    def __call__(self, rank: int) -> _HFShard:
        return _HFShard(*self.args)


def _on_cpu(policy) -> bool:
    return str(getattr(policy, "device", "cpu")).startswith("cpu")


class HFBackend(Backend):
    name = "hf"
    description = "transformers generate(): batched, left-padded, greedy (CPU or GPU)"
    options = {
        "data_parallel_size": BackendOption(
            int,
            low=1,
            help="worker processes, one per GPU, each with its own copy of the policy and a contiguous shard",
        )
    }

    def __init__(
        self, policy, *, batch_size: int = 16, progress: bool = True, data_parallel_size: int = 1, helpers=None
    ):
        self.policy = policy
        self.batch_size = max(1, int(batch_size))
        self.progress = progress
        self.pool = None
        # spare-core helper processes (harness/backends/helpers.py): only for a policy on the CPU
        self.helpers = helpers if helpers is not None and helpers.count and _on_cpu(policy) else None
        if self.helpers is not None:
            self.helpers.prepare(self.helper_key())
        if data_parallel_size > 1:
            import os

            import torch

            from harness.backends.shards import ShardPool, gpu_groups

            dtype = str(policy.dtype).replace("torch.", "")
            envs = (
                [
                    {"CUDA_VISIBLE_DEVICES": g}
                    for g in gpu_groups(data_parallel_size, 1, os.environ.get("CUDA_VISIBLE_DEVICES"))
                ]
                if torch.cuda.is_available()
                else [{} for _ in range(data_parallel_size)]
            )
            self.pool = ShardPool(_HFShardFactory(str(policy.path), dtype, self.batch_size), data_parallel_size, envs)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def _prompt(self, req: GenerationRequest) -> str:
        return self.policy.template.render(req.prompt, with_image=req.with_image)

    def _image(self, req: GenerationRequest):
        img = req.image.convert("RGB")
        return expand_to_square(img, self.policy.image_mean) if self.policy.pad_to_square else img

    def generate(self, requests: Sequence[GenerationRequest], *, desc: str = "generating") -> list[str]:
        if self.pool is not None:  # contiguous shards, one per worker, results back in request order
            return self.pool.map("generate", list(requests))
        tok = self.policy.processor.tokenizer
        lengths = [len(ids) for ids in tok([self._prompt(r) for r in requests])["input_ids"]] if requests else []
        groups: dict[tuple[bool, int], list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            groups[(r.with_image, r.max_new_tokens)].append(i)
        batches = []
        for key in sorted(groups):
            idx = sorted(groups[key], key=lambda i: (-lengths[i], i))
            batches += [idx[k : k + self.batch_size] for k in range(0, len(idx), self.batch_size)]
        out: list[str | None] = [None] * len(requests)
        with progress(desc, len(requests), disable=not self.progress or len(requests) < 2) as bar:
            grouped = [[requests[i] for i in batch] for batch in batches]
            for batch, texts in zip(batches, self._run_batches(grouped, self._generate_batch, None, bar.advance)):
                for i, t in zip(batch, texts):
                    out[i] = t
        return out  # type: ignore[return-value]

    def map_batches(self, function: Callable[[Any, Any], Any], batches: Sequence[Any]) -> list[Any]:
        """``[function(policy, batch) for batch in batches]``, some computed by the spare-core helpers when
        there are any (``function``: a module-level function, which a helper imports by name). For a method
        that runs its own batched computation on the policy (a search with its own decoding), exactly as the
        one-process loop would compute it."""
        return self._run_batches(list(batches), lambda b: function(self.policy, b), function)

    def _run_batches(self, batches: list, local: Callable[[Any], Any], function, done=None) -> list[Any]:
        """``local(batch)`` for every batch in order, here or (``function``, or the batch generation when
        None) in the helpers; ``done(len(result))`` after each."""
        if self.helpers is not None and len(batches) > 1:
            return self.helpers.run(self.helper_key(), batches, local, done, function=function)
        results = []
        for batch in batches:
            results.append(local(batch))
            if done:
                done(len(results[-1]))
        return results

    def warm_up(self) -> None:
        """One throwaway generation (one token about a blank image), so that a helper's first real batch does
        not pay for lazy imports and first-call set-up; nothing of it is kept."""
        from PIL import Image

        self._generate_batch([GenerationRequest(Image.new("RGB", (32, 32)), "Describe the image.", max_new_tokens=1)])

    def helper_key(self) -> tuple:
        """What a helper loads to generate exactly as this process does: the checkpoint with the stamp of the
        weight files this process read (a helper refuses a checkpoint rewritten since, and loads a new one
        again), its dtype, the torch thread count of the moment, the conversation template and the padding."""
        import torch

        from harness.policy.loading import weights_stamp

        p = self.policy
        dtype = str(p.dtype).replace("torch.", "")
        stamp = p.extra["weights_stamp"] if "weights_stamp" in p.extra else weights_stamp(p.path)
        return (str(p.path), dtype, torch.get_num_threads(), p.template.name, p.pad_to_square, stamp)

    def _generate_batch(self, reqs: list[GenerationRequest]) -> list[str]:
        import torch

        proc = self.policy.processor
        model = self.policy.model
        prompts = [self._prompt(r) for r in reqs]
        with_image = reqs[0].with_image
        if with_image:
            enc = proc(
                images=[self._image(r) for r in reqs],
                text=prompts,
                padding=True,
                padding_side="left",
                return_tensors="pt",
            )
            pix = enc["pixel_values"]
            for j, r in enumerate(reqs):
                if r.noise_step is not None:
                    pix[j] = add_noise(pix[j], r.noise_step, r.seed)
            enc["pixel_values"] = pix.to(self.policy.dtype)
        else:
            enc = proc.tokenizer(prompts, padding=True, padding_side="left", return_tensors="pt")
        enc = {k: v.to(self.policy.device) for k, v in enc.items()}
        with torch.inference_mode():
            gen = model.generate(
                **enc, max_new_tokens=reqs[0].max_new_tokens, do_sample=False, pad_token_id=proc.tokenizer.pad_token_id
            )
        new = gen[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in proc.tokenizer.batch_decode(new, skip_special_tokens=True)]
