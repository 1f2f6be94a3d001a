"""The leaderboard's sections besides its main table: what each iteration trained on and how far its own
training moved (pairs, steps, the last step's reward accuracy and margin), provenance of every row (run,
checkpoint, images, pairs, manifest hash), the papers' published numbers beside ours, and the data of the
per-benchmark plots."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.report.judge_slots import reported_judge_text
from harness.report.plots import render_benchmark_plot
from harness.report.questions import own_questions_text
from harness.report.rows import (
    DASH,
    Column,
    Row,
    declared,
    error_bar,
    num,
    seed_stats,
    value_of,
)


def _training_cells(row: Row) -> tuple[float | None, float | None, float | None, float | None]:
    """(pairs, DPO steps, last-step reward accuracy, last-step reward margin) of one run's iteration."""
    if row.run is None or row.iteration is None or row.iteration == 0:
        return None, None, None, None
    stats = row.run.stats(row.iteration) or {}
    train = row.run.training(row.iteration) or {}
    last = train.get("final_log") if isinstance(train.get("final_log"), dict) else {}
    stages = train.get("stages") if isinstance(train.get("stages"), list) else []
    steps = sum(num(s.get("steps")) or 0 for s in stages) if stages else num(train.get("steps"))
    return (
        num(stats.get("pairs")),
        steps,
        num(last.get("rewards/accuracies")),
        num(last.get("rewards/margins")),
    )


def _heldout_text(members: list[Row]) -> str:
    """The held-out reward margin: one run's mean [95 % interval], or seeds' mean ± std and how many seeds'
    intervals exclude 0; "–" where no run held pairs out."""
    found = [m.run.heldout(m.iteration) for m in members if m.run is not None and m.iteration]
    found = [h for h in found if h and h.get("margin") is not None]
    if not found:
        return DASH
    text = _mean_sd_text([num(h.get("margin")) for h in found], 3)
    if len(found) == 1 and found[0].get("margin_interval"):
        lo, hi = found[0]["margin_interval"]
        return f"{text} [{lo:.3f}, {hi:.3f}] (n {found[0].get('with_rejected', '?')})"
    up = sum(1 for h in found if h.get("significant") and num(h.get("margin")) > 0)
    down = sum(1 for h in found if h.get("significant") and num(h.get("margin")) < 0)
    pooled = [float(m) for h in found for m in (h.get("margins") or [])]
    ci = ""
    if len(pooled) >= 2:  # every seed's held-out pairs together: independent pairs of the same method and θ
        from harness.report.compare import paired_bootstrap

        res = paired_bootstrap([(str(k), 0.0, m) for k, m in enumerate(pooled)], resamples=2000, seed=0)
        ci = f" [{res.ci_low:.3f}, {res.ci_high:.3f}] pooled n {len(pooled)};"
    return f"{text}{ci} (> 0 on {up}/{len(found)} seeds" + (f", < 0 on {down}" if down else "") + ")"


def _mean_sd_text(values: list[float | None], decimals: int) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return DASH
    mean = sum(got) / len(got)
    if len(got) == 1:
        return f"{mean:.{decimals}f}"
    sd = (sum((v - mean) ** 2 for v in got) / (len(got) - 1)) ** 0.5  # sample std, as the seed rows
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f}"


