"""Generation backends behind one interface: ``hf`` (transformers, batched) and ``vllm`` (optional)."""

from harness.backends.base import Backend, GenerationRequest, make_backend

__all__ = ["Backend", "GenerationRequest", "make_backend"]
