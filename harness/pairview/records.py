"""The data of one viewer page: the iteration's header and one record per pair, in pairs.jsonl order.

What a pair shows of its method comes from what the method recorded in the pair's ``provenance``
(harness/method.py: ``Method.provenance`` plus the method's own keys: scores, flags, the branch that
made the rejected answer); what its filters removed comes from ``stats.json``'s counts; the truth of
the pair from ``audit.json`` (harness/audit.py). A provenance key whose values are few and short (a flag,
a branch, a source) becomes a filter of the page, as do the pair's kind and the audit's verdict.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from harness.pairview.pictures import Pictures, noise_plan
from harness.pairview.run_files import IterationFiles

# What every pair records of where it came from (Method.provenance): the page header shows it once.
BOOKKEEPING = ("method", "checkpoint", "seed", "iteration", "config", "config_hash")
MAX_FACET_VALUES = 12
MAX_FACET_TEXT = 80
NOT_AUDITED = "not audited"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _facet_value(value: Any) -> str | None:
    """A provenance value a filter can offer: a flag, a short label, a small integer."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and 0 < len(value) <= MAX_FACET_TEXT:
        return value
    if value is None:
        return "–"
    return None


def _audit_mark(mark: dict[str, Any]) -> dict[str, Any] | None:
    if not mark.get("audited"):
        return None
    return {"verdict": mark.get("verdict"), "chosen": mark.get("chosen"), "rejected": mark.get("rejected")}


def _facets(records: list[dict[str, Any]], candidates: dict[str, list[str | None]]) -> list[dict[str, Any]]:
    facets = []
    for key, label in (("verdict", "audit verdict"), ("kind", "kind"), ("noise", "noised image")):
        counts = Counter(r["facets"][key] for r in records)
        facets.append({"key": key, "label": label, "values": sorted(counts.items())})
    for key, values in sorted(candidates.items()):
        counts = Counter(values)
        if None in counts or not 2 <= len(counts) <= MAX_FACET_VALUES:
            continue  # free text or one value for all: a detail of each pair, not a filter
        for r, v in zip(records, values):
            r["facets"][f"p.{key}"] = v
        facets.append({"key": f"p.{key}", "label": key, "values": sorted(counts.items())})
    return facets


def pair_records(it: IterationFiles, pictures: Pictures, files_prefix: str) -> tuple[list, list]:
    """(records, facets) of every pair of the iteration; the pictures are written as they are made."""
    objective = (it.train or {}).get("objective") or it.config.get("objective")
    records, candidates = [], {}
    keys = sorted({k for p in it.pairs for k in (p.get("provenance") or {}) if k not in BOOKKEEPING})
    for k in keys:
        candidates[k] = []
    for n, (pair, mark) in enumerate(zip(it.pairs, it.audit["marks"])):
        prov = pair.get("provenance") if isinstance(pair.get("provenance"), dict) else {}
        clean, clean_note = pictures.clean(pair)
        plan = noise_plan(pair, objective)
        noised, noised_note = pictures.noised(pair, plan) if plan is not None else (None, None)
        audit = _audit_mark(mark)
        record = {
            "n": n,
            "image": pair["image"],
            "kind": str(pair.get("kind", "")),
            "prompt": pair["prompt"],
            "chosen": pair["chosen"],
            "rejected": pair["rejected"],
            "img": files_prefix + clean if clean else None,
            "img_note": clean_note,
            "noised": files_prefix + noised if noised else None,
            "noise_label": (plan.note if noised else "noised or corrupted image") if plan is not None else None,
            "noise_note": noised_note,
            "details": [[k, _text(prov[k])] for k in keys if k in prov],
            "audit": audit,
            "facets": {
                "verdict": audit["verdict"] if audit else NOT_AUDITED,
                "kind": str(pair.get("kind", "")),
                "noise": "shown" if noised else ("not reproducible" if plan is not None else "none"),
            },
        }
        records.append(record)
        for k in keys:
            candidates[k].append(_facet_value(prov.get(k)) if k in prov else "–")
    return records, _facets(records, candidates)


def noise_summary(records: list[dict[str, Any]]) -> str:
    """One line for the header: for how many pairs the noised image is shown, and why not for the others."""
    shown = sum(r["facets"]["noise"] == "shown" for r in records)
    missing = [r for r in records if r["facets"]["noise"] == "not reproducible"]
    if not shown and not missing:
        return "none: the pairs record no noised or corrupted image"
    text = f"shown beside the image for {shown} of {len(records)} pairs"
    if missing:
        text += f"; not reproducible for {len(missing)} ({missing[0]['noise_note']})"
    return text


def header(it: IterationFiles, noise: str) -> dict[str, Any]:
    """What the page says once: the run, the audit summary, the method's counts, the training."""
    manifest, stats, train = it.manifest, it.stats or {}, it.train or {}
    first = next((p.get("provenance") for p in it.pairs if isinstance(p.get("provenance"), dict)), {})
    run = {
        "run": str(manifest.get("run_id") or it.run_dir.name),
        "folder": str(it.run_dir),
        "method": manifest.get("method") or it.config.get("method"),
        "variant": manifest.get("variant") or it.config.get("variant"),
        "base model": manifest.get("base_model") or it.config.get("base_model"),
        "seed": manifest.get("seed", it.config.get("seed")),
        "iteration": f"θ{it.iteration} (pairs generated by θ{it.iteration - 1})",
        "images": _text(it.source),
        "generating checkpoint": first.get("checkpoint"),
        "method config": _text(first["config"]) if "config" in first else None,
        "noised images": noise,
    }
    counts = stats.get("counts") if isinstance(stats.get("counts"), dict) else {}
    training = {}
    if train:
        log = train.get("final_log") if isinstance(train.get("final_log"), dict) else {}
        training = {
            "steps": train.get("steps"),
            "examples": train.get("examples"),
            "loss": log.get("loss", train.get("loss")),
            "reward accuracy": log.get("rewards/accuracies"),
            "reward margin": log.get("rewards/margins"),
            "skipped": train.get("skipped"),
        }
    return {
        "run": [[k, _text(v)] for k, v in run.items() if v is not None],  # a list: the order is the page's
        "audit": it.audit["summary"],
        "counts": [[k, v] for k, v in counts.items()],
        "by_kind": (stats.get("stats") or {}).get("pairs_by_kind") if isinstance(stats.get("stats"), dict) else None,
        "training": [[k, _text(v)] for k, v in training.items() if v is not None],
    }
