"""POPE answer parsing and per-split metrics.

``official`` is the parser of POPE's ``evaluate.py`` (RUCAIBox/POPE at 3df3ba1b110e, L9-34), which
LLaVA-1.5's ``llava/eval/eval_pope.py`` (haotian-liu/LLaVA at c121f0432da2, L8-33) repeats:

1. keep the text before the first ``.`` (only ``.`` ends a sentence);
2. delete every ``,``;
3. split on the single space character (tabs and newlines stay inside tokens);
4. the answer is **no** when a token is exactly ``No``, ``no`` or ``not`` (case-sensitive), else
   **yes**: there is no "unknown", an empty answer counts as yes.

The other published parsers are options, never the default:

- ``lmms-eval`` (EvolvingLMMs-Lab/lmms-eval ``tasks/pope/utils.py``): ``answer.lower().strip()``
  must be exactly ``yes`` or ``no``; anything else is unparsed;
- ``vlmevalkit`` (open-compass/VLMEvalKit ``dataset/utils/yorn.py``): lower-case, the VQA
  punctuation clean-up, whitespace split; yes when ``yes`` is a word and ``no`` is not, no in the
  reverse case, else unparsed (VLMEvalKit then asks a GPT judge; not done here).

Metrics per split (``evaluate.py`` L36-62): yes is the positive class; P = TP/(TP+FP),
R = TP/(TP+FN), F1 = 2PR/(P+R), Accuracy = (TP+TN)/all, yes-ratio = yes predictions / all
predictions. An unparsed answer (the optional parsers only) is wrong for accuracy and counts in
neither TP/FP/TN/FN nor the yes-ratio's numerator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

PARSERS = ("official", "lmms-eval", "vlmevalkit")


def official_answer(text: str) -> str:
    """POPE's own parser (the module doc): "yes" or "no", never anything else."""
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def lmms_eval_answer(text: str) -> str | None:
    pred = text.lower().strip()
    return pred if pred in ("yes", "no") else None


_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
_COMMA_BETWEEN_DIGITS = re.compile(r"(\d)(,)(\d)")
_PERIOD_NOT_IN_NUMBER = re.compile(r"(?!<=\d)(\.)(?!\d)")


def vqa_punctuation(text: str) -> str:
    """The VQA evaluation's punctuation clean-up as VLMEvalKit applies it: a mark with a space next
    to it (or any mark when the text has a digit-comma-digit) is deleted, otherwise replaced by a
    space; then periods not followed by a digit are deleted."""
    out = text
    for mark in _PUNCT:
        if (mark + " " in text or " " + mark in text) or _COMMA_BETWEEN_DIGITS.search(text) is not None:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_NOT_IN_NUMBER.sub("", out)


def vlmevalkit_answer(text: str) -> str | None:
    words = vqa_punctuation(text.lower()).split()
    if "yes" in words and "no" not in words:
        return "yes"
    if "no" in words and "yes" not in words:
        return "no"
    return None


def parser(name: str) -> Callable[[str], str | None]:
    return {"official": official_answer, "lmms-eval": lmms_eval_answer, "vlmevalkit": vlmevalkit_answer}[name]


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def split_metrics(predictions: Sequence[str | None], labels: Sequence[str]) -> dict[str, float]:
    """Counts and rates of one split, predictions aligned with labels (the module doc).

    A zero denominator gives 0 (the official script raises ZeroDivisionError); the counts are returned
    too, so the case is visible.
    """
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    tp = fp = tn = fn = 0
    for pred, label in zip(predictions, labels):
        if pred is None:
            continue
        if pred == "yes":
            tp += label == "yes"
            fp += label == "no"
        else:
            tn += label == "no"
            fn += label == "yes"
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "TP": float(tp),
        "FP": float(fp),
        "TN": float(tn),
        "FN": float(fn),
        "unparsed": float(sum(p is None for p in predictions)),
        "Accuracy": _ratio(tp + tn, len(predictions)),
        "Precision": precision,
        "Recall": recall,
        "F1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "Yes-ratio": _ratio(sum(p == "yes" for p in predictions), len(predictions)),
    }
