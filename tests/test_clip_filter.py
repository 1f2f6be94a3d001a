"""The judge-free method: mixing decoding, golden prompts, the CLIP reversal rule, bad options, a tiny run."""

from __future__ import annotations

import dataclasses

import pytest

import methods.clip_filter as clip_filter_plugin
import methods.clip_filter.method as cf
import methods.clip_filter.mixing as mixing
from harness.atomic import write_json, write_jsonl
from harness.backends.base import GenerationRequest
from harness.backends.hf import HFBackend
from harness.clip_score import TextScore
from harness.errors import HarnessError
from harness.images.synthetic import make_scene
from harness.method import build_config
from harness.plugins import registry
from harness.policy.templates import get_template
from tests.method_fakes import ScriptedBackend, synthetic_context, synthetic_refs

SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)


class FakeScorer:
    """Scores by a lookup table on the text; records what it was asked."""

    name = "fake"

    def __init__(self, table: dict[str, float]):
        self.table = table
        self.calls = []

    def score(self, images, texts, *, image_index=None, aggregate="mean"):
        self.calls.append((len(images), list(texts), list(image_index), aggregate))
        return [TextScore(self.table[t], [self.table[t] / 2.5]) for t in texts]


def scripted_run(monkeypatch, positives, negatives, table, **overrides):
    """Run synthesize with scripted positives/negatives (mixing replaced) and a fake CLIP."""
    backend = ScriptedBackend(lambda r, i: positives[i])
    backend.policy = object()
    seen = {}

    def fake_mixed(policy, images, prompts, ratios, *, max_new_tokens, batch_size, rule="probability"):
        calls = seen.setdefault("calls", [])
        pos_mixed = bool(overrides.get("pos_h_mean") or overrides.get("pos_h_std"))
        texts = positives if pos_mixed and not calls else negatives  # both sides mixed: positives first
        calls.append({"ratios": list(ratios), "rule": rule})
        seen.update(prompts=list(prompts), ratios=list(ratios), max_new_tokens=max_new_tokens, rule=rule)
        return [mixing.MixedOutput(t, 3) for t in texts]

    monkeypatch.setattr(cf, "policy_of", lambda b: b.policy)
    monkeypatch.setattr(cf, "mixed_generate", fake_mixed)
    scorer = FakeScorer(table)
    method = cf.ClipFilter(dataclasses.replace(cf.ClipFilterConfig(), **overrides), scorer=scorer)
    out = method.synthesize(backend, synthetic_refs(len(positives)), synthetic_context())
    return out, backend, seen, scorer


def test_registered_through_the_plugin_hook():
    reg = registry(entry_points=False, extra=[clip_filter_plugin])
    assert reg.method("clip_filter") is cf.ClipFilter
    assert cf.describe_detail_task in reg.warmup_tasks


def test_golden_prompt_and_one_batched_call_per_step(monkeypatch):
    pos = ["There is a red circle.", "There is a blue square."]
    neg = ["There is a green circle.", "There is a yellow square."]
    table = {pos[0]: 0.9, pos[1]: 0.8, neg[0]: 0.5, neg[1]: 0.4}
    out, backend, seen, scorer = scripted_run(monkeypatch, pos, neg, table)
    assert len(backend.calls) == 1 and len(scorer.calls) == 1
    assert [r.prompt for r in backend.calls[0]] == ["Describe the following image in detail."] * 2
    assert all(r.noise_step is None and r.with_image and r.max_new_tokens == 512 for r in backend.calls[0])
    assert seen["prompts"] == ["Describe the following image in detail."] * 2
    tpl = get_template("llava_v1")
    assert (
        tpl.render(cf.DESCRIBE_PROMPT) == f"{SYSTEM} USER: <image>\nDescribe the following image in detail. ASSISTANT:"
    )
    assert tpl.render(cf.DESCRIBE_PROMPT, with_image=False) == (
        f"{SYSTEM} USER: Describe the following image in detail. ASSISTANT:"
    )
    assert scorer.calls[0][2] == [0, 1, 0, 1]  # positives then negatives, each against its own image
    assert [(p.chosen, p.rejected, p.kind) for p in out.pairs] == [(pos[0], neg[0], "des"), (pos[1], neg[1], "des")]
    assert out.counts == {"images": 2, "generated": 2, "valid_text": 2, "not_equal": 2, "verified": 2}


