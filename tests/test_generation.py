"""Batched generation on the built-in tiny model."""

from harness.backends.base import GenerationRequest
from harness.backends.hf import HFBackend
from harness.backends.vllm import build_inputs, sampling_kwargs
from harness.images.synthetic import make_scene

PROMPTS = ["Describe the image.", "Is there a circle in this image?",
           "What color is the square?\nAnswer the question using a single word or phrase.",
           "How many shapes are in the image?\nAnswer the question using a single word or phrase."]


def _requests(n: int) -> list[GenerationRequest]:
    reqs = []
    for i in range(n):
        img = make_scene("gen-test", i).render()
        reqs.append(GenerationRequest(img, PROMPTS[i % len(PROMPTS)], noise_step=600 if i % 3 == 0 else None,
                                      max_new_tokens=12, seed=i))
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
    reqs = [GenerationRequest(None, "Describe the image.", with_image=False, max_new_tokens=5),
            GenerationRequest(img, "Describe the image.", max_new_tokens=20)]
    out = HFBackend(tiny_policy, progress=False).generate(reqs)
    assert len(out) == 2 and len(out[0].split()) <= 5


def test_vllm_request_building_without_vllm(tiny_policy):
    reqs = _requests(3)
    inputs = build_inputs(tiny_policy, reqs)
    assert inputs[0]["prompt"].endswith("USER: <image>\nDescribe the image. ASSISTANT:")
    noisy, clean = inputs[0]["multi_modal_data"]["image"], inputs[1]["multi_modal_data"]["image"]
    assert noisy.size == (32, 32)  # resized to the tower's input before noising
    assert clean.size == (96, 96)  # clean images go as they are; vLLM preprocesses them
    assert build_inputs(tiny_policy, reqs)[0]["multi_modal_data"]["image"].tobytes() == noisy.tobytes()
    assert sampling_kwargs(reqs[0]) == {"temperature": 0.0, "max_tokens": 12}
