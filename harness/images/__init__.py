"""Unlabeled image sources (folder, LLaVA-665k JSON, COCO, synthetic) and seeded disjoint sampling."""

from harness.images.sampling import LLAVA_665K_SOURCES, ImagePlan, ImageSplit, check_plan, sample_iterations
from harness.images.sources import (
    CocoSource,
    FolderSource,
    ImageRef,
    ImageSource,
    LlavaJsonSource,
    SyntheticSource,
    open_source,
)

__all__ = [
    "ImageRef",
    "ImageSource",
    "FolderSource",
    "LlavaJsonSource",
    "CocoSource",
    "SyntheticSource",
    "open_source",
    "ImageSplit",
    "ImagePlan",
    "LLAVA_665K_SOURCES",
    "check_plan",
    "sample_iterations",
]