def test_filters_and_reversal_on_crafted_examples(monkeypatch):
    pos = ["", "Same.", "There is a red circle.", "There is a blue square.", "A tie."]
    neg = [
        "There is a circle.",
        "Same.",
        "There is a green circle.",
        "There is a blue square and a red circle.",
        "Another tie.",
    ]
    table = {pos[2]: 0.9, neg[2]: 0.3, pos[3]: 0.2, neg[3]: 0.7, pos[4]: 0.5, neg[4]: 0.5}
    out, _, _, _ = scripted_run(monkeypatch, pos, neg, table)
    assert out.counts == {"images": 5, "generated": 5, "valid_text": 4, "not_equal": 3, "verified": 3}
    pairs = {p.image: p for p in out.pairs}
    ids = [r.id for r in synthetic_refs(5)]
    assert (pairs[ids[2]].chosen, pairs[ids[2]].provenance["reversed"]) == (pos[2], False)
    assert (pairs[ids[3]].chosen, pairs[ids[3]].rejected, pairs[ids[3]].provenance["reversed"]) == (
        neg[3],
        pos[3],
        True,
    )
    assert pairs[ids[4]].chosen == pos[4]  # a tie keeps the pair as generated
    assert out.stats["reversed"] == 1
    dropped, _, _, _ = scripted_run(monkeypatch, pos, neg, table, reverse_or_drop="drop")
    assert dropped.counts["verified"] == 2 and dropped.stats["dropped_by_clip"] == 1
    assert ids[3] not in {p.image for p in dropped.pairs}


def test_ratios_are_gaussian_clipped_and_seeded():
    draws = [cf.draw_ratio(0.5, 0.2, 0, 0, f"img{i}") for i in range(2000)]
    assert draws == [cf.draw_ratio(0.5, 0.2, 0, 0, f"img{i}") for i in range(2000)]
    assert all(0.0 <= h <= 1.0 for h in draws)
    assert abs(sum(draws) / len(draws) - 0.5) < 0.02
    extreme = [cf.draw_ratio(0.9, 0.3, 1, 0, f"img{i}") for i in range(500)]
    assert max(extreme) == 1.0 and min(extreme) >= 0.0


@pytest.mark.parametrize(
    "override, needle",
    [
        ("h_mean=1.5", "numbers in 0-1"),
        ("h_std=-0.1", "numbers in 0-1"),
        ("reverse_or_drop=flip", "reverse, drop"),
        ("aggregate=median", "mean, min"),
        ("max_new_tokens=0", "≥ 1"),
        ("beta=0.2", "accepted: "),
        ("mixing=switch", "probability, logit"),
        ("pos_h_mean=2", "numbers in 0-1"),
    ],
)
def test_bad_options_list_what_is_accepted(override, needle):
    with pytest.raises(HarnessError, match=needle):
        build_config(cf.ClipFilter, [override])


def test_open_choices_are_options_with_a_variant_for_the_other_reading(monkeypatch):
    pos = ["There is a red circle.", "There is a blue square."]
    neg = ["There is a green circle.", "There is a yellow square."]
    table = {pos[0]: 0.9, pos[1]: 0.8, neg[0]: 0.5, neg[1]: 0.4}
    # the project's reading: only the negative is mixed (probability mixture); the positive is plain greedy
    out, backend, seen, _ = scripted_run(monkeypatch, pos, neg, table)
    assert len(backend.calls) == 1 and len(seen["calls"]) == 1 and seen["rule"] == "probability"
    assert all(p.provenance["h_ratio_positive"] == 0.0 for p in out.pairs)
    # the other readings: both answers mixed at different levels; logit interpolation
    both = build_config(cf.ClipFilter, variant="both_mixed")
    assert (both.pos_h_mean, both.pos_h_std, both.h_mean) == (0.1, 0.05, 0.6)
    out, backend, seen, _ = scripted_run(
        monkeypatch, pos, neg, table, **{k: getattr(both, k) for k in ("pos_h_mean", "pos_h_std", "h_mean", "h_std")}
    )
    assert backend.calls == [] and len(seen["calls"]) == 2  # positives and negatives both through the mixer
    pos_h, neg_h = seen["calls"][0]["ratios"], seen["calls"][1]["ratios"]
    assert all(0.0 <= h <= 1.0 for h in pos_h + neg_h) and sum(pos_h) < sum(neg_h)
    assert [p.provenance["h_ratio_positive"] for p in out.pairs] == [round(h, 6) for h in pos_h]
    assert build_config(cf.ClipFilter, variant="logit_mix").mixing == "logit"
    _, _, seen, _ = scripted_run(monkeypatch, pos, neg, table, mixing="logit")
    assert seen["rule"] == "logit"


def test_verifier_is_the_real_clip_at_real_scale_and_tiny_only_for_the_tiny_model():
    method = cf.ClipFilter()
    assert method.config.clip_model == "auto"
    assert method.clip_spec(synthetic_context()) == "tiny"  # θ0 = the built-in tiny model
    real = dataclasses.replace(
        synthetic_context(), checkpoint="runs/x/iter1/checkpoint", base_model="ckpt/llava-1.5-7b-hf"
    )
    assert method.clip_spec(real) == cf.DEFAULT_CLIP == "openai/clip-vit-large-patch14-336"
    chosen = cf.ClipFilter(build_config(cf.ClipFilter, ["clip_model=ckpt/my-clip"]))
    assert chosen.clip_spec(real) == "ckpt/my-clip"


