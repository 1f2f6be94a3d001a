"""POVID's released preference data (HF ``YiyangAiLab/POVID_preference_data_for_VLLMs``): a JSON list of
``{"id", "image", "conversations": [human, gpt], "rejected_conversations": [human, gpt]}``, the gpt turn of
``conversations`` the ground truth, that of ``rejected_conversations`` the ground truth with hallucinations
injected by GPT-4V (YiyangZhou/POVID README, "Stage 1").

A file is read whole and checked before anything is trained on it: every malformed row is named (up to
ten, then a count), and nothing is used from a file with any."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.images.sources import strip_image_token

SHOWN = 10


def _turn(entry: dict, key: str, who: str) -> str:
    turns = entry.get(key)
    if not isinstance(turns, list):
        raise ValueError(f"{key!r} must be a list of turns")
    for turn in turns:
        if isinstance(turn, dict) and turn.get("from") == who and isinstance(turn.get("value"), str):
            if not turn["value"].strip():
                raise ValueError(f"{key!r} has an empty {who!r} turn")
            return turn["value"]
    raise ValueError(f"{key!r} has no {who!r} turn")


def load_stage1_pairs(path: str) -> dict[str, list[tuple[str, str, str]]]:
    """{image: [(question, chosen, rejected)]} from a POVID-format pair file; every bad row named."""
    from harness.atomic import read_json

    data = read_json(Path(path))
    if not isinstance(data, list):
        raise HarnessError(f"{path}: expected a JSON list of POVID pairs")
    out: dict[str, list[tuple[str, str, str]]] = {}
    bad: list[str] = []
    for i, entry in enumerate(data):
        try:
            if not isinstance(entry, dict) or not entry.get("image"):
                raise ValueError("expected an object with an 'image' field")
            question = strip_image_token(_turn(entry, "conversations", "human"))
            chosen = _turn(entry, "conversations", "gpt").strip()
            rejected = _turn(entry, "rejected_conversations", "gpt").strip()
        except ValueError as exc:
            name = entry.get("id") if isinstance(entry, dict) and entry.get("id") is not None else None
            bad.append(f"row {i}{f' (id {name})' if name is not None else ''}: {exc}")
            continue
        out.setdefault(str(entry["image"]), []).append((question, chosen, rejected))
    if bad:
        more = f"; and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise HarnessError(
            f"povid option stage1_file={path}: {len(bad)} malformed row(s), nothing is trained on the file: "
            + "; ".join(bad[:SHOWN])
            + more
        )
    if not out:
        raise HarnessError(f"povid option stage1_file={path}: no pairs in the file")
    return out


def missing_images(records: dict[str, list], source) -> list[str]:
    """The images of ``records`` the image source does not have (not listed, or no file on disk)."""
    known = {}
    try:
        refs = source.refs()
        if len(refs) <= 2_000_000:
            known = {r.id: r for r in refs}
    except Exception:  # a source that cannot list its images is checked image by image below
        known = {}
    missing = []
    for image in records:
        ref = known.get(image)
        if image.startswith("synthetic/"):
            continue
        if ref is None or (ref.path is not None and not Path(ref.path).is_file()):
            missing.append(image)
    return missing