def render_training(rows: list[Row]) -> list[str]:
    """Per method row and iteration: the pairs it trained on and what its training did with them, so that
    a method that trains on nothing, or whose training does not move its own signal, shows at a glance."""
    body = []
    for row in rows:
        if row.kind not in ("run", "seeds"):
            continue
        members = row.members if row.kind == "seeds" else [row]
        cells = [_training_cells(m) for m in members]
        if all(c == (None, None, None, None) for c in cells):
            continue
        pairs, steps, acc, margin = (list(col) for col in zip(*cells))
        acc = [100 * a if a is not None else None for a in acc]
        body.append(
            f"| {row.method or DASH} | {row.display_variant or row.variant or DASH} | θ{row.iteration} | "
            f"{_mean_sd_text(pairs, 0)} | {_mean_sd_text(steps, 0)} | {_mean_sd_text(acc, 0)} | "
            f"{_mean_sd_text(margin, 3)} | {_heldout_text(members)} | {own_questions_text(members)} |"
        )
    if not body:
        return []
    return [
        "## Pairs and training",
        "",
        "Per iteration (mean ± sample std over seeds where a row has several): the preference pairs the "
        "method kept, the optimiser steps, and the trainer's last logged step on those pairs: reward "
        "accuracy (% of pairs whose chosen answer the policy now prefers to the rejected one, relative to "
        "θi−1) and reward margin (β-scaled log-ratio difference). A row with no pairs did not train "
        "(θi is θi−1); a margin near 0 means the training barely moved its own signal. Held-out margin: the "
        "same margin of θi against θi−1 on pairs the method made on held-out images of the iteration, never "
        "trained on (`--heldout-images`), with its 95 % paired bootstrap interval (one run; over seeds: "
        "the mean ± std of the seeds' means, the interval of all seeds' held-out pairs pooled, and how many "
        "seeds' own intervals exclude 0); a method whose training does nothing shows 0 here. Steps count every "
        "training stage of the iteration. Own questions: where a method writes its own questions, the share "
        "it reports well-formed (the built-in methods: a question word first, one `?` at the end, no format "
        "label echoed) of those it wrote (on all the iteration's images, held-out ones "
        "included), then of those that are the prompt of a pair it trains on "
        '(count in brackets for one run); "–" where a method writes none.',
        "",
        "| Method | Variant | θ | Pairs | Steps | Reward accuracy (%) | Reward margin | Held-out margin "
        "| Own questions well-formed (%): written / pair prompts |",
        "|:--|:--|:--|--:|--:|--:|--:|--:|--:|",
        *body,
        "",
    ]


def render_audit(rows: list[Row]) -> list[str]:
    """Per method row and iteration: how many of its pairs are truly right, from the truth audit
    (harness/audit.py); "–" where the images have no known truth, never 0."""
    body = []
    for row in rows:
        if row.kind not in ("run", "seeds") or row.iteration in (None, 0):
            continue
        members = row.members if row.kind == "seeds" else [row]
        found = [m.run.audit(row.iteration) for m in members if m.run is not None]
        found = [a for a in found if a is not None]
        if not found:
            continue
        audited = [a for a in found if a.get("audited")]
        label = f"| {row.method or DASH} | {row.display_variant or row.variant or DASH} | θ{row.iteration} |"
        if not audited:
            body.append(f"{label} {_mean_sd_text([num(a.get('pairs')) for a in found], 0)} | 0 |" + f" {DASH} |" * 6)
            continue

        def col(key: str, decimals: int, _a=audited) -> str:
            return _mean_sd_text([num(a.get(key)) for a in _a], decimals)

        precision = col("precision", 1)
        if len(audited) == 1 and audited[0].get("precision_interval"):
            lo, hi = audited[0]["precision_interval"]
            precision += f" [{lo}, {hi}]"
        body.append(
            f"{label} {_mean_sd_text([num(a.get('pairs')) for a in found], 0)} | {sum(a['audited'] for a in audited)} | "
            f"{precision} | "
            f"{col('inverted', 1)} | {col('tied', 1)} | {col('hallucinated_per_chosen', 2)} | "
            f"{col('hallucinated_per_rejected', 2)} | {col('mentions_per_chosen', 2)} / "
            f"{col('mentions_per_rejected', 2)} |"
        )
    if not body:
        return []
    return [
        "## Pair audit",
        "",
        "Each pair's chosen and rejected answers scored against the truth of their image with the benchmark's "
        "rules (harness/audit.py; on the synthetic world: the scene; on COCO images: their instance "
        "annotations): **chosen better** is the share of pairs "
        "whose chosen answer is truly better (95 % bootstrap interval over pairs for a single run; mean ± "
        "sample std over seeds for a seeds row, whose Audited column sums its runs), **inverted** the share where the rejected one is, **tied** "
        "neither; hallucinated mentions and mentions per chosen / rejected answer. – : no known truth for "
        "these images.",
        "",
        "| Method | Variant | θ | Pairs | Audited | Chosen better (%) | Inverted (%) | Tied (%) | "
        "Halluc. / chosen | Halluc. / rejected | Mentions chosen / rejected |",
        "|:--|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|",
        *body,
        "",
    ]


