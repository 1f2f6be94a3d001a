"""The diffusion noise equals the official code's closed form (add_diffusion_noise)."""

import numpy as np
import pytest
import torch
from PIL import Image

from harness import noise
from harness.errors import HarnessError


def closed_form_alpha_bar(t: int) -> float:
    """The official schedule in float64: sigmoid(linspace(-6, 6, 1000)) * (5e-3 - 1e-5) + 1e-5."""
    betas = 1.0 / (1.0 + np.exp(-np.linspace(-6, 6, 1000))) * (5e-3 - 1e-5) + 1e-5
    return float(np.cumprod(1.0 - betas)[t])


@pytest.mark.parametrize("t", [500, 600, 800])
def test_noise_matches_closed_form(t):
    x = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(1))
    seed = 1234
    eps = noise.gaussian(tuple(x.shape), seed)
    ab = closed_form_alpha_bar(t)
    expected = np.sqrt(ab) * x.double().numpy() + np.sqrt(1 - ab) * eps.double().numpy()
    got = noise.add_noise(x, t, seed).double().numpy()
    assert np.abs(got - expected).max() < 1e-5


def test_coefficients_are_the_spec_table():
    # computed from the closed form: sqrt(alpha_bar) / sqrt(1 - alpha_bar)
    for t, (a, b) in {500: (0.863, 0.505), 600: (0.734, 0.679), 800: (0.467, 0.884), 999: (0.285, 0.959)}.items():
        got_a, got_b = noise.coefficients(t)
        assert round(got_a, 3) == a and round(got_b, 3) == b


def test_default_linear_schedule_would_differ():
    """Guard against the silent bug of the default DDPM schedule (sqrt(alpha_bar) = 0.16 at t=600)."""
    assert noise.coefficients(600)[0] > 0.7


def test_noise_is_seeded_per_request():
    x = torch.zeros(3, 4, 4)
    a = noise.add_noise(x, 600, seed=7)
    assert torch.equal(a, noise.add_noise(x, 600, seed=7))
    assert not torch.equal(a, noise.add_noise(x, 600, seed=8))


@pytest.mark.parametrize("t", [-1, 1000, 600.0, True])
def test_bad_steps_are_refused(t):
    with pytest.raises(HarnessError, match="0-999"):
        noise.add_noise(torch.zeros(3, 2, 2), t, 0)


def test_pixel_space_equivalent_matches_tensor_path_where_unclipped():
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    img = Image.new("RGB", (16, 16), (128, 120, 110))
    t, seed = 300, 5
    noisy = np.asarray(noise.noisy_pil_image(img, t, seed, mean, std), dtype=np.float64) / 255
    # tensor path: normalise, noise, de-normalise
    x = (np.asarray(img, dtype=np.float32) / 255 - np.array(mean)) / np.array(std)
    xt = torch.tensor(x.transpose(2, 0, 1), dtype=torch.float32)
    y = noise.add_noise(xt, t, seed).double().numpy().transpose(1, 2, 0) * np.array(std) + np.array(mean)
    inside = (y > 0) & (y < 1)
    assert inside.mean() > 0.9
    assert np.abs(noisy[inside] - y[inside]).max() <= 0.5 / 255 + 1e-6
