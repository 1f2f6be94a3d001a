"""AMBER's counters and final formulas, as the official scorer computes and prints them.

Counters start from ``data/metrics.txt`` (every ``*_score`` 0, every ``*_num`` 0.001) and are
incremented response by response, in the order of the prediction file, so that the float sums
are the official ones bit for bit. Final numbers use Python ``round(x, 1)`` in the official
operation order; F1 is computed from the already rounded precision and recall, with ε = 0.0001,
except ε = 0.001 for the existence F1 (both as in the official ``inference.py`` at 534babf6bbfc).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# --evaluation_type → enabled dimensions (g: generative; de/da/dr: existence/attribute/relation).
EVALUATION_DIMENSIONS: dict[str, frozenset[str]] = {
    "a": frozenset({"g", "de", "da", "dr"}),
    "g": frozenset({"g"}),
    "d": frozenset({"de", "da", "dr"}),
    "de": frozenset({"de"}),
    "da": frozenset({"da"}),
    "dr": frozenset({"dr"}),
}

GENERATIVE_METRICS = ("CHAIR", "Cover", "Hal", "Cog")
QA_METRICS = ("Accuracy", "Precision", "Recall", "F1")
# Section names of the report; the official prints the existence header as "Exsitence:".
SECTIONS = ("Existence", "Attribute", "State", "Number", "Action", "Relation")
F1_EPSILON = 0.0001
EXISTENCE_F1_EPSILON = 0.001


def _percent(score: float, num: float) -> float:
    return round(score / num * 100, 1)


def _f1(precision: float, recall: float, epsilon: float) -> float:
    return round(2 * (precision / 100) * (recall / 100) / ((precision / 100) + (recall / 100) + epsilon) * 100, 1)


def _qa(counters: Mapping[str, float], prefixes: Iterable[str], epsilon: float = F1_EPSILON) -> dict[str, float]:
    """Accuracy/Precision/Recall/F1 of the buckets ``prefixes`` (summed left to right)."""
    prefixes = list(prefixes)

    def total(name: str) -> float:
        value = counters[f"{prefixes[0]}{name}"]
        for prefix in prefixes[1:]:
            value = value + counters[f"{prefix}{name}"]
        return value

    accuracy = _percent(total("qa_correct_score"), total("qa_correct_num"))
    precision = _percent(total("qa_ans_no_score"), total("qa_ans_no_num"))
    recall = _percent(total("qa_no_score"), total("qa_no_num"))
    return {"Accuracy": accuracy, "Precision": precision, "Recall": recall, "F1": _f1(precision, recall, epsilon)}


def official_metrics(counters: Mapping[str, float], dimensions: frozenset[str]) -> dict[str, float]:
    """Every number the official prints for these enabled dimensions (flat names, see SECTIONS)."""
    out: dict[str, float] = {}
    if "g" in dimensions:
        out["CHAIR"] = _percent(counters["chair_score"], counters["chair_num"])
        out["Cover"] = _percent(counters["safe_cover_score"], counters["safe_cover_num"])
        out["Hal"] = round(100 - counters["non_hallu_score"] / counters["non_hallu_num"] * 100, 1)
        out["Cog"] = _percent(counters["hallu_cover_score"], counters["hallu_cover_num"])
    if {"de", "da", "dr"} <= dimensions:
        out.update(_qa(counters, [""]))
    sections: dict[str, dict[str, float]] = {}
    if "de" in dimensions:
        sections["Existence"] = _qa(counters, ["ha_"], EXISTENCE_F1_EPSILON)
    if "da" in dimensions:
        sections["Attribute"] = _qa(counters, ["as_", "an_", "aa_"])
        sections["State"] = _qa(counters, ["as_"])
        sections["Number"] = _qa(counters, ["an_"])
        sections["Action"] = _qa(counters, ["aa_"])
    if "dr" in dimensions:
        sections["Relation"] = _qa(counters, ["asso_"])
    for section, values in sections.items():
        for metric, value in values.items():
            out[f"{section}/{metric}"] = value
    return out


def amber_score(chair: float, f1: float) -> float:
    """The AMBER paper's summary score, ½·(100 − CHAIR + F1); not computed by the official script."""
    return (100 - chair + f1) / 2


def official_printout(metrics: Mapping[str, float], dimensions: frozenset[str]) -> str:
    """The text the official script prints for these metrics (same labels, tabs and blank lines)."""
    lines: list[str] = []

    def block(title: str, prefix: str, labels: tuple[tuple[str, str], ...], last: bool = False) -> None:
        lines.append(title)
        for index, (label, key) in enumerate(labels):
            value = metrics[prefix + key]
            trailer = " \n" if index == len(labels) - 1 and not last else ""
            lines.append(f"{label} {value}{trailer}")

    qa_labels = (
        ("Accuracy:\t", "Accuracy"),
        ("Precision:\t", "Precision"),
        ("Recall:\t\t", "Recall"),
        ("F1:\t\t", "F1"),
    )
    if "g" in dimensions:
        block(
            "Generative Task:",
            "",
            (("CHAIR:\t\t", "CHAIR"), ("Cover:\t\t", "Cover"), ("Hal:\t\t", "Hal"), ("Cog:\t\t", "Cog")),
        )
    if {"de", "da", "dr"} <= dimensions:
        block("Descriminative Task:", "", qa_labels)
    if "de" in dimensions:
        block("Exsitence:", "Existence/", qa_labels)
    if "da" in dimensions:
        for section in ("Attribute", "State", "Number", "Action"):
            block(f"{section}:", f"{section}/", qa_labels)
    if "dr" in dimensions:
        block("Relation:", "Relation/", qa_labels, last=True)
    return "".join(line + "\n" for line in lines)