def test_an_unloadable_verifier_names_the_option(monkeypatch, tmp_path):
    from harness.clip_score import ClipScorer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    with pytest.raises(HarnessError) as err:
        ClipScorer.load("openai/clip-vit-large-patch14-336")
    message = str(err.value)
    assert message.startswith("clip_model=openai/clip-vit-large-patch14-336: ")
    assert "offline" in message and "--set clip_model=" in message
    with pytest.raises(HarnessError, match="clip_model=.*no config.json"):
        ClipScorer.load(tmp_path)


def test_backend_without_a_policy_is_refused():
    backend = ScriptedBackend(lambda r, i: "x")
    with pytest.raises(HarnessError, match="'hf' backend"):
        cf.ClipFilter(scorer=FakeScorer({})).synthesize(backend, synthetic_refs(2), synthetic_context())
    assert backend.calls == []  # refused before generating anything


def test_mixing_ends_equal_plain_decoding_and_batching_is_invariant(tiny_policy):
    images = [make_scene("mix-test", i).render() for i in range(5)]
    prompts = [
        cf.DESCRIBE_PROMPT,
        "Describe the image.",
        "What is in the image?",
        cf.DESCRIBE_PROMPT,
        "Describe the image.",
    ]
    backend = HFBackend(tiny_policy, batch_size=4, progress=False)
    with_image = backend.generate([GenerationRequest(im, p, max_new_tokens=16) for im, p in zip(images, prompts)])
    without = backend.generate([GenerationRequest(None, p, max_new_tokens=16, with_image=False) for p in prompts])
    h0 = mixing.mixed_generate(tiny_policy, images, prompts, [0.0] * 5, max_new_tokens=16, batch_size=4)
    h1 = mixing.mixed_generate(tiny_policy, images, prompts, [1.0] * 5, max_new_tokens=16, batch_size=4)
    assert [o.text for o in h0] == with_image
    assert [o.text for o in h1] == without
    for h, expected in ((0.0, with_image), (1.0, without)):  # the logit rule has the same two ends
        ends = mixing.mixed_generate(tiny_policy, images[:2], prompts[:2], [h] * 2, max_new_tokens=16, rule="logit")
        assert [o.text for o in ends] == expected[:2]
    ratios = [0.3, 0.5, 0.7, 0.45, 0.6]
    batched = mixing.mixed_generate(tiny_policy, images, prompts, ratios, max_new_tokens=16, batch_size=4)
    single = mixing.mixed_generate(tiny_policy, images, prompts, ratios, max_new_tokens=16, batch_size=1)
    assert batched == single
    assert all(1 <= o.tokens <= 16 for o in batched)
    with pytest.raises(HarnessError, match="0-1"):
        mixing.mixed_generate(tiny_policy, images[:1], prompts[:1], [1.2])


def test_tiny_model_run_writes_identical_pairs(tiny_policy, cache_root, tmp_path):
    cfg = dataclasses.replace(cf.ClipFilterConfig(), max_new_tokens=24)
    refs = synthetic_refs(16)
    for run in range(2):
        result = cf.ClipFilter(cfg).synthesize(HFBackend(tiny_policy, progress=False), refs, synthetic_context(seed=5))
        write_jsonl(tmp_path / f"pairs{run}.jsonl", [p.to_dict() for p in result.pairs])
        write_json(tmp_path / f"stats{run}.json", {"counts": result.counts, "stats": result.stats})
    assert (tmp_path / "pairs0.jsonl").read_bytes() == (tmp_path / "pairs1.jsonl").read_bytes()
    c = result.counts
    assert c["images"] == c["generated"] == 16
    assert c["verified"] == len(result.pairs) <= c["not_equal"] <= c["valid_text"] <= 16
    # positives and mixed negatives, plus one CLIP scoring call whenever a pair survives the text filters
    assert result.stats["generation_calls"] == (3 if c["not_equal"] else 2)
    assert result.stats["steps"]["clip_score"]["clip_model"] == "tiny"
    for p in result.pairs:
        prov = p.provenance
        assert 0.0 <= prov["h_ratio"] <= 1.0 and prov["checkpoint"] == "tiny"
        hi, lo = (
            (prov["clip_negative"], prov["clip_positive"])
            if prov["reversed"]
            else (prov["clip_positive"], prov["clip_negative"])
        )
        assert hi >= lo