def render_provenance(rows: list[Row]) -> list[str]:
    lines = [
        "## Provenance",
        "",
        "| Row | Run id | Base checkpoint | Images | Pairs | Manifest SHA-256 |",
        "|:--|:--|:--|--:|--:|:--|",
    ]
    for row in rows:
        if row.kind == "base":
            run_ids = sorted({s.res.model.run_id for ss in row.results.values() for s in ss if s.res.model.run_id})
            lines.append(f"| {row.label} | {', '.join(run_ids) or DASH} | {row.base} | {DASH} | {DASH} | {DASH} |")
            continue
        if row.kind == "seeds":
            lines += render_provenance(row.members)[4:-1]
            continue
        run = row.run
        man = run.manifest if run else {}
        images = pairs = DASH
        if run is not None and row.iteration is not None:
            stats = run.stats(row.iteration) or {}
            if num(stats.get("images")) is not None:
                images = str(int(stats["images"]))
            elif isinstance(man.get("images"), dict) and man["images"].get("per_iter") is not None:
                images = str(man["images"]["per_iter"])
            if num(stats.get("pairs")) is not None:
                pairs = str(int(stats["pairs"]))
        base = row.base or man.get("base_model") or DASH
        sha = f"`{run.sha256}`" if run else DASH
        lines.append(
            f"| {row.label} | {row.run_id or man.get('run_id') or DASH} | {base} | {images} | {pairs} | {sha} |"
        )
    lines.append("")
    return lines


def reported_numbers(registry: Any) -> list[Any]:
    """Published numbers declared by the registered methods and benchmarks (``reported``)."""
    out, seen = [], {}
    for table in (registry.methods, registry.benchmarks):
        for _, cls in sorted(table.items()):
            for r in getattr(cls, "reported", ()) or ():
                key = (r.table or r.source, r.model, tuple(sorted(r.values.items())))
                if key not in seen:  # a row two plugins both declare (a comparison table) is shown once
                    seen[key] = len(out)
                    out.append(r)
                elif getattr(r, "variant", "") and not getattr(out[seen[key]], "variant", ""):
                    judges = getattr(r, "judges", None) or getattr(out[seen[key]], "judges", None) or {}
                    out[seen[key]] = dataclasses.replace(r, judges=judges) if judges else r  # the method's own
                    # declaration says which variant reproduces it; the judges come from whichever names them
    return out


