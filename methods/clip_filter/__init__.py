"""The judge-free method (arXiv 2411.17760): mixed image-free decoding verified by CLIP; the `clip_filter` plugin."""

from methods.clip_filter.method import (
    DESCRIBE_PROMPT,
    REVERSE_OR_DROP,
    ClipFilter,
    ClipFilterConfig,
    describe_detail_task,
    draw_ratio,
    harness_methods,
    harness_warmup_tasks,
    is_tiny,
)

__all__ = [
    "DESCRIBE_PROMPT",
    "REVERSE_OR_DROP",
    "ClipFilter",
    "ClipFilterConfig",
    "describe_detail_task",
    "draw_ratio",
    "is_tiny",
    "harness_methods",
    "harness_warmup_tasks",
]
