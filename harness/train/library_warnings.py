"""Warnings raised inside the training libraries about their own calls, filtered narrowly where they are raised.

transformers 5 deprecated ``PreTrainedModel.is_gradient_checkpointing`` in favour of
``is_activation_checkpointing`` (``transformers/modeling_utils.py``: a ``FutureWarning`` on every read).
The harness never reads it; the libraries it trains with still do: peft 0.21 in ``PeftModel.__init__``
(``getattr(model, "is_gradient_checkpointing", True)``, reached through TRL's ``get_peft_model`` with
``--train lora=true`` and through ``PeftModel.from_pretrained`` when the adapter is merged) and TRL 1.16
in ``trl/models/utils.py`` ``disable_gradient_checkpointing`` (its in-trainer reference pass). The user
cannot act on it, so only that message, from that module, is ignored, and only while a training
iteration runs; every other warning is left as it is. Drop this once peft and TRL read the new name.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

DEPRECATED_CHECKPOINTING_READ = r"`is_gradient_checkpointing` is deprecated"


@contextlib.contextmanager
def library_checkpointing_warning_filtered() -> Iterator[None]:
    """Ignore transformers' ``is_gradient_checkpointing`` FutureWarning (the module doc) inside the block;
    usable as a decorator."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=DEPRECATED_CHECKPOINTING_READ,
            category=FutureWarning,
            module=r"transformers\.modeling_utils",
        )
        yield
