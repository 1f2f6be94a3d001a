"""SENA: verbatim prompts as rendered, the release's filters, the ablation switches, bad input, and a
real run on the tiny model (deterministic pairs.jsonl).

The repeated-text filter runs here with NLTK's untrained Punkt (no punkt_tab data offline), see
methods/sena/filters.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pytest

import methods.sena as sena_plugin
import methods.sena.method as sena
import methods.sena.prompts as P
from harness.atomic import write_jsonl
from harness.backends.base import Backend, GenerationRequest
from harness.errors import HarnessError
from harness.images.sources import SyntheticSource
from harness.method import SynthesisContext, build_config
from harness.plugins import registry
from harness.policy.templates import get_template
from methods.sena.filters import (
    Candidate,
    extract_questions,
    filter_pairs,
    has_repeated_text,
    make_splitter,
    mostly_non_text,
)
from methods.sena.method import SenaConfig, SenaMethod

HEAD = (
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the human's questions. USER: "
)


# ------------------------------------------------------------------ a scripted, recording backend


class ScriptedBackend(Backend):
    """Records every generate() call and answers each request with ``script(request)``."""

    name = "scripted"
    description = "test backend"

    def __init__(self, script: Callable[[GenerationRequest], object]):
        self.script = script
        self.calls: list[tuple[str, list[GenerationRequest]]] = []

    def generate(self, requests: Sequence[GenerationRequest], *, desc: str = "generating") -> list[str]:
        self.calls.append((desc, list(requests)))
        return [self.script(r) for r in requests]  # type: ignore[misc]


def shape_script(r: GenerationRequest) -> str:
    """Plausible SENA outputs; noised answers differ from clean ones."""
    p = r.prompt
    if p == P.P_BASE:
        return "What color is the circle?"
    if p.startswith("Given an image, we try"):
        return "QUESTION: What color is the circle?"
    if p.startswith("Given the image, the description"):
        return "Improved Answer: " + (
            "There is a red circle on a white background." if P.SUFFIX_DES in p else "Red circle"
        )
    if p.endswith(P.SUFFIX_DES):
        return "A gray blur." if r.noise_step is not None else "There is a red circle."
    if p.endswith(P.SUFFIX_GEN):
        return "Blue" if r.noise_step is not None else "Red"
    raise AssertionError(f"unexpected prompt {p!r}")


def ctx(seed: int = 7) -> SynthesisContext:
    src = SyntheticSource("sena-test", 100)
    return SynthesisContext(seed=seed, iteration=1, checkpoint="ckpt-0", open_image=src.open, progress=False)


def refs(n: int):
    return list(SyntheticSource("sena-test", 100).refs()[:n])


def run(config: SenaConfig, script=shape_script, n: int = 3, seed: int = 7):
    backend = ScriptedBackend(script)
    result = SenaMethod(config).synthesize(backend, refs(n), ctx(seed))
    return backend, result


def render(r: GenerationRequest) -> str:
    return get_template("llava_v1").render(r.prompt, with_image=r.with_image)


def step_requests(backend: ScriptedBackend) -> dict[str, list[tuple]]:
    """desc -> comparable request tuples."""
    return {
        desc: [(r.prompt, r.noise_step, r.seed, r.with_image, r.max_new_tokens) for r in reqs]
        for desc, reqs in backend.calls
    }


# ------------------------------------------------------------------ golden prompts


def test_rendered_prompts_of_every_step_equal_the_spec():
    backend, result = run(SenaConfig(), n=1)
    by = {desc: reqs for desc, reqs in backend.calls}
    assert list(by) == [
        "sena: questions (p_base)",
        "sena: self-questioning (p_sq)",
        "sena: answers (clean image)",
        "sena: answers (noised, t=600)",
        "sena: self-enhancement (p_se)",
    ]
    assert [render(r) for r in by["sena: questions (p_base)"]] == [
        HEAD
        + "<image>\nPlease look at the image and generate a question related to the content of the image. ASSISTANT:"
    ]
    sq_body = (
        "Given an image, we try to ask a QUESTION about the image. Your task is to check whether this QUESTION "
        "can be answered based on the content of the image.\nQUESTION: What color is the circle?\n"
        "(1) If you can answer the QUESTION, please do not modify it. Output QUESTION directly.\n"
        "(2) If you cannot answer the QUESTION, please ask a new Question that depends on the content of the image.\n"
        "Your answer should be in the following format:\nQUESTION:"
    )
    # paper: with the image, through the official first-message path (strip() drops the final newline)
    (sq,) = by["sena: self-questioning (p_sq)"]
    assert render(sq) == HEAD + "<image>\n" + sq_body + " ASSISTANT:"
    assert sq.with_image and sq.image is not None and sq.max_new_tokens == 1024
    clean = by["sena: answers (clean image)"]
    des_prompt = clean[0].prompt.split("\n")[0]
    assert des_prompt in P.P_DES
    assert [render(r) for r in clean] == [
        HEAD
        + "<image>\n"
        + des_prompt
        + "\nLook at the image and answer the question in one short sentence. ASSISTANT:",
        HEAD + "<image>\nWhat color is the circle?\nLook at the image and answer the question using a single word or "
        "phrase. ASSISTANT:",
    ]
    assert all(r.noise_step is None and r.max_new_tokens == 512 for r in clean)
    noised = by["sena: answers (noised, t=600)"]
    assert [r.prompt for r in noised] == [r.prompt for r in clean]
    assert [r.noise_step for r in noised] == [600, 600]
    assert noised[0].seed != noised[1].seed  # an independent draw per generation, as in the official code
    se_head = (
        "Given the image, the description of the image, a question about the image and the answer, your task is "
        "to improve the quality of the answer.\n"
    )
    se_tail = (
        "Based on the information provided in the Image Description, please analyze the question further and "
        "generate a more precise and concise response.\nYour answer should be formatted as:\nImproved Answer:\n"
        " ASSISTANT:"
    )
    assert [render(r) for r in by["sena: self-enhancement (p_se)"]] == [
        HEAD
        + "<image>\n"
        + se_head
        + "Image Description: There is a red circle.\nQuestion: "
        + des_prompt
        + "\nLook at the image and answer the question in one short sentence.\nCurrent Answer: There is a red circle.\n"
        + se_tail,
        HEAD
        + "<image>\n"
        + se_head
        + "Image Description: There is a red circle.\nQuestion: What color is the circle?\n"
        "Look at the image and answer the question using a single word or phrase.\nCurrent Answer: Red\n" + se_tail,
    ]
    assert all(r.noise_step is None for r in by["sena: self-enhancement (p_se)"])
    assert [(p.kind, p.chosen, p.rejected) for p in result.pairs] == [
        ("des", "There is a red circle on a white background.", "A gray blur."),
        ("gen", "Red circle", "Blue"),
    ]


def test_release_option_runs_the_text_only_check_with_its_trailing_newline():
    backend, _ = run(SenaConfig(sq_with_image=False), n=1)
    (sq,) = dict(backend.calls)["sena: self-questioning (p_sq)"]
    assert not sq.with_image and sq.image is None
    assert render(sq).startswith(HEAD + "Given an image, we try to ask a QUESTION")
    assert render(sq).endswith("Your answer should be in the following format:\nQUESTION:\n ASSISTANT:")


def test_no_description_form_when_the_description_is_yes():
    def script(r):
        if r.prompt.endswith(P.SUFFIX_DES) and r.noise_step is None:
            return "Yes"
        return shape_script(r)

    backend, _ = run(SenaConfig(), script=script, n=1)
    se = dict(backend.calls)["sena: self-enhancement (p_se)"]
    no_des_head = (
        "Given the image, the description of the image, a question about the image and the answer, your task "
        "is to improve the quality of the answer using a single word or phrase.\nQuestion: "
    )
    assert se[1].prompt == (
        no_des_head + "What color is the circle?\nLook at the image and answer the question using a "
        "single word or phrase.\nCurrent Answer: Red\nPlease analyze the question further and "
        "generate a more precise and concise response.\nYour answer should be formatted as:\n"
        "Improved Answer:\n"
    )
    assert se[0].prompt.startswith(no_des_head)  # the des record has "Yes" as its description too


def _spec_blocks(text: str) -> list[str]:
    return re.findall(r"```\n(.*?)\n```", text, flags=re.S)


def test_prompt_constants_match_the_spec_text(shared_dir):
    spec = (shared_dir / "spec" / "methods.md").read_text(encoding="utf-8")
    section = spec.split("### 3.3 Verbatim prompts", 1)[1].split("### 3.4", 1)[0]
    blocks = _spec_blocks(section)
    assert blocks[0] == P.P_BASE
    assert blocks[1] + "\n" == P.P_SQ  # the spec: "ends with a newline after QUESTION:"
    assert tuple(blocks[2].split("\n")) == P.P_DES
    assert blocks[3] + "\n" == P.P_SE
    assert blocks[4] + "\n" == P.P_SE_NO_DES
    assert "`\\nLook at the image and answer the question in one short sentence.`" in section
    assert P.SUFFIX_DES == "\n" + "Look at the image and answer the question in one short sentence."
    assert "`\\nLook at the image and answer the question using a single word or phrase.`" in section
    assert P.SUFFIX_GEN == "\n" + "Look at the image and answer the question using a single word or phrase."


# ------------------------------------------------------------------ filters on crafted strings


@pytest.mark.parametrize(
    "output,questions,reason",
    [
        ("QUESTION: What color is the circle?", ["What color is the circle?"], None),
        ("QUESTION:\nIs it red? QUESTION: Is it blue? It is blue.", ["QUESTION:\nIs it red?", "Is it blue?"], None),
        ("The circle is red.", [], "no_question_mark"),
        ("What is the name of the dog?", [], "name"),
        ("Who is named Bob?", [], "name"),  # case-sensitive substring: "named" matches too
        ("What is the Name?", ["What is the Name?"], None),
        ("Is a?b true", [], "no_question_sentence"),
        ("", [], "no_question_mark"),
    ],
)
def test_question_extraction(output, questions, reason):
    assert extract_questions(output) == (questions, reason)


def test_repeated_text_and_non_text_rules():
    sp = make_splitter("fallback")
    assert has_repeated_text("A red circle. A red circle.", sp)
    assert not has_repeated_text("A red circle. A blue square.", sp)
    assert has_repeated_text(" ".join(["red"] * 31), sp)  # a token more than 30 times
    assert not has_repeated_text(" ".join(["red"] * 30), sp)
    assert mostly_non_text("") and mostly_non_text("a   b") and mostly_non_text("!!!a")
    assert not mostly_non_text("a  b")  # exactly half is not "more than half"
    assert not mostly_non_text("Red")


def test_each_pair_filter_counts_what_it_drops_in_the_official_order():
    sp = make_splitter("fallback")
    cands = [
        Candidate("What is its name?\nsuffix", "Red", "Blue", "gen"),  # question contains "name"
        Candidate("q", "Red. Red.", "Blue", "gen"),  # chosen repeats a sentence
        Candidate("q", "Red", " ".join(["x"] * 31), "gen"),  # rejected repeats a token > 30 times
        Candidate("q", "Red", "", "gen"),  # empty answer
        Candidate("q", "Red", "Red", "gen"),  # identical
        Candidate("q", "Yes", "Blue", "gen"),  # exact Yes
        Candidate("q", "A red circle", "Red", "gen"),  # lower-cased rejected inside chosen
        Candidate("q", "The Red circle", "red", "gen"),  # kept: chosen is not lower-cased (quirk)
        Candidate("q", "Yes.", "No.", "gen"),  # kept: "Yes." is not exactly "Yes"
        Candidate("q", "A red\ncircle.</s>", "Blue", "des"),  # kept, cleaned
    ]
    kept, counts = filter_pairs(cands, sp)
    assert counts == {
        "filter.question_without_name": 9,
        "filter.chosen_not_repetitive": 8,
        "filter.rejected_not_repetitive": 7,
        "filter.mostly_text": 6,
        "filter.answers_differ": 5,
        "filter.not_yes_no": 4,
        "filter.rejected_not_in_chosen": 3,
    }
    assert [(c, r) for _, c, r in kept] == [("The Red circle", "red"), ("Yes.", "No."), ("A redcircle.", "Blue")]


# ------------------------------------------------------------------ switches change exactly their step


def _without(d: dict, key: str) -> dict:
    return {k: v for k, v in d.items() if k != key}


def test_sq_off_skips_only_the_check():
    full, r_full = run(SenaConfig())
    off, r_off = run(SenaConfig(sq=False))
    assert step_requests(off) == _without(step_requests(full), "sena: self-questioning (p_sq)")
    assert [p.to_dict() | {"provenance": None} for p in r_off.pairs] == [
        p.to_dict() | {"provenance": None} for p in r_full.pairs
    ]


def test_sq_off_takes_questions_from_p_base():
    def script(r):
        if r.prompt == P.P_BASE:
            return "Is the circle big? What color is the circle?"
        return shape_script(r)

    backend, result = run(SenaConfig(sq=False), script=script, n=1)
    assert [r.prompt for r in dict(backend.calls)["sena: answers (clean image)"]][1::2] == [
        "Is the circle big?" + P.SUFFIX_GEN,
        "What color is the circle?" + P.SUFFIX_GEN,
    ]
    assert result.counts["questions"] == 2


def test_se_off_skips_only_the_enhancement():
    full, r_full = run(SenaConfig())
    off, r_off = run(SenaConfig(se=False))
    assert step_requests(off) == _without(step_requests(full), "sena: self-enhancement (p_se)")
    assert [(p.kind, p.chosen) for p in r_off.pairs][:2] == [("des", "There is a red circle."), ("gen", "Red")]
    assert [p.provenance["self_enhanced"] for p in r_full.pairs] == [True] * len(r_full.pairs)


def test_ca_off_changes_only_the_objective():
    full, r_full = run(SenaConfig())
    off, r_off = run(SenaConfig(ca=False))
    assert step_requests(off) == step_requests(full)
    assert [p.to_dict() | {"provenance": None} for p in r_off.pairs] == [
        p.to_dict() | {"provenance": None} for p in r_full.pairs
    ]
    assert {p.kind for p in r_off.pairs} == {"des", "gen"}
    assert SenaMethod(SenaConfig()).objective().align_weight == 1.0
    off_obj = SenaMethod(SenaConfig(ca=False)).objective()
    assert (off_obj.beta, off_obj.align_weight, off_obj.align_norm) == (0.1, 0.0, "batch")


def test_sq_with_image_changes_only_the_check():
    full, _ = run(SenaConfig())
    rel, _ = run(SenaConfig(sq_with_image=False))
    a, b = step_requests(full), step_requests(rel)
    assert _without(a, "sena: self-questioning (p_sq)") == _without(b, "sena: self-questioning (p_sq)")
    assert a["sena: self-questioning (p_sq)"] != b["sena: self-questioning (p_sq)"]


def test_named_variants_are_the_papers_rows():
    """Table 1 adds each component alone to the baseline; Tables 2 and 3 vary which answers get SE / CA."""

    def switches(v):
        c = build_config(SenaMethod, variant=v)
        obj = SenaMethod(c).objective()
        return (
            c.sq,
            c.se and c.se_des,
            c.se and c.se_gen,
            obj.align_weight > 0 and "des" in obj.align_kinds,
            obj.align_weight > 0 and "gen" in obj.align_kinds,
        )

    # (SQ, SE on y_des, SE on y_gen, CA on y_des, CA on y_gen), as printed in the paper's tables
    rows = {
        "base": (False, False, False, False, False),  # θ1^Base
        "sq": (True, False, False, False, False),  # θ1^SQ = Base + SQ
        "se": (False, True, True, False, False),  # θ1^SE = Base + SE (Table 2: SE on both)
        "ca": (False, False, False, True, False),  # θ1^CA = Base + CA (Table 3: AL on y_des)
        "full": (True, True, True, True, False),  # θ1-θ3
        "se_des": (False, True, False, False, False),  # Table 2
        "se_gen": (False, False, True, False, False),
        "ca_gen": (False, False, False, False, True),  # Table 3
        "ca_both": (False, False, False, True, True),
    }
    for variant, expected in rows.items():
        assert switches(variant) == expected, variant
    defaults = SenaMethod(SenaConfig())
    assert (
        switches("full")
        == (True, True, True, True, False)
        == (defaults.config.sq, defaults.config.se_des, defaults.config.se_gen, True, False)
    )
    assert build_config(SenaMethod, variant="release").sq_with_image is False
    assert build_config(SenaMethod, ["se=false"], variant="full").se is False
    backend, _ = run(build_config(SenaMethod, variant="base"))
    assert [d for d, _ in backend.calls] == [
        "sena: questions (p_base)",
        "sena: answers (clean image)",
        "sena: answers (noised, t=600)",
    ]
    backend, _ = run(build_config(SenaMethod, variant="ca"))  # CA alone: the baseline's synthesis
    assert [d for d, _ in backend.calls] == [
        "sena: questions (p_base)",
        "sena: answers (clean image)",
        "sena: answers (noised, t=600)",
    ]
    backend, _ = run(build_config(SenaMethod, variant="se"))  # SE alone: no p_sq, p_se on both answers
    assert [d for d, _ in backend.calls] == [
        "sena: questions (p_base)",
        "sena: answers (clean image)",
        "sena: answers (noised, t=600)",
        "sena: self-enhancement (p_se)",
    ]


def test_table2_switches_choose_which_answers_are_enhanced():
    _, both = run(build_config(SenaMethod, variant="se"), n=2)
    for variant, enhanced_kind in (("se_des", "des"), ("se_gen", "gen")):
        backend, result = run(build_config(SenaMethod, variant=variant), n=2)
        se_reqs = dict(backend.calls)["sena: self-enhancement (p_se)"]
        suffix = P.SUFFIX_DES if enhanced_kind == "des" else P.SUFFIX_GEN
        assert len(se_reqs) == 2 and all(suffix + "\nCurrent Answer:" in r.prompt for r in se_reqs)
        for pair, ref in zip(result.pairs, both.pairs):
            assert pair.provenance["self_enhanced"] is (pair.kind == enhanced_kind)
            if pair.kind == enhanced_kind:
                assert pair.chosen == ref.chosen  # enhanced as with SE on both
            else:
                assert pair.chosen == {"des": "There is a red circle.", "gen": "Red"}[pair.kind]  # the clean answer
    with pytest.raises(HarnessError, match="se_des=false and se_gen=false"):
        build_config(SenaMethod, ["se_des=false", "se_gen=false"])


def test_table3_switches_choose_which_pairs_get_the_alignment_term(tiny_policy):
    """The objective's aligned kinds reach the training batch: the collator's per-pair alignment flags."""
    from harness.images.synthetic import make_scene
    from harness.train.collator import LlavaPairCollator

    examples = [
        {"image_ref": f"synthetic/t/{i}", "prompt": p, "chosen": c, "rejected": r, "kind": k}
        for i, (p, c, r, k) in enumerate(
            [
                ("Describe the image.", "A red circle.", "A blue square.", "des"),
                ("What color is it?", "Red", "Blue", "gen"),
                ("Describe the image.", "A circle.", "A square.", "des"),
            ]
        )
    ]
    flags = {}
    for variant in ("ca", "ca_gen", "ca_both", "base"):
        obj = SenaMethod(build_config(SenaMethod, variant=variant)).objective()
        collator = LlavaPairCollator(
            tiny_policy.processor,
            get_template("vicuna_v1"),
            lambda e: make_scene("t", int(e["image_ref"][-1])).render(),
            align_kinds=obj.align_kinds,
        )
        flags[variant] = (obj.align_weight, collator(examples)["is_des"].tolist())
    assert flags["ca"] == (1.0, [1.0, 0.0, 1.0])  # y_des only: the paper's method
    assert flags["ca_gen"] == (1.0, [0.0, 1.0, 0.0])
    assert flags["ca_both"] == (1.0, [1.0, 1.0, 1.0])
    assert flags["base"][0] == 0.0  # plain DPO
    # the synthesis is the baseline's in every Table 3 row: only the objective changes
    base, r_base = run(build_config(SenaMethod, variant="base"))
    for variant in ("ca", "ca_gen", "ca_both"):
        other, r_other = run(build_config(SenaMethod, variant=variant))
        assert step_requests(other) == step_requests(base)
        assert [(p.kind, p.chosen, p.rejected) for p in r_other.pairs] == [
            (p.kind, p.chosen, p.rejected) for p in r_base.pairs
        ]
    with pytest.raises(HarnessError, match="ca_des=false and ca_gen=false"):
        build_config(SenaMethod, ["ca_des=false"])


def test_sena_declares_its_image_plan_and_generation_estimate():
    plan = SenaMethod(SenaConfig()).image_plan(6000)
    assert dict(plan.quotas) == {"coco": 1200, "gqa": 1200, "ocr_vqa": 1200, "textvqa": 1200, "vg": 1200}
    assert SenaMethod(build_config(SenaMethod, ["image_sampling=uniform"])).image_plan(6000) is None
    assert SenaMethod(SenaConfig()).estimate_generations(10) == 10 * (1 + 1 + 4 + 2)
    assert SenaMethod(build_config(SenaMethod, variant="base")).estimate_generations(10) == 10 * 5


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "overrides,variant,message",
    [
        (
            ["bogus=1"],
            None,
            "accepted: ca, ca_des, ca_gen, image_sampling, max_new_tokens, noise_step, se, se_des, se_gen, "
            "splitter, sq, sq_max_new_tokens, sq_with_image",
        ),
        (["image_sampling=random"], None, "per_source, uniform"),
        (["noise_step=1000"], None, "0-999"),
        (["noise_step=-1"], None, "0-999"),
        (["noise_step=abc"], None, "expected an integer"),
        (["sq=maybe"], None, "expected true or false"),
        (["max_new_tokens=0"], None, "≥ 1"),
        (["splitter=spacy"], None, "auto, nltk, fallback"),
        ([], "nope", "variants: base, ca, ca_both, ca_gen, full, release, se, se_des, se_gen, sq"),
    ],
)
def test_bad_options_raise_a_clear_error(overrides, variant, message):
    with pytest.raises(HarnessError, match=re.escape(message)):
        build_config(SenaMethod, overrides, variant=variant)


def test_bad_config_object_is_refused():
    with pytest.raises(HarnessError, match="noise_step"):
        SenaMethod(SenaConfig(noise_step=600.0))  # type: ignore[arg-type]


@pytest.mark.parametrize("output", ["", None, "@@@ ??? ###", "?!?!?! ....", "\n\n\n", "<image><image>?"])
def test_empty_or_garbage_generations_are_filtered_and_counted(output):
    _, result = run(SenaConfig(), script=lambda r: output, n=4)
    assert result.pairs == []
    assert result.counts["images"] == 4
    values = list(result.counts.values())
    cut = list(result.counts).index("questions")
    for part in (values[:cut], values[cut + 1 :]):  # image counts, then candidate-pair counts, never grow
        assert part == sorted(part, reverse=True)
    assert result.counts["pairs"] == 0


def test_garbage_answers_after_good_questions_are_dropped_by_the_filters():
    def script(r):
        if r.prompt.endswith(P.SUFFIX_GEN) or r.prompt.endswith(P.SUFFIX_DES):
            return "" if r.noise_step is None else "%%%% ^^^^"
        return shape_script(r)

    _, result = run(SenaConfig(se=False), script=script, n=3)
    assert result.counts["candidates"] == 6
    assert result.counts["filter.mostly_text"] == 0 and result.counts["pairs"] == 0


def test_unreadable_image_is_skipped_and_counted():
    src = SyntheticSource("sena-test", 100)

    def open_image(ref):
        if ref.id.endswith("/1"):
            raise OSError("cannot identify image file")
        return src.open(ref)

    c = SynthesisContext(seed=1, iteration=1, checkpoint="ckpt", open_image=open_image, progress=False)
    backend = ScriptedBackend(shape_script)
    result = SenaMethod(SenaConfig()).synthesize(backend, refs(3), c)
    assert result.counts["images"] == 3 and result.counts["images.readable"] == 2
    assert list(result.stats["unreadable_images"]) == ["synthetic/sena-test/1"]


def test_counts_stats_and_batching_per_step():
    backend, result = run(SenaConfig(), n=5)
    assert [len(reqs) for _, reqs in backend.calls] == [5, 5, 10, 10, 10]  # one call per step, all images
    assert list(result.counts) == [
        "images",
        "images.readable",
        "questions.has_question_mark",
        "questions.without_name",
        "questions.has_question_sentence",
        "questions",
        "candidates",
        "filter.question_without_name",
        "filter.chosen_not_repetitive",
        "filter.rejected_not_repetitive",
        "filter.mostly_text",
        "filter.answers_differ",
        "filter.not_yes_no",
        "filter.rejected_not_in_chosen",
        "pairs",
    ]
    assert result.counts["pairs"] == len(result.pairs) == 10
    steps = result.stats["steps"]
    assert list(steps) == ["question", "self_questioning", "answer_clean", "answer_noised", "self_enhancement"]
    assert steps["answer_noised"]["generated_words"] == 5 * (3 + 1)
    assert result.stats["generation_calls"] == 5 and result.stats["generation_requests"] == 40
    assert result.stats["pairs_by_kind"] == {"des": 5, "gen": 5}
    prov = result.pairs[0].provenance
    assert (prov["checkpoint"], prov["seed"], prov["iteration"], prov["noise_step"]) == ("ckpt-0", 7, 1, 600)
    assert prov["config"] == SenaMethod(SenaConfig()).config_dict()


def test_seeded_choices_depend_on_the_seed_only():
    a, _ = run(SenaConfig(), n=8, seed=1)
    b, _ = run(SenaConfig(), n=8, seed=1)
    c, _ = run(SenaConfig(), n=8, seed=2)
    assert step_requests(a) == step_requests(b)
    noised = "sena: answers (noised, t=600)"
    assert step_requests(a)[noised] != step_requests(c)[noised]


# ------------------------------------------------------------------ plugin registration and warm-up formats


def test_registered_with_warmup_tasks_that_speak_sena():
    import random

    from harness.images.synthetic import make_scene

    reg = registry(entry_points=False, extra=[sena_plugin])
    assert reg.method("sena") is SenaMethod
    assert len(reg.warmup_tasks) == 4
    rng = random.Random(0)
    for i in range(30):
        scene = make_scene("sena-warmup-test", i)
        for task in reg.warmup_tasks:
            for ex in task(scene, rng):
                if ex.prompt == P.P_BASE:
                    assert ex.answer.endswith("?")
                elif ex.prompt.startswith("Given an image, we try"):
                    questions, reason = extract_questions(ex.answer)
                    assert (
                        reason is None
                        and len(questions) == 1
                        and ex.prompt.endswith("QUESTION:" if ex.with_image else "QUESTION:\n")
                    )
                elif ex.prompt.startswith("Given the image, the description"):
                    assert ex.answer.startswith("Improved Answer: ")
                    assert sena.parse_enhanced(ex.answer, "x")[1]
                elif ex.prompt.endswith(P.SUFFIX_DES):
                    assert ex.answer == scene.caption()
                else:
                    assert ex.prompt.endswith(P.SUFFIX_GEN) and ex.answer


# ------------------------------------------------------------------ a real run on the tiny model


@pytest.fixture(scope="module")
def sena_tiny_policy(cache_root):
    """The tiny model warmed up with every installed plugin's tasks and SENA's (the same model as
    ``tiny_policy`` once SENA is installed through its entry point)."""
    from harness.policy import load_policy
    from harness.policy.tiny import ensure_tiny

    installed = registry()
    tasks = list(installed.warmup_tasks)
    if "sena" not in installed.methods:
        tasks += registry(entry_points=False, extra=[sena_plugin]).warmup_tasks
    return load_policy(ensure_tiny(cache_root, extra_tasks=tasks, progress=False))


class CountingBackend(Backend):
    name = "counting"
    description = "wraps a backend and counts calls"

    def __init__(self, inner: Backend):
        self.inner, self.calls = inner, []

    def generate(self, requests, *, desc="generating"):
        self.calls.append(len(requests))
        return self.inner.generate(requests, desc=desc)


def test_tiny_model_run_writes_identical_pairs_for_the_same_seed(sena_tiny_policy, tmp_path):
    from harness.backends.hf import HFBackend

    config = build_config(SenaMethod, ["max_new_tokens=24", "sq_max_new_tokens=32"])
    outputs = []
    for k in range(2):
        backend = CountingBackend(HFBackend(sena_tiny_policy, batch_size=32, progress=False))
        c = SynthesisContext(
            seed=3, iteration=1, checkpoint="tiny", open_image=SyntheticSource("sena-tiny", 16).open, progress=False
        )
        result = SenaMethod(config).synthesize(backend, list(SyntheticSource("sena-tiny", 16).refs()), c)
        path = write_jsonl(tmp_path / f"pairs{k}.jsonl", [p.to_dict() for p in result.pairs])
        outputs.append((path.read_bytes(), result, backend.calls))
    (first, result, calls), (second, _, _) = outputs
    assert first == second
    assert calls[0] == 16 and len(calls) == len(result.stats["steps"])  # one batched call per step run
    assert result.counts["images"] == 16 and result.counts["pairs"] == len(result.pairs)
    assert result.counts["questions"] > 0  # the warmed-up tiny model speaks the p_base/p_sq formats
    assert all(s["calls"] == 1 for s in result.stats["steps"].values())
    assert result.stats["splitter"] in ("nltk-punkt", "fallback-untrained-punkt")
    for p in result.pairs:
        assert p.kind in ("des", "gen") and p.chosen and p.rejected and p.chosen != p.rejected
        assert p.prompt.endswith(P.SUFFIX_DES if p.kind == "des" else P.SUFFIX_GEN)
        assert p.provenance["checkpoint"] == "tiny"


def test_the_tiny_model_asks_well_formed_questions_about_the_scene(sena_tiny_policy):
    """SENA's self-questioning on the built-in model: p_base, then p_sq with the image (the paper's) keeps
    well-formed questions about the scene, and text-only (the release's) well-formed ones
    (docs/proving-ground.md: 99-100 % of 100 held-out scenes for the shipped model); the bounds leave room
    for models of other seeds."""
    import re

    from harness.backends.hf import HFBackend
    from harness.images.synthetic import COLORS, SHAPES, make_scene
    from methods.sena.filters import extract_questions
    from methods.sena.messages import first_image_message, sq_message

    well_formed = re.compile(r"^(What|Which|How|Is|Are|Where|Does|Do|Can)\b[^?]*\?$")

    def about(question: str, scene) -> bool:
        words = set(re.findall(r"[a-z]+", question.lower()))
        kinds, colours = {s.kind for s in scene.shapes}, {s.color for s in scene.shapes}
        return all(k in kinds for k in SHAPES if k in words) and all(c in colours for c in COLORS if c in words)

    scenes = [make_scene("train", 60_000 + i) for i in range(40)]
    images = [s.render() for s in scenes]
    backend = HFBackend(sena_tiny_policy, batch_size=40, progress=False)
    asked = backend.generate(
        [GenerationRequest(image=im, prompt=first_image_message(P.P_BASE), max_new_tokens=32) for im in images]
    )
    for with_image in (True, False):
        checked = backend.generate(
            [
                GenerationRequest(
                    image=im if with_image else None,
                    prompt=sq_message(q, with_image),
                    max_new_tokens=32,
                    with_image=with_image,
                )
                for im, q in zip(images, asked)
            ]
        )
        kept = [extract_questions(o)[0] for o in checked]
        formed = sum(bool(k) and all(well_formed.match(q) for q in k) for k in kept)
        assert formed >= 0.8 * len(scenes), (with_image, formed, checked[:5])
        if with_image:  # text-only, a model that does not copy the question asks blind (seed 1: 54 % about it)
            good = sum(bool(k) and all(well_formed.match(q) and about(q, s) for q in k) for k, s in zip(kept, scenes))
            assert good >= 0.65 * len(scenes), (good, checked[:5])  # shipped 99 %, seed 1 81 % (100 scenes)
        assert not any("QUESTION" in q for k in kept for q in k)
