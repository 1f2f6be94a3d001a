"""A preference pair as the trainer's row (the reference pass, training and the held-out margin read them)."""

from __future__ import annotations


def pair_examples(pairs) -> list[dict]:
    """The trainer's rows of ``pairs`` (PreferencePair objects or their dicts)."""
    rows = []
    for p in pairs:
        d = p if isinstance(p, dict) else p.to_dict()
        rows.append(
            {
                "image_ref": d["image"],
                "image_path": d.get("image_path"),
                "prompt": d["prompt"],
                "chosen": d["chosen"],
                "rejected": d["rejected"],
                "kind": d.get("kind", "qa"),
            }
        )
    return rows
