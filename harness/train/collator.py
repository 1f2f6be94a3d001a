"""The LLaVA preference collator: prompt and answer tokenised jointly, with BOS and EOS.

TRL's ``DataCollatorForVisionPreference`` tokenises prompt and completion separately, without BOS
and without EOS (TRL 1.16), so the model would never learn to stop and training would not
match generation. This collator renders each row with the policy's training template, tokenises
``prompt + " " + answer`` in one call (BOS from the tokenizer), finds the prompt boundary from the
prompt's own tokenisation, and appends EOS — the same rows LLaVA-1.5's ``preprocess_v1`` supervises.

Output keys are TRL's: ``input_ids``, ``attention_mask``, ``completion_mask``, ``pixel_values``
(rows: all chosen, then all rejected), plus ``ref_chosen_logps``/``ref_rejected_logps`` when the
examples carry precomputed reference log-probs, and ``is_des`` (1.0 for pairs whose kind is in
``align_kinds``, by default the description pairs) for the alignment term.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from harness.errors import HarnessError
from harness.policy.padding import expand_to_square
from harness.policy.templates import IMAGE_TOKEN, ConversationTemplate


class LlavaPairCollator:
    def __init__(
        self,
        processor,
        template: ConversationTemplate,
        open_image: Callable[[dict], Any],
        *,
        max_length: int | None = None,
        pad_to_square: bool = True,
        align_kinds: Sequence[str] = ("des",),
    ):
        self.processor = processor
        self.align_kinds = tuple(align_kinds)
        self.tok = processor.tokenizer
        self.template = template
        self.open_image = open_image
        self.max_length = max_length
        self.pad_to_square = pad_to_square
        self.boundary_mismatches = 0  # rows whose joint tokenisation moved the prompt boundary

    def _image(self, example: dict):
        img = self.open_image(example).convert("RGB")
        return expand_to_square(img, self.processor.image_processor.image_mean) if self.pad_to_square else img

    def rows(
        self, prompts: Sequence[str], answers: Sequence[str], images: Sequence
    ) -> tuple[list[list[int]], list[int], torch.Tensor]:
        """Token ids of each row, the prompt length of each row, and the pixel values."""
        texts = [self.template.render(p) for p in prompts]
        full = [t + self.template.render_answer(a) for t, a in zip(texts, answers)]
        enc = self.processor(images=list(images), text=full, padding=True, padding_side="right", return_tensors="pt")
        image_id = self.tok.convert_tokens_to_ids(IMAGE_TOKEN)
        ids_out, prompt_lens = [], []
        for j, text in enumerate(texts):
            ids = enc["input_ids"][j][enc["attention_mask"][j].bool()].tolist()
            n_img = ids.count(image_id)
            prompt_ids = self.tok(text.replace(IMAGE_TOKEN, IMAGE_TOKEN * n_img))["input_ids"]
            k = len(prompt_ids)
            if ids[:k] != prompt_ids:
                # the tokenizer merged across the boundary: keep the prompt's own tokens, re-tokenise the answer
                self.boundary_mismatches += 1
                ids = (
                    prompt_ids
                    + self.tok(self.template.render_answer(answers[j]), add_special_tokens=False)["input_ids"]
                )
            ids = ids + [self.tok.eos_token_id]
            if self.max_length is not None and len(ids) > self.max_length:
                if k >= self.max_length:
                    raise HarnessError(
                        f"prompt of {k} tokens does not fit max_length={self.max_length} (prompt: {prompts[j][:60]!r}…)"
                    )
                ids = ids[: self.max_length]
            ids_out.append(ids)
            prompt_lens.append(k)
        return ids_out, prompt_lens, enc["pixel_values"]

    def pad(self, rows: list[list[int]], prompt_lens: list[int]) -> dict[str, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.tok.pad_token_id, dtype=torch.long)
        att = torch.zeros((len(rows), width), dtype=torch.long)
        comp = torch.zeros((len(rows), width), dtype=torch.long)
        for j, (r, k) in enumerate(zip(rows, prompt_lens)):
            ids[j, : len(r)] = torch.tensor(r)
            att[j, : len(r)] = 1
            comp[j, k : len(r)] = 1
        return {"input_ids": ids, "attention_mask": att, "completion_mask": comp}

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        images = [self._image(e) for e in examples]
        prompts = [e["prompt"] for e in examples]
        answers = [e["chosen"] for e in examples] + [e["rejected"] for e in examples]
        rows, plens, pixels = self.rows(prompts * 2, answers, images * 2)
        batch = self.pad(rows, plens)
        batch["pixel_values"] = pixels
        if "ref_chosen_logps" in examples[0]:
            batch["ref_chosen_logps"] = torch.tensor([float(e["ref_chosen_logps"]) for e in examples])
            batch["ref_rejected_logps"] = torch.tensor([float(e["ref_rejected_logps"]) for e in examples])
        batch["is_des"] = torch.tensor([1.0 if e.get("kind") in self.align_kinds else 0.0 for e in examples])
        return batch
