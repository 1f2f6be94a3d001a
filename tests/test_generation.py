"""Batched generation on the built-in tiny model."""

from harness.backends.base import GenerationRequest
from harness.backends.hf import HFBackend
from harness.backends.vllm import build_inputs, sampling_kwargs
from harness.images.synthetic import make_scene

PROMPTS = [
    "Describe the image.",
    "Is there a circle in this image?",
    "What color is the square?\nAnswer the question using a single word or phrase.",
    "How many shapes are in the image?\nAnswer the question using a single word or phrase.",
]


def _requests(n: int) -> list[GenerationRequest]:
    reqs = []
    for i in range(n):
        img = make_scene("gen-test", i).render()
        reqs.append(
            GenerationRequest(
                img, PROMPTS[i % len(PROMPTS)], noise_step=600 if i % 3 == 0 else None, max_new_tokens=12, seed=i
            )
        )
    return reqs


def test_batched_equals_one_at_a_time(tiny_policy):
    reqs = _requests(12)
    batched = HFBackend(tiny_policy, batch_size=8, progress=False).generate(reqs)
    single = HFBackend(tiny_policy, batch_size=1, progress=False).generate(reqs)
    assert batched == single
    assert all(isinstance(t, str) for t in batched)
    assert any(t for t in batched)


def test_text_only_requests_and_mixed_lengths(tiny_policy):
    img = make_scene("gen-test", 0).render()
    reqs = [
        GenerationRequest(None, "Describe the image.", with_image=False, max_new_tokens=5),
        GenerationRequest(img, "Describe the image.", max_new_tokens=20),
    ]
    out = HFBackend(tiny_policy, progress=False).generate(reqs)
    assert len(out) == 2 and len(out[0].split()) <= 5


def test_vllm_request_building_without_vllm(tiny_policy):
    reqs = _requests(3)
    inputs = build_inputs(tiny_policy, reqs)
    assert inputs[0]["prompt"].endswith("USER: <image>\nDescribe the image. ASSISTANT:")
    noisy, clean = inputs[0]["multi_modal_data"]["image"], inputs[1]["multi_modal_data"]["image"]
    side = tiny_policy.model.config.vision_config.image_size
    assert noisy.size == (side, side)  # resized to the tower's input before noising
    assert clean.size == (96, 96)  # clean images go as they are; vLLM preprocesses them
    assert build_inputs(tiny_policy, reqs)[0]["multi_modal_data"]["image"].tobytes() == noisy.tobytes()
    assert sampling_kwargs(reqs[0]) == {"temperature": 0.0, "max_tokens": 12}


def test_tiny_model_answers_depend_on_the_image(tiny_policy):
    """The built-in model must look at its images, if weakly: a model that gives one caption for every
    image makes clean and noised answers identical, so the noise-pair methods keep no pairs and the
    default run trains nothing (which a too-fast warm-up once produced)."""
    import re

    from harness.images.synthetic import COLORS

    scenes = [make_scene("shapes-bench", i) for i in range(24)]
    backend = HFBackend(tiny_policy, batch_size=24, progress=False)
    clean = backend.generate([GenerationRequest(s.render(), "Describe the image.", max_new_tokens=24) for s in scenes])
    noised = backend.generate(
        [
            GenerationRequest(s.render(), "Describe the image.", noise_step=800, seed=i, max_new_tokens=24)
            for i, s in enumerate(scenes)
        ]
    )
    assert len(set(clean)) >= 2
    assert sum(a != b for a, b in zip(clean, noised)) >= 3
    hits, chance, named = 0, 0.0, 0
    for text, scene in zip(clean, scenes):
        colours = {s.color for s in scene.shapes}
        for word in re.findall(r"[a-z]+", text.lower()):
            if word in COLORS:
                named += 1
                hits += word in colours
                chance += len(colours) / len(COLORS)
    assert named and hits / named > chance / named + 0.1  # named colours are in the scene more often than chance


def test_vllm_embeds_path_feeds_the_exact_noised_tensor(tiny_policy):
    """``vllm_embeds`` hands vLLM image embeddings of the unclipped noised tensor: spliced in place of the
    ``<image>`` tokens (what vLLM does with them), they give the hf backend's noised answers exactly."""
    import pytest
    import torch

    from harness.errors import HarnessError
    from harness.noise import add_noise
    from harness.policy.padding import expand_to_square

    reqs = _requests(6)
    inputs = build_inputs(tiny_policy, reqs, noise_input="embeds")
    pixels = build_inputs(tiny_policy, reqs)
    model, proc = tiny_policy.model, tiny_policy.processor
    hidden, n_tokens = model.config.text_config.hidden_size, model.config.image_seq_length
    expected = HFBackend(tiny_policy, batch_size=1, progress=False).generate(reqs)
    for r, inp, pix, want in zip(reqs, inputs, pixels, expected):
        image = inp["multi_modal_data"]["image"]
        if r.noise_step is None:  # clean images go as PIL images, as in the pixels path
            assert image.tobytes() == pix["multi_modal_data"]["image"].tobytes()
            continue
        assert isinstance(image, torch.Tensor) and image.shape == (1, n_tokens, hidden)
        enc = proc(
            images=[expand_to_square(r.image, tiny_policy.image_mean)], text=[inp["prompt"]], return_tensors="pt"
        )
        with torch.inference_mode():  # the features of the hf backend's tensor, noised with the request's seed

            def features(pixel_values):
                return model.get_image_features(
                    pixel_values=pixel_values, vision_feature_layer=-2, vision_feature_select_strategy="default"
                ).pooler_output[0]

            assert torch.equal(image[0], features(add_noise(enc["pixel_values"], r.noise_step, r.seed)))
            assert not torch.allclose(image[0], features(enc["pixel_values"]), atol=1e-3)
        ids = enc["input_ids"]
        mask = ids[0] == model.config.image_token_id
        with torch.inference_mode():
            embeds = model.get_input_embeddings()(ids)
            embeds[0, mask] = image[0].to(embeds.dtype)
            out = model.generate(
                inputs_embeds=embeds,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=r.max_new_tokens,
                do_sample=False,
                pad_token_id=proc.tokenizer.pad_token_id,
            )
        assert proc.tokenizer.decode(out[0], skip_special_tokens=True).strip() == want
    with pytest.raises(HarnessError, match="noise_input"):
        build_inputs(tiny_policy, reqs, noise_input="latents")
