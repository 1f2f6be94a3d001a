"""vLLM generation (optional extra ``vllm``; GPU only).

vLLM preprocesses PIL images itself, so a noised request needs one of two paths:

- ``noise_input="pixels"`` (backend ``vllm``): a PIL image noised in pixel space
  (``harness.noise.noisy_pil_image``): padded to a square and resized to the vision tower's input
  size, then noised with the same schedule and seed, clipped to [0, 1] and quantised to uint8.
  Clipping and quantisation are the only differences from the tensor path of the ``hf`` backend
  (and of the official self-evolution code); docs/noise.md gives the measured gap.
- ``noise_input="embeds"`` (backend ``vllm_embeds``): the exact tensor path. The policy's vision
  tower and projector embed the unclipped noised tensor (``harness.backends.image_embeds``) and vLLM
  receives the embeddings (``enable_mm_embeds=True``). Clean images still go as PIL images.

All requests go to vLLM in one ``generate`` call (continuous batching); one engine per policy
checkpoint. ``build_inputs`` is pure and unit-tested without vLLM installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.backends.base import Backend, BackendOption, GenerationRequest
from harness.errors import HarnessError
from harness.noise import noisy_pil_image
from harness.policy.padding import expand_to_square


def input_size(processor) -> int:
    ip = processor.image_processor
    crop = getattr(ip, "crop_size", None) or {}
    if isinstance(crop, dict) and "height" in crop:
        return int(crop["height"])
    size = getattr(ip, "size", None) or {}
    return int(size.get("shortest_edge", size.get("height", 336)))


NOISE_INPUTS = ("pixels", "embeds")


def build_inputs(policy, requests: Sequence[GenerationRequest], *, noise_input: str = "pixels") -> list[dict[str, Any]]:
    """vLLM prompt dicts: the rendered template, and the image: a PIL image (clean, or noised in pixel
    space), or for a noised request with ``noise_input="embeds"`` its image embeddings."""
    if noise_input not in NOISE_INPUTS:
        raise HarnessError(f"noise_input must be one of {', '.join(NOISE_INPUTS)}, got {noise_input!r}")
    side = input_size(policy.processor)
    mean, std = policy.image_mean, policy.image_std
    embeds = {}
    if noise_input == "embeds":
        from harness.backends.image_embeds import noised_image_embeds

        noised = [i for i, r in enumerate(requests) if r.with_image and r.noise_step is not None]
        embeds = dict(zip(noised, noised_image_embeds(policy, [requests[i] for i in noised])))
    inputs = []
    for i, r in enumerate(requests):
        prompt = policy.template.render(r.prompt, with_image=r.with_image)
        if not r.with_image:
            inputs.append({"prompt": prompt})
            continue
        if i in embeds:
            inputs.append({"prompt": prompt, "multi_modal_data": {"image": embeds[i]}})
            continue
        img = r.image.convert("RGB")
        if policy.pad_to_square:
            img = expand_to_square(img, mean)
        if r.noise_step is not None:
            from PIL import Image

            img = noisy_pil_image(img.resize((side, side), Image.BICUBIC), r.noise_step, r.seed, mean, std)
        inputs.append({"prompt": prompt, "multi_modal_data": {"image": img}})
    return inputs


def sampling_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """Greedy decoding as the official scripts (vLLM's max_tokens default of 16 is never used)."""
    return {"temperature": 0.0, "max_tokens": request.max_new_tokens}


def host_policy(path, dtype: str, *, vision_device: str | None = None):
    """The policy for an engine that loads its own weights: processor, template and config in host memory,
    the model's parameters on PyTorch's ``meta`` device (no memory at all), except the vision tower and
    projector when ``vision_device`` is given (``vllm_embeds`` embeds noised images with them): only their
    tensors are read from the checkpoint (``load_vision_parts``), never the language model's."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    from harness.policy.loading import Policy, pick_device_dtype, resolve_model_path
    from harness.policy.templates import get_template

    path = resolve_model_path(path)
    _, dtype = pick_device_dtype("cuda", dtype)
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(config, dtype=getattr(torch, dtype))
        if vision_device is not None and not load_vision_parts(model, path, getattr(torch, dtype), vision_device):
            # weights not in safetensors (or named unlike LLaVA's): the whole model, then only two parts moved
            model = AutoModelForImageTextToText.from_pretrained(
                path, dtype=getattr(torch, dtype), local_files_only=True
            )
            model.model.vision_tower.to(vision_device)
            model.model.multi_modal_projector.to(vision_device)
    except (OSError, ValueError, KeyError) as exc:
        raise HarnessError(f"{path}: failed to load checkpoint ({exc})") from None
    model.eval()
    return Policy(model=model, processor=processor, template=get_template("llava_v1"), path=path, name=str(path))


VISION_PARTS = ("vision_tower", "multi_modal_projector")


def load_vision_parts(model, path, dtype, device) -> bool:
    """Materialise ``model.model.vision_tower`` and ``multi_modal_projector`` of a model built on the
    ``meta`` device, on ``device``, from only their tensors in the checkpoint's safetensors files (a
    7B LLaVA's vision parts are about 0.6 GB of its 14). Keys are matched with or without the leading
    ``model.`` (transformers' current layout and the llava-hf checkpoints'). False, with nothing changed,
    when the checkpoint has no safetensors or its keys do not fill both parts exactly."""
    import json

    import torch
    from safetensors import safe_open
    from transformers import AutoModel

    folder = Path(path)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        return False
    state: dict[str, dict[str, torch.Tensor]] = {name: {} for name in VISION_PARTS}
    for name in files:
        with safe_open(str(folder / name), framework="pt", device="cpu") as fh:
            for key in fh.keys():
                bare = key.removeprefix("model.")
                part, _, rest = bare.partition(".")
                if part in state and rest:
                    state[part][rest] = fh.get_tensor(key)
    inner = model.model
    with torch.device(device):
        # the tower built afresh (as LLaVA builds it), so its non-persistent buffers (position ids) are real
        tower = AutoModel.from_config(model.config.vision_config, dtype=dtype)
    projector = inner.multi_modal_projector.to_empty(device=device)  # linear layers only: every tensor loaded
    for module, name in ((tower, "vision_tower"), (projector, "multi_modal_projector")):
        expected = set(module.state_dict())
        if set(state[name]) != expected:
            return False
    tower.load_state_dict(state["vision_tower"], strict=True)
    projector.load_state_dict(state["multi_modal_projector"], strict=True)
    inner.vision_tower = tower.to(dtype).eval()
    inner.multi_modal_projector = projector.to(dtype).eval()
    return True


class _Engine:
    """One vLLM engine (in this process, or in a data-parallel worker): prompt dicts in, texts out."""

    def __init__(self, model: str, engine_kwargs: dict[str, Any], progress: bool):
        import vllm

        self._vllm = vllm
        self.progress = progress
        self.llm = vllm.LLM(model=model, **engine_kwargs)

    def generate(self, inputs: list[dict[str, Any]], params: list[dict[str, Any]]) -> list[str]:
        if not inputs:
            return []
        sp = [self._vllm.SamplingParams(**p) for p in params]
        outputs = self.llm.generate(inputs, sp, use_tqdm=self.progress)
        return [o.outputs[0].text.strip() for o in outputs]

    def close(self) -> None:
        del self.llm


class _EngineFactory:
    """Picklable: builds worker k's engine (data parallel)."""

    def __init__(self, model: str, engine_kwargs: dict[str, Any], progress: bool):
        self.model, self.engine_kwargs, self.progress = model, engine_kwargs, progress

    def __call__(self, rank: int) -> _Engine:
        return _Engine(self.model, self.engine_kwargs, self.progress and rank == 0)


VLLM_OPTIONS = {
    "gpu_memory_utilization": BackendOption(
        float, above=0.0, high=1.0, help="fraction of each GPU's memory vLLM may take (weights + KV cache)"
    ),
    "tensor_parallel_size": BackendOption(int, low=1, help="GPUs one engine spans"),
    "data_parallel_size": BackendOption(
        int,
        low=1,
        help="engines, one per group of tensor_parallel_size GPUs, each over a contiguous shard of the requests",
    ),
    "max_model_len": BackendOption(int, low=1, help="context length the engine reserves KV cache for"),
    "request_chunk": BackendOption(
        int,
        low=1,
        help="requests per engine call (bounds the host memory of the images and noised embeddings of one call)",
    ),
    "enforce_eager": BackendOption(bool, help="no CUDA graphs (less memory, slower)"),
}


class VLLMBackend(Backend):
    name = "vllm"
    description = "vLLM offline engine: continuous batching on GPU (pip install 'self-evolution-harness[vllm]')"
    options = VLLM_OPTIONS

    noise_input = "pixels"

    @classmethod
    def load_policy(cls, path, dtype: str):
        """Nothing of the policy on the GPU: the engine loads the checkpoint itself."""
        return host_policy(path, dtype)

    def __init__(
        self,
        policy,
        *,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int = 4096,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        request_chunk: int = 1024,
        enforce_eager: bool = False,
        progress: bool = True,
        **engine_kwargs,
    ):
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise HarnessError(
                "the vllm backend needs vLLM: pip install 'self-evolution-harness[vllm]' "
                "(GPU only; vLLM 0.33 pins torch 2.14 and transformers<5.21)"
            ) from None
        self.policy = policy
        self.progress = progress
        self.request_chunk = int(request_chunk)
        # the policy's precision (fp16 by default on GPU, as the official generation scripts)
        dtype = str(policy.dtype).replace("torch.", "")
        kwargs = dict(
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            tensor_parallel_size=tensor_parallel_size,
            limit_mm_per_prompt={"image": 1},
            seed=0,
            enforce_eager=enforce_eager,
            **engine_kwargs,
        )
        if self.noise_input == "embeds":
            kwargs["enable_mm_embeds"] = True
        self.pool = self.engine = None
        if data_parallel_size > 1:
            import os

            from harness.backends.shards import ShardPool, gpu_groups

            groups = gpu_groups(data_parallel_size, tensor_parallel_size, os.environ.get("CUDA_VISIBLE_DEVICES"))
            self.pool = ShardPool(
                _EngineFactory(str(policy.path), kwargs, progress),
                data_parallel_size,
                [{"CUDA_VISIBLE_DEVICES": g} for g in groups],
            )
        else:
            self.engine = _Engine(str(policy.path), kwargs, progress)

    def generate(self, requests: Sequence[GenerationRequest], *, desc: str = "generating") -> list[str]:
        out: list[str] = []
        for start in range(0, len(requests), self.request_chunk):  # inputs (and embeddings) of one call only
            part = requests[start : start + self.request_chunk]
            inputs = build_inputs(self.policy, part, noise_input=self.noise_input)
            params = [sampling_kwargs(r) for r in part]
            if self.pool is not None:
                out += _map_pairs(self.pool, inputs, params)
            else:
                out += self.engine.generate(inputs, params)
            del inputs
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.engine is not None:
            self.engine.close()
        self.pool = self.engine = None


def _map_pairs(pool, inputs: list[dict[str, Any]], params: list[dict[str, Any]]) -> list[str]:
    """Shard (input, params) together: every worker gets the same contiguous range of both."""
    return pool.map("generate_pairs", list(zip(inputs, params)))


def _generate_pairs(self: _Engine, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    return self.generate([p[0] for p in pairs], [p[1] for p in pairs])


_Engine.generate_pairs = _generate_pairs


class VLLMEmbedsBackend(VLLMBackend):
    name = "vllm_embeds"
    description = (
        "vLLM, noised images fed as image embeddings of the exact unclipped noised tensor "
        "(the official noise path; needs the policy's vision tower on the GPU too)"
    )
    noise_input = "embeds"

    @classmethod
    def load_policy(cls, path, dtype: str):
        """Only the vision tower and projector on the GPU (they embed the noised images); the LM stays in
        host memory, and vLLM loads its own copy."""
        import torch

        return host_policy(path, dtype, vision_device="cuda" if torch.cuda.is_available() else "cpu")
