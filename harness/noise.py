"""The diffusion forward process the self-evolution papers use to corrupt images.

As in their released code (the ``add_diffusion_noise`` function; docs/noise.md names the
repositories and files):

Schedule: 1000 steps, betas = sigmoid(linspace(-6, 6, 1000)) * (5e-3 - 1e-5) + 1e-5 (the GeoDiff
"sigmoid" schedule, which diffusers' ``DDPMScheduler(beta_schedule="sigmoid")`` implements exactly),
alpha_bar = cumprod(1 - beta), and x_t = sqrt(alpha_bar_t) * x_0 + sqrt(1 - alpha_bar_t) * eps, with
t used directly as a 0-based index. x_0 is the CLIP-normalised pixel tensor (after pad-to-square,
resize, crop, normalise); no clipping afterwards — exactly as the official code.

Deviation from the official code: the official noise is never seeded. Here every request carries
a seed, so a run is reproducible.

For backends that take PIL images (vLLM), ``noisy_pil_image`` applies the same process in pixel
space: y = a*x + (1-a)*mean + b*std*eps, then clips to [0, 1] and quantises to uint8. The clipping
and quantisation are the only differences from the tensor path (documented in docs/noise.md).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image

from harness.errors import HarnessError

NUM_STEPS = 1000
BETA_START = 1e-5
BETA_END = 5e-3


@functools.lru_cache(maxsize=1)
def scheduler():
    """diffusers' DDPM scheduler configured with the official sigmoid schedule."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=NUM_STEPS, beta_start=BETA_START, beta_end=BETA_END, beta_schedule="sigmoid"
    )


def check_step(t: int) -> int:
    if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < NUM_STEPS:
        raise HarnessError(f"noise step must be an integer in 0-{NUM_STEPS - 1}, got {t!r}")
    return t


def coefficients(t: int) -> tuple[float, float]:
    """(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) of the schedule."""
    ab = scheduler().alphas_cumprod[check_step(t)].item()
    return ab**0.5, (1.0 - ab) ** 0.5


def gaussian(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Seeded standard normal noise (CPU generator, so the draw is the same on every device)."""
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    return torch.randn(shape, generator=gen, dtype=torch.float32)


def add_noise(pixel_values: torch.Tensor, t: int, seed: int) -> torch.Tensor:
    """Noise one image tensor (C×H×W or 1×C×H×W) to step t with a seeded draw."""
    check_step(t)
    eps = gaussian(tuple(pixel_values.shape), seed).to(pixel_values.device)
    x = pixel_values.float()
    noisy = scheduler().add_noise(x, eps, torch.tensor([t]))
    return noisy.to(pixel_values.dtype)


def noisy_pil_image(
    image: Image.Image, t: int, seed: int, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> Image.Image:
    """The pixel-space equivalent for PIL consumers (vLLM): same schedule, clipped and quantised.

    ``image`` should already be padded/resized to the model's input size, so the processor does not
    resample the noise.
    """
    a, b = coefficients(t)
    x = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    eps = gaussian((x.shape[2], x.shape[0], x.shape[1]), seed).numpy().transpose(1, 2, 0)
    m = np.asarray(mean, dtype=np.float32)
    s = np.asarray(std, dtype=np.float32)
    y = a * x + (1.0 - a) * m + b * s * eps
    return Image.fromarray((np.clip(y, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def raw_pixel_noise_unclamped(image: Image.Image, t: int, seed: int) -> Image.Image:
    """The raw-pixel image noise of one released trainer (docs/methods.md names it): the diffusion forward
    process at step ``t`` on the raw image as ``ToTensor`` gives it ([0, 1], its own resolution, before
    padding and the CLIP processor), √ᾱ·x + √(1−ᾱ)·ε, then back to an image by ``ToPILImage``'s float
    path without clamping: ×255 and a cast to uint8. Out-of-range values wrap modulo 256 here, which is
    what the cast gives on x86 (a float-to-int conversion, truncating, then the low byte); the cast is
    undefined in C for such values, so another platform may saturate instead. The result is padded and
    preprocessed like any image. Seeded: one draw per (image, seed)."""
    check_step(t)
    a, b = coefficients(t)
    x = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
    eps = gaussian(tuple(x.shape), seed).numpy()
    y = a * x + b * eps
    wrapped = np.mod(np.trunc(y * 255.0).astype(np.int64), 256).astype(np.uint8)
    return Image.fromarray(wrapped.transpose(1, 2, 0))
