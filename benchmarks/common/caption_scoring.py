"""CHAIR's per-caption judgement and totals, shared by ``chair`` and ``objhal``.

Per caption (the original scorer; OPERA's port adds Recall and Len; RLAIF-V adds the refined
response rate): a mention (word, class) is hallucinated when its class is not among the image's
ground-truth classes; the caption is hallucinated when it has at least one such mention.

Totals (fractions; the benchmarks report them ×100 as the papers print them):

- ``CHAIRs`` = hallucinated captions / all captions (captions without mentions stay in);
- ``CHAIRs_refine`` = hallucinated captions / captions with at least one mention (RLAIF-V's
  "response-level hallucination rate");
- ``CHAIRi`` = hallucinated mentions / all mentions (micro average; RLAIF-V's mention level);
- ``Recall`` = Σ |classes mentioned correctly| / Σ |ground-truth classes| (OPERA; RLAIF-V's ``obj_rec``);
- ``Len`` = mean number of tokens after the two-word merge, punctuation included (OPERA, which
  stores it ×0.01 and prints it ×100, i.e. the mean itself);
- ``avg_word_len`` = mean of ``len(caption.strip().split(" "))`` (RLAIF-V).

The official scripts divide by zero when a denominator is empty (no caption with a mention, no
mention at all, no ground truth): such a rate is reported as 0 here and the counts it comes from are
reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.common.coco_vocab import CaptionMentions


@dataclass(frozen=True)
class CaptionScore:
    """One caption against its image's ground truth."""

    words: list[str]
    classes: list[str]
    hallucinated: list[tuple[str, str]]  # (word, class), in order, every mention
    recalled: frozenset[str]  # ground-truth classes mentioned
    n_truth: int
    merged_tokens: int
    word_len: int

    @property
    def is_hallucinated(self) -> bool:
        return bool(self.hallucinated)

    @property
    def chair_i(self) -> float:
        """The caption's own CHAIRi (0 when it has no mention), as the official per-caption record."""
        return len(self.hallucinated) / len(self.words) if self.words else 0.0


def score_caption(mentions: CaptionMentions, truth: set[str] | frozenset[str], caption: str) -> CaptionScore:
    hallucinated = [(w, c) for w, c in zip(mentions.words, mentions.classes) if c not in truth]
    recalled = frozenset(c for c in mentions.classes if c in truth)
    return CaptionScore(
        words=list(mentions.words),
        classes=list(mentions.classes),
        hallucinated=hallucinated,
        recalled=recalled,
        n_truth=len(truth),
        merged_tokens=len(mentions.merged),
        word_len=len(caption.strip().split(" ")),
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def totals(scores: Sequence[CaptionScore]) -> dict[str, float]:
    """The totals of the module doc, as fractions, plus the counts they come from."""
    n = len(scores)
    bad = sum(s.is_hallucinated for s in scores)
    with_mentions = sum(bool(s.words) for s in scores)
    mentions = sum(len(s.words) for s in scores)
    wrong = sum(len(s.hallucinated) for s in scores)
    recalled = sum(len(s.recalled) for s in scores)
    truth = sum(s.n_truth for s in scores)
    return {
        "CHAIRs": _ratio(bad, n),
        "CHAIRs_refine": _ratio(bad, with_mentions),
        "CHAIRi": _ratio(wrong, mentions),
        "Recall": _ratio(recalled, truth),
        "Len": _ratio(sum(s.merged_tokens for s in scores), n),
        "avg_word_len": _ratio(sum(s.word_len for s in scores), n),
        "merged_tokens": float(sum(s.merged_tokens for s in scores)),
        "captions": float(n),
        "hallucinated_captions": float(bad),
        "captions_with_mentions": float(with_mentions),
        "mentions": float(mentions),
        "hallucinated_mentions": float(wrong),
        "recalled_classes": float(recalled),
        "truth_classes": float(truth),
    }
