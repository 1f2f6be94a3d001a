"""Object HalBench's LLM-based object extraction (the official ``--use_gpt`` path), through the judge client.

From RLHF-V/RLAIF-V ``eval/eval_gpt_obj_halbench.py`` at 83d917b2e811 (the same in RLHF-V/RLHF-V at
8daac8a8f30d), written anew:

1. an answer of 3 or fewer whitespace tokens gets no call and no objects;
2. otherwise :data:`EXTRACTION_PROMPT`, with ``{question}`` and ``{answer}`` substituted by plain
   string replacement, is sent as a single **system** message (official decoding: ``gpt-3.5-turbo-0613``,
   temperature 0.2, max_tokens 512);
3. the reply is parsed with ``json.loads``; when that fails and the reply contains ``["``, its last
   line is parsed instead; otherwise the reply is unparseable and the official script asks again
   (up to 100 times, then aborts the run);
4. each extracted string ``s`` is analysed by spaCy (``en_core_web_trf``) as ``"a " + s``: when an
   adjacent lemma pair is a two-word unit of the vocabulary, only those units are kept; else each
   maximal run of NN/NNS/NNP/NNPS tokens gives its lemmas joined by spaces;
5. candidates are de-duplicated per answer (first occurrence kept), then the toilet/seat rule and
   the vocabulary filter apply (``CocoVocabulary.objects_to_mentions``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.common.coco_vocab import CocoVocabulary
from harness.errors import HarnessError
from harness.judge.types import JudgeRequest

# Verbatim from RLHF-V/RLAIF-V eval/eval_gpt_obj_halbench.py @ 83d917b2e811 L49-71 (prompt_template).
EXTRACTION_PROMPT = """You are an expert in image objects extraction according to a question answer pair. \
We asked an examiner to answer a question about a picture.

[Start of Question]

<image> {question}

[End of Question]

[Start of Examiner's Answer]

{answer}

[End of Examiner's Answer]


Assume that the answer is correct, please identify all visible objects that are directly shown in the image. \
Please following the instructions in below:

1. You should only mention objects that are explicitly mentioned in the examiner's answer.
2. You should only extract the object names without the attributes of the objects.
3. You should not include the properties of the object, like the color, material, etc. as part of the object \
name in your result.
4. Make your answer precise. Present the results in a JSON list format: ["object_1", ..., "object_n"].
5. You should return an empty JSON list () if no visible objects can be found.
"""
PROMPT_SHA256 = hashlib.sha256(EXTRACTION_PROMPT.encode("utf-8")).hexdigest()
OFFICIAL_MODEL = "gpt-3.5-turbo-0613"  # retired by OpenAI; any chat model can be configured
TEMPERATURE = 0.2
MAX_TOKENS = 512
MAX_ATTEMPTS = 100  # the official fail_limit
NOUN_TAGS = ("NN", "NNS", "NNP", "NNPS")

Analyse = Callable[[str], Sequence[tuple[str, str]]]  # text → [(lemma, fine-grained tag), ...]


def needs_call(answer: str) -> bool:
    """False for answers of 3 or fewer whitespace tokens (no call, no objects)."""
    return len(answer.strip().split()) > 3


def extraction_request(
    key: str,
    question: str,
    answer: str,
    *,
    run_index: int = 0,
    attempt: int = 0,
    temperature: float = TEMPERATURE,
    max_tokens: int = MAX_TOKENS,
) -> JudgeRequest:
    prompt = EXTRACTION_PROMPT.replace("{question}", question).replace("{answer}", answer)
    return JudgeRequest(
        key=key,
        messages=(("system", prompt),),
        temperature=temperature,
        max_tokens=max_tokens,
        run_index=run_index,
        attempt=attempt,
    )


def parse_object_list(text: str) -> list[str] | None:
    """The official reply parsing; None when unparseable (the official code then asks again).

    A parsed JSON string is iterated character by character and an object by its keys, as the
    official loop over the parsed value does; numbers, booleans and null are unparseable (the
    official loop would crash on them).
    """
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        if '["' not in text:
            return None
        try:
            value = json.loads(text.strip().split("\n")[-1])
        except json.JSONDecodeError:
            return None
    if isinstance(value, (list, str, dict)):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    return None


def refine_objects(objects: Sequence[str], vocab: CocoVocabulary, analyse: Analyse) -> list[str]:
    """Step 4–5 before the vocabulary filter: the candidate object names, de-duplicated."""
    refined: list[str] = []
    for text in objects:
        tokens = list(analyse(f"a {text}"))
        lemmas = [lemma for lemma, _ in tokens]
        pairs = _double_words_only(lemmas, vocab)
        if pairs:
            refined.extend(pairs)
            continue
        run: list[str] = []
        for lemma, tag in tokens:
            if tag in NOUN_TAGS:
                run.append(lemma)
            elif run:
                refined.append(" ".join(run))
                run = []
        if run:
            refined.append(" ".join(run))
    unique: list[str] = []
    for obj in refined:
        if obj not in unique:
            unique.append(obj)
    return unique


def _double_words_only(lemmas: Sequence[str], vocab: CocoVocabulary) -> list[str]:
    found: list[str] = []
    i = 0
    while i < len(lemmas):
        pair = " ".join(lemmas[i : i + 2])
        if pair in vocab.double_words:
            found.append(vocab.double_words[pair])
            i += 2
        else:
            i += 1
    return found


def spacy_analyser(model: str) -> Analyse:
    """spaCy's lemmas and fine-grained tags with ``model`` (official: en_core_web_trf)."""
    try:
        import spacy  # type: ignore[import-not-found]
    except ImportError:
        raise HarnessError(
            "objhal extraction='llm' needs spaCy: pip install 'self-evolution-harness[spacy]' "
            f"and the model {model!r} (python -m spacy download {model})"
        ) from None
    try:
        nlp = spacy.load(model)
    except OSError as exc:
        raise HarnessError(
            f"objhal extraction='llm': spaCy model {model!r} is not installed (python -m spacy download {model}): {exc}"
        ) from None

    def analyse(text: str) -> list[tuple[str, str]]:
        return [(token.lemma_, token.tag_) for token in nlp(text)]

    return analyse
