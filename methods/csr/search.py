"""CSR's sentence-level search (YiyangZhou/CSR @ 353de42, ``inference_csr/sample.py``), batched.

One expansion step continues every active node (prompt + the sentences so far) by one sentence, five
ways: diverse (group) beam search with five groups of one beam each and a Hamming diversity penalty
of 3.0, a sentence ending at the first period token (or at EOS), at most 70 new tokens. A group with
one beam is a greedy decode whose log-probs are lowered by penalty × (how many earlier groups picked
that token at this step), which is what ``HammingGroups`` does inside ``model.generate``. The
sentence's LM score is the length-normalised sum of those penalised log-probs (HF's
``sequences_scores`` of group beam search, diversity adjustments included, as the release has them).

transformers 5 moved group beam search out of the library (to a Hub ``custom_generate`` repository,
which offline machines cannot load); this is our implementation of the rule. Simplification: a
one-beam group stops at its first period or EOS (HF's beam bookkeeping could keep a finished
hypothesis and continue the beam).

Every active node of every image is expanded in one batched ``generate`` call per depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from harness.errors import HarnessError
from harness.policy.padding import expand_to_square


def csr_policy(backend):
    """The transformers policy behind ``backend``; a clear error for backends without one."""
    policy = getattr(backend, "policy", None)
    if policy is None or not hasattr(getattr(policy, "model", None), "generate"):
        raise HarnessError(
            "the csr method runs a sentence-level group beam search, which needs the model in process: use the "
            f"'hf' backend (backend {getattr(backend, 'name', type(backend).__name__)!r} exposes no transformers "
            "policy)"
        )
    return policy


@dataclass
class Expansion:
    tokens: list[int]  # the sentence's tokens (the period or EOS included)
    text: str  # the sentence, decoded
    score: float  # the length-normalised, diversity-penalised sum of log-probs
    ended_with_eos: bool


def _hamming_processor(groups: int, penalty: float, start: int, stop_ids: torch.Tensor):
    from transformers import LogitsProcessor

    class HammingGroups(LogitsProcessor):
        """log softmax, then each group's scores lowered by penalty × the earlier groups' picks."""

        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            scores = torch.log_softmax(scores.float(), dim=-1)
            rows, vocab = scores.shape
            nodes = rows // groups
            done = (
                torch.isin(input_ids[:, start:], stop_ids.to(input_ids.device)).any(dim=1)
                if input_ids.shape[1] > start
                else torch.zeros(rows, dtype=torch.bool, device=scores.device)
            )
            counts = torch.zeros(nodes, vocab, device=scores.device)
            base = torch.arange(nodes, device=scores.device) * groups
            for g in range(groups):
                idx = base + g
                if g:
                    scores[idx] = scores[idx] - penalty * counts
                pick = scores[idx].argmax(dim=-1)
                counts[torch.arange(nodes, device=scores.device), pick] += (~done[idx]).float()
            return scores

    return HammingGroups()


def expand(
    policy,
    images: Sequence,
    prompts: Sequence[str],
    prefixes: Sequence[list[int]],
    *,
    groups: int,
    penalty: float,
    max_new_tokens: int,
    batch_size: int = 8,
    map_batches=None,
) -> list[list[Expansion]]:
    """``groups`` next sentences for each (image, prompt, response prefix), in order. ``map_batches``: the hf
    backend's, which lets spare-core helper processes expand some of the same batches (the same results)."""
    options = {"groups": groups, "penalty": penalty, "max_new_tokens": max_new_tokens}
    batches = [
        (
            list(images[k : k + batch_size]),
            list(prompts[k : k + batch_size]),
            list(prefixes[k : k + batch_size]),
            options,
        )
        for k in range(0, len(prompts), batch_size)
    ]
    if map_batches is None:
        found = [_expand_job(policy, batch) for batch in batches]
    else:
        found = map_batches(_expand_job, batches)
    return [children for batch in found for children in batch]


def _expand_job(policy, batch) -> list[list[Expansion]]:
    """One batch of ``expand`` (a module-level function: a helper process imports it by name)."""
    images, prompts, prefixes, options = batch
    return _expand_batch(policy, images, prompts, prefixes, **options)


def _expand_batch(policy, images, prompts, prefixes, *, groups, penalty, max_new_tokens) -> list[list[Expansion]]:
    proc = policy.processor
    tok = proc.tokenizer
    pics = [
        expand_to_square(im.convert("RGB"), policy.image_mean) if policy.pad_to_square else im.convert("RGB")
        for im in images
    ]
    enc = proc(
        images=pics,
        text=[policy.template.render(p) for p in prompts],
        padding=True,
        padding_side="left",
        return_tensors="pt",
    )
    rows = [
        ids[m.bool()].tolist() + list(pre) for ids, m, pre in zip(enc["input_ids"], enc["attention_mask"], prefixes)
    ]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(rows):
        ids[j, width - len(r) :] = torch.tensor(r)
        att[j, width - len(r) :] = 1
    period = tok.convert_tokens_to_ids(".")
    stops = [t for t in (period, tok.eos_token_id) if t is not None and t != tok.unk_token_id]
    stop_ids = torch.tensor(stops)
    dev = policy.device
    kwargs = {
        "input_ids": ids.repeat_interleave(groups, 0).to(dev),
        "attention_mask": att.repeat_interleave(groups, 0).to(dev),
        "pixel_values": enc["pixel_values"].repeat_interleave(groups, 0).to(dev, policy.dtype),
    }
    with torch.inference_mode():
        gen = policy.model.generate(
            **kwargs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stops,
            pad_token_id=tok.pad_token_id,
            logits_processor=[_hamming_processor(groups, penalty, width, stop_ids)],
            output_scores=True,
            return_dict_in_generate=True,
        )
    new = gen.sequences[:, width:].cpu()
    scores = torch.stack([s.float().cpu() for s in gen.scores], dim=1) if gen.scores else None
    result: list[list[Expansion]] = []
    for b in range(len(rows)):
        children = []
        for g in range(groups):
            r = b * groups + g
            toks, total = [], 0.0
            for step, t in enumerate(new[r].tolist()):
                toks.append(t)
                total += scores[r, step, t].item()
                if t in stops:
                    break
            children.append(
                Expansion(
                    toks,
                    tok.decode(toks, skip_special_tokens=True).strip(),
                    total / max(1, len(toks)),
                    tok.eos_token_id in toks,
                )
            )
        result.append(children)
    return result


@dataclass
class Node:
    """A node of one image's search tree: the response so far and this node's sentence."""

    index: int
    parent: int | None
    depth: int
    tokens: list[int] = field(default_factory=list)  # the whole response so far
    sentence: str = ""
    lm: float = 0.0  # this sentence's LM score
    cum: float = 0.0  # cumulative LM score (the search's pruning key)
    reward_cum: float = 0.0  # cumulative calibrated reward (clip_guides_search)
    final: bool = False
    clip: float | None = None
    children: list[int] = field(default_factory=list)
    removed: bool = False


def prune(children: Sequence[Node], beams: int, key) -> list[Node]:
    """The release's pruning: with ≥ ``beams`` non-final children, keep the best ⌊beams/2⌋−1 and the worst
    ⌊beams/2⌋ by ``key`` (descending); otherwise keep them all."""
    ranked = sorted(children, key=key, reverse=True)
    if len(ranked) >= beams:
        top, bottom = beams // 2 - 1, beams // 2
        return ranked[:top] + ranked[len(ranked) - bottom :]
    return ranked
