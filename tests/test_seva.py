"""SeVa: golden prompts, the equality filter, seeded choices, bad options, and a real tiny-model run."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

import methods.seva as seva_plugin
import methods.seva.method as seva
from harness.atomic import write_json, write_jsonl
from harness.errors import HarnessError
from harness.images.sources import ImageRef
from harness.method import build_config
from harness.plugins import registry
from harness.policy.templates import get_template
from tests.method_fakes import ScriptedBackend, synthetic_context, synthetic_refs

SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)


def annotated_refs() -> list[ImageRef]:
    base = synthetic_refs(3)
    return [
        ImageRef(base[0].id, None, ("What is the title of this book?", "Who wrote this book?", "Is this a novel?")),
        ImageRef(base[1].id, None, ("What is written on the sign?",)),
        ImageRef(base[2].id, None, ()),
    ]


def test_registered_through_the_plugin_hook():
    reg = registry(entry_points=False, extra=[seva_plugin])
    assert reg.method("seva") is seva.Seva
    assert seva.seva_question_task in reg.warmup_tasks


def test_golden_prompts_annotations_clean_then_noised():
    backend = ScriptedBackend(lambda r, i: f"{'noisy' if r.noise_step else 'clean'} answer {i}")
    out = seva.Seva().synthesize(backend, annotated_refs(), synthetic_context())
    assert len(backend.calls) == 2  # stage-wise: one batched call per step, whatever the image count
    clean, noisy = backend.calls
    assert [r.noise_step for r in clean] == [None] * 3 and [r.noise_step for r in noisy] == [500] * 3
    assert [r.prompt for r in clean] == [r.prompt for r in noisy]
    assert "What is written on the sign?" in [r.prompt for r in clean]
    assert all(r.max_new_tokens == 512 and r.with_image for r in clean + noisy)
    rendered = get_template("llava_v1").render("What is written on the sign?")
    assert rendered == f"{SYSTEM} USER: <image>\nWhat is written on the sign? ASSISTANT:"
    assert out.counts == {
        "images": 3,
        "questions": 3,
        "questions_valid": 3,
        "answered": 3,
        "not_equal": 3,
        "valid_text": 3,
    }
    assert {p.kind for p in out.pairs} == {"qa"} and all(p.chosen.startswith("clean") for p in out.pairs)
    assert out.stats["generation_calls"] == 2 and out.stats["requests"] == 6


def test_self_generated_questions_use_p_base():
    backend = ScriptedBackend(
        lambda r, i: "What color is the circle?</s>" if r.prompt == seva.P_BASE else f"answer {r.noise_step} {i}"
    )
    refs = synthetic_refs(4)
    out = seva.Seva().synthesize(backend, refs, synthetic_context())
    assert len(backend.calls) == 3
    assert [r.prompt for r in backend.calls[0]] == [seva.P_BASE] * 4
    assert seva.P_BASE == "Please look at the image and generate a question related to the content of the image."
    assert get_template("llava_v1").render(seva.P_BASE) == (
        f"{SYSTEM} USER: <image>\nPlease look at the image and generate a question related to the content of "
        f"the image. ASSISTANT:"
    )
    assert [r.prompt for r in backend.calls[1]] == ["What color is the circle?"] * 4
    assert out.stats["question_source"] == "self" and len(out.pairs) == 4


def test_equality_filter_cleanup_and_garbage():
    answers = {  # (question, noise) -> text
        ("Q1", None): "Same answer.",
        ("Q1", 500): "Same answer.",  # exactly equal: dropped
        ("Q2", None): "A red\ncircle.</s>",
        ("Q2", 500): "A blue square.",  # kept, cleaned
        ("Q3", None): "",
        ("Q3", 500): "Something.",  # empty chosen: dropped
        ("Q4", None): "Text.",
        ("Q4", 500): "\ufffd\ufffd",  # garbage rejected: dropped
        ("Q5", None): "Yes\n",
        ("Q5", 500): "Yes",  # differ only by newline: kept (official order)
    }
    refs = [ImageRef(f"synthetic/method-test/{k}", None, (f"Q{k}",)) for k in range(1, 6)]
    backend = ScriptedBackend(lambda r, i: answers[(r.prompt, r.noise_step)])
    out = seva.Seva().synthesize(backend, refs, synthetic_context())
    assert out.counts["answered"] == 5 and out.counts["not_equal"] == 4 and out.counts["valid_text"] == 2
    by_q = {p.prompt: p for p in out.pairs}
    assert set(by_q) == {"Q2", "Q5"}
    assert by_q["Q2"].chosen == "A redcircle." and by_q["Q2"].rejected == "A blue square."
    assert by_q["Q5"].chosen == by_q["Q5"].rejected == "Yes"


def test_question_choice_is_seeded_and_capped_at_two():
    def prompts(seed):
        backend = ScriptedBackend(lambda r, i: f"a{r.noise_step}{i}")
        seva.Seva().synthesize(backend, annotated_refs(), synthetic_context(seed=seed))
        return [r.prompt for r in backend.calls[0]]

    first = prompts(0)
    assert first == prompts(0)
    book = [p for p in first if "book" in p or "novel" in p]
    assert len(book) == 2
    assert any(prompts(s) != first for s in range(1, 8))


def test_ocr_cleanup_only_for_ocr_vqa_images():
    q = "Who is the author of this book?\nAnswer the question using a single word or phrase."
    refs = [ImageRef("ocr_vqa/images/1.jpg", None, (q,)), ImageRef("textvqa/train_images/2.jpg", None, (q,))]
    backend = ScriptedBackend(lambda r, i: f"x{r.noise_step}")
    ctx = dataclasses.replace(synthetic_context(), open_image=lambda ref: Image.new("RGB", (8, 8)))
    seva.Seva().synthesize(backend, refs, ctx)
    got = {r.prompt for r in backend.calls[0]}
    assert got == {"Who is the author of this book?", q}


def test_noise_step_800_and_duplicate_option():
    cfg = build_config(seva.Seva, variant="t800")
    method = seva.Seva(cfg)
    # the release trains every pair twice in its one epoch (list_data_dict += data * 2)
    assert method.objective().duplicate == 2 == seva.Seva().objective().duplicate
    assert seva.Seva(build_config(seva.Seva, variant="no_dup")).objective().duplicate == 1
    backend = ScriptedBackend(lambda r, i: f"a{r.noise_step}")
    method.synthesize(backend, annotated_refs(), synthetic_context())
    assert {r.noise_step for r in backend.calls[1]} == {800}


@pytest.mark.parametrize(
    "override, needle",
    [
        ("noise_step=1000", "0-999"),
        ("noise_step=-1", "0-999"),
        ("question_source=web", "annotations, self"),
        ("max_new_tokens=0", "≥ 1"),
        ("temperature=0.7", "accepted: "),
    ],
)
def test_bad_options_list_what_is_accepted(override, needle):
    with pytest.raises(HarnessError, match=needle):
        build_config(seva.Seva, [override])


def test_annotations_required_but_absent():
    method = seva.Seva(dataclasses.replace(seva.SevaConfig(), question_source="annotations"))
    with pytest.raises(HarnessError, match="none of the 2 images"):
        method.synthesize(ScriptedBackend(lambda r, i: "x"), synthetic_refs(2), synthetic_context())


def test_tiny_model_run_writes_identical_pairs(tiny_policy, tmp_path):
    from harness.backends.hf import HFBackend

    cfg = dataclasses.replace(seva.SevaConfig(), max_new_tokens=24)
    refs = synthetic_refs(16)
    outputs = []
    for run in range(2):
        result = seva.Seva(cfg).synthesize(HFBackend(tiny_policy, progress=False), refs, synthetic_context(seed=3))
        write_jsonl(tmp_path / f"pairs{run}.jsonl", [p.to_dict() for p in result.pairs])
        write_json(tmp_path / f"stats{run}.json", {"counts": result.counts, "stats": result.stats})
        outputs.append(result)
    assert (tmp_path / "pairs0.jsonl").read_bytes() == (tmp_path / "pairs1.jsonl").read_bytes()
    res = outputs[0]
    assert res.counts["images"] == 16 and res.counts["questions"] == 16
    assert res.counts["valid_text"] == len(res.pairs) <= res.counts["not_equal"] <= res.counts["answered"]
    assert res.stats["generation_calls"] == 3 and res.stats["generated_tokens"] > 0
    for p in res.pairs:
        assert p.chosen != p.rejected and p.provenance["noise_step"] == 500 and p.provenance["checkpoint"] == "tiny"
