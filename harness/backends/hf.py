"""Batched greedy generation with transformers.

Requests are grouped by (with image, max new tokens) and sorted by prompt length, so each batch is
left-padded as little as possible; noisy images get their seeded diffusion noise on the
CLIP-normalised pixel tensor, exactly where SeVa/SENA add it. Results come back in request order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from harness.backends.base import Backend, GenerationRequest
from harness.noise import add_noise
from harness.policy.padding import expand_to_square


def progress_bar(disable: bool = False) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), transient=True, disable=disable)


class HFBackend(Backend):
    name = "hf"
    description = "transformers generate(): batched, left-padded, greedy (CPU or GPU)"

    def __init__(self, policy, *, batch_size: int = 16, progress: bool = True):
        self.policy = policy
        self.batch_size = max(1, int(batch_size))
        self.progress = progress

    def _prompt(self, req: GenerationRequest) -> str:
        return self.policy.template.render(req.prompt, with_image=req.with_image)

    def _image(self, req: GenerationRequest):
        img = req.image.convert("RGB")
        return expand_to_square(img, self.policy.image_mean) if self.policy.pad_to_square else img

    def generate(self, requests: Sequence[GenerationRequest], *, desc: str = "generating") -> list[str]:
        tok = self.policy.processor.tokenizer
        lengths = [len(tok(self._prompt(r))["input_ids"]) for r in requests]
        groups: dict[tuple[bool, int], list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            groups[(r.with_image, r.max_new_tokens)].append(i)
        batches = []
        for key in sorted(groups):
            idx = sorted(groups[key], key=lambda i: (-lengths[i], i))
            batches += [idx[k:k + self.batch_size] for k in range(0, len(idx), self.batch_size)]
        out: list[str | None] = [None] * len(requests)
        with progress_bar(disable=not self.progress or len(requests) < 2) as bar:
            task = bar.add_task(desc, total=len(requests))
            for batch in batches:
                texts = self._generate_batch([requests[i] for i in batch])
                for i, t in zip(batch, texts):
                    out[i] = t
                bar.advance(task, len(batch))
        return out  # type: ignore[return-value]

    def _generate_batch(self, reqs: list[GenerationRequest]) -> list[str]:
        import torch

        proc = self.policy.processor
        model = self.policy.model
        prompts = [self._prompt(r) for r in reqs]
        with_image = reqs[0].with_image
        if with_image:
            enc = proc(images=[self._image(r) for r in reqs], text=prompts, padding=True, padding_side="left",
                       return_tensors="pt")
            pix = enc["pixel_values"]
            for j, r in enumerate(reqs):
                if r.noise_step is not None:
                    pix[j] = add_noise(pix[j], r.noise_step, r.seed)
            enc["pixel_values"] = pix.to(self.policy.dtype)
        else:
            enc = proc.tokenizer(prompts, padding=True, padding_side="left", return_tensors="pt")
        enc = {k: v.to(self.policy.device) for k, v in enc.items()}
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=reqs[0].max_new_tokens, do_sample=False,
                                 pad_token_id=proc.tokenizer.pad_token_id)
        new = gen[:, enc["input_ids"].shape[1]:]
        return [t.strip() for t in proc.tokenizer.batch_decode(new, skip_special_tokens=True)]