def render_reported(
    rows: list[Row], reported: list[Any], label_of: dict[str, str], judged: set[str] | None = None
) -> list[str]:
    """The published numbers, each row with the judge its source used (``judged``: the judged benchmarks)."""
    lines = [
        "## Reported in papers (not measured here)",
        "",
        "Numbers as published, copied from the sources named; they are never mixed with the "
        "measured rows above and were produced with other judges and setups. The Judge column names the judge "
        'model each source used for each judged benchmark ("not stated": the source does not say).',
        "",
    ]
    keys = list(dict.fromkeys(k for r in reported for k in r.values))
    keys.sort(key=lambda k: list(label_of).index(k) if k in label_of else len(label_of))
    if reported and keys:
        lines.append("| Source | Model | " + " | ".join(label_of.get(k, k) for k in keys) + " | Judge |")
        lines.append("|:--|:--|" + "|".join(["--:"] * len(keys)) + "|:--|")
        caveats: dict[str, int] = {}  # each row's caveat is a footnote on that row, numbered by first use
        for r in reported:
            vals = [f"{r.values[k]:g}" if k in r.values else DASH for k in keys]
            mark = f"[^r{caveats.setdefault(r.note, len(caveats) + 1)}]" if r.note else ""
            how = f" (`--variant {r.variant}`)" if getattr(r, "variant", "") else ""
            judge = reported_judge_text(r, judged or set())
            lines.append(f"| {r.source} | {r.model}{how}{mark} | " + " | ".join(vals) + f" | {judge} |")
        lines.append("")
        for note, n in caveats.items():
            lines += [f"[^r{n}]: {note}", ""]
    else:
        lines.append("- No registered method or benchmark declares published numbers.")
    # Reference numbers the benchmark adapters put on their protocol cards.
    refs: dict[str, dict[str, Any]] = {}
    for row in rows:
        for _, s in sorted(row.chosen.items()):
            ref = (s.res.protocol or {}).get("reference_numbers") or {}
            if isinstance(ref, dict) and ref:
                refs.setdefault(s.res.benchmark, {}).update(ref)
    for bench in sorted(refs):
        items = ", ".join(f"{k} = {v}" for k, v in sorted(refs[bench].items()))
        lines.append(f"- {bench} protocol card reference numbers: {items}")
    lines.append("")
    return lines


def benchmark_plots(rows: list[Row], columns: list[Column], out: Path) -> list[tuple[str, str, bytes]]:
    """One figure per benchmark: its headline metrics against iteration, one line per method variant,
    error bars from the judge runs' std where there is one, θ0 shared by every line."""
    base_rows = {r.base: r for r in rows if r.kind == "base"}
    made = []
    for bench in dict.fromkeys(c.bench for c in columns):
        panels = []
        for col in (c for c in columns if c.bench == bench and c.headline):
            series: dict[str, list[tuple[int, float, float, float]]] = defaultdict(list)
            for row in rows:
                if row.kind not in ("run", "seeds"):
                    continue
                s = row.chosen.get(col.slot)
                if row.kind == "seeds":
                    stats = seed_stats(row, col)
                    if stats is None:
                        continue
                    v, err = stats[0], (stats[1], stats[1])
                else:
                    v = value_of(s, col)
                    if v is None:
                        continue
                    err = error_bar(s, col, v)
                label = row.display_variant
                if row.method and row.method != row.variant:
                    label = f"{row.method}: {label}"
                series[label].append((int(row.iteration or 0), v, *err))
                b = base_rows.get(row.base)
                bs = b.chosen.get(col.slot) if b else None
                bv = value_of(bs, col)
                if bv is not None and all(p[0] != 0 for p in series[label]):
                    series[label].append((0, bv, *error_bar(bs, col, bv)))
            if series:
                panels.append((col.header, col.lower_is_better, dict(series)))
        if not panels:
            continue
        slug = "".join(ch if ch.isalnum() else "_" for ch in bench).lower()
        name = f"{out.stem}_{slug}.png"
        made.append((bench, name, render_benchmark_plot(bench, panels)))
    return made


def benchmark_labels(columns: list[Column], benchmark_classes: dict[str, type]) -> dict[str, str]:
    """ "bench/metric" -> column header, for the reported table (stored columns, then declared ones)."""
    labels = {f"{c.bench}/{c.metric}": c.label + (" ↓" if c.lower_is_better else "") for c in columns}
    for bench, cls in sorted(benchmark_classes.items(), key=lambda kv: kv[0]):
        for c in sorted(declared(getattr(cls, "columns", ())), key=lambda c: int(c.get("order", 100))):
            labels.setdefault(f"{bench}/{c['metric']}", c["label"] + (" ↓" if c.get("lower_is_better") else ""))
    return labels
