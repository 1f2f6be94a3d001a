"""Judge snapshots that OpenAI has retired or announced it will retire, and what to do when one stops answering.

The published numbers of the benchmarks' official scorers and of the papers were judged by dated GPT-4 and
GPT-3.5 snapshots. OpenAI shuts such snapshots down on the dates its deprecations page lists
(https://platform.openai.com/docs/deprecations); the API then answers HTTP 404 ``model_not_found`` for
them. ``retired_advice`` is the part of the error (``JudgeModelNotFound``) that says so and names the way
on: choose a judge the server has, score the stored predictions again with it (``harness rejudge``, nothing
is generated) and measure how far the numbers move (``harness compare --judge OLD --judge NEW``);
docs/judge.md, "Moving a study off a retired judge", walks through it.

The table only says *why* a 404 happened; whether a snapshot still answers is the server's word, so a
local server that serves a model under one of these names is used as usual.
"""

from __future__ import annotations

# model name → who used it, in the words of the sources (the scorers' and papers' public code)
RETIRED_JUDGES: dict[str, str] = {
    "gpt-4-0314": "the judge hard-coded by the original LLaVA-family review scripts",
    "gpt-4-0613": "the default judge of the original open-question grader scripts",
    "gpt-4-1106-preview": "the judge of the self-evolution papers' protocol (this harness's default)",
    "gpt-3.5-turbo-0613": "the extractor of the 2023 multiple-choice and object-extraction scripts",
}

DOC_SECTION = 'docs/judge.md, "Moving a study off a retired judge"'


def is_retired(model: str) -> bool:
    """True for a snapshot in ``RETIRED_JUDGES`` (exact name)."""
    return model in RETIRED_JUDGES


def retired_advice(model: str) -> str | None:
    """What to do when ``model``, a retired snapshot, is not found; None for any other model."""
    if not is_retired(model):
        return None
    return (
        f"{model!r} is a retired OpenAI snapshot ({RETIRED_JUDGES[model]}; "
        "https://platform.openai.com/docs/deprecations), so numbers judged by it cannot be reproduced exactly. "
        "Choose a judge the server has with --judge-model (docs/judge.md lists each protocol's documented "
        f"substitutes), score your stored predictions with it without generating anything (`harness rejudge "
        f"--judge-model NEW`), and measure the drift (`harness compare --judge {model} --judge NEW`); "
        f"{DOC_SECTION} walks through it"
    )
