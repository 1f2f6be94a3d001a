"""POVID's released stage-1 preference data, as ``harness data pull povid`` fetches it.

The Hugging Face dataset ``YiyangAiLab/POVID_preference_data_for_VLLMs`` (CC BY 4.0; linked from the
YiyangZhou/POVID README, "Stage 1: Prepare data"): LLaVA-Instruct ground-truth answers as ``conversations`` and
the same answers with hallucinations injected by GPT-4V as ``rejected_conversations``, over COCO train2014 images.

Which file: the dataset first held ``POVID_preference_data_for_VLLMs.json`` (uploaded twice on 2024-02-17:
LFS sha256 854b9c31…, then 3dc23ef1…, 21,634,257 bytes); on 2024-04-01 commit 5a8be94 added
``POVID_preference_data_for_VLLMs_version_1.json`` and commit 177dd94 deleted the first file, so the version-1
file is the only one the dataset offers now. It is pulled from that commit (pinned, so a later upload cannot
change what is fetched) and verified against the SHA-256 its Git LFS pointer publishes (commit 5a8be94's diff:
``oid sha256:e9766740…``, ``size 20878161``).
"""

from __future__ import annotations

from harness.benchmark import DataSource

HF_REPO = "YiyangAiLab/POVID_preference_data_for_VLLMs"
# the dataset's main branch head after the 2024-04-01 replacement ("Delete POVID_preference_data_for_VLLMs.json")
HF_REVISION = "177dd9493f865950a3bec48ef6b9ffd7b50e3f73"
FILE = "POVID_preference_data_for_VLLMs_version_1.json"
FILE_SHA256 = "e97667408d768e2046bdba6ee25fbb66bff3548fab5144bc1d04b222b2732f85"  # its Git LFS oid
FILE_SIZE = 20_878_161
URL = f"https://huggingface.co/datasets/{HF_REPO}/resolve/{HF_REVISION}/{FILE}"


def stage1_data_source() -> DataSource:
    """The released preference file; its ``note`` says how a run uses it."""
    return DataSource(
        path=FILE,
        url=URL,
        sha256=FILE_SHA256,
        note=(
            f"POVID's stage-1 pairs (HF {HF_REPO} @ {HF_REVISION[:7]}, 20.9 MB, CC BY 4.0): ground truth vs. "
            f"GPT-4V-hallucinated answers over COCO train2014. Use: harness evolve --method povid "
            f"--images data/povid/{FILE} --image-root <COCO train2014 folder, the one its image paths are "
            f"relative to> --set stage1_file=data/povid/{FILE}"
        ),
    )
