"""LLaVA-Bench (In-the-Wild) judge prompts, verbatim (protocol, not code).

Sources (haotian-liu/LLaVA, commit 181a2f811f1eb0b794c25e87204491d812c05f8d; the spec read
c121f0432da2, same text):
- ``llava/eval/table/rule.json``: keys ``llava_bench_conv``, ``llava_bench_detail`` and
  ``llava_bench_complex``, role "Assistant", one identical prompt (872 characters, SHA-256
  2ce22b562d6008864970ea863ac8a4d385ea6f2e64ab1313a23f825202a9529d; checked by
  tests/test_llava_wild.py).
- ``llava/eval/eval_gpt_review_bench.py``: the system message and the layout of the user
  message (context, question, the reference as Assistant 1, the model as Assistant 2, rule).
"""

from __future__ import annotations

import hashlib

RULE_SHA256 = "2ce22b562d6008864970ea863ac8a4d385ea6f2e64ab1313a23f825202a9529d"

# The same string under the three llava_bench_* keys of rule.json (note the space before "\n").
RULE_PROMPT = (
    "We would like to request your feedback on the performance of two AI assistants in response "
    "to the user question displayed above. The user asks the question on observing an image. For "
    "your reference, the visual content in the image is represented with a few sentences "
    "describing the image. \nPlease rate the helpfulness, relevance, accuracy, level of details of "
    "their responses. Each assistant receives an overall score on a scale of 1 to 10, where a "
    "higher score indicates better overall performance.\nPlease first output a single line "
    "containing only two values indicating the scores for Assistant 1 and 2, respectively. The two "
    "scores are separated by a space.\nIn the subsequent line, please provide a comprehensive "
    "explanation of your evaluation, avoiding any potential bias and ensuring that the order in "
    "which the responses were presented does not affect your judgment."
)

RULES = {f"llava_bench_{cat}": {"role": "Assistant", "prompt": RULE_PROMPT} for cat in ("conv", "detail", "complex")}

SYSTEM_PROMPT = "You are a helpful and precise assistant for checking the quality of the answer."


def review_content(
    caption: str, question: str, reference: str, answer: str, *, role: str = "Assistant", rule: str = RULE_PROMPT
) -> str:
    """The judge's user message, laid out as ``eval_gpt_review_bench.py`` lays it out."""
    return (
        f"[Context]\n{caption}\n\n"
        f"[Question]\n{question}\n\n"
        f"[{role} 1]\n{reference}\n\n[End of {role} 1]\n\n"
        f"[{role} 2]\n{answer}\n\n[End of {role} 2]\n\n"
        f"[System]\n{rule}\n\n"
    )


def rule_sha256() -> str:
    """SHA-256 of the rule prompt as UTF-8 (the protocol card's prompt_version)."""
    return hashlib.sha256(RULE_PROMPT.encode("utf-8")).hexdigest()
