"""`harness tiny info` and `harness tiny rebuild`: the shipped built-in models, and how far a local
rebuild of their recipe lands from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from harness.cli.app import console_for_output, tiny_app, user_errors


@tiny_app.command("info")
@user_errors
def tiny_info() -> None:
    """The shipped tiny LLaVA and tiny CLIP: fingerprint, what they were built with and on, and whether the
    recipe asked for today (with the installed plugins' warm-up tasks) is the shipped one."""
    from harness.policy import tiny, tiny_clip
    from harness.policy.shipped import read_manifest, shipped_folder

    console = console_for_output()
    recipe = tiny.default_recipe()
    wanted = {
        tiny.SHIPPED_NAME: tiny.fingerprint(recipe, tiny.build_corpus(recipe, tiny.collect_tasks())),
        tiny_clip.SHIPPED_NAME: tiny_clip.fingerprint(tiny_clip.TinyClipRecipe()),
    }
    table = Table("model", "shipped fingerprint", "asked for", "built with", "built on", title="Built-in models")
    for name, fp in wanted.items():
        manifest = read_manifest(name)
        if manifest is None:
            table.add_row(name, "none shipped", fp, "–", "–")
            continue
        env = manifest["built_on"]
        used = "[green]the shipped one[/]" if manifest["fingerprint"] == fp else f"[yellow]{fp} (built locally)[/]"
        table.add_row(
            name,
            manifest["fingerprint"],
            used,
            f"torch {env['torch']}, transformers {env['transformers']}, {env['torch_threads']} thread(s)",
            f"{env['cpu']} ({env['machine']})",
        )
        console.print(f"{name}: {shipped_folder(name)}", highlight=False)
    console.print(table)


@tiny_app.command("rebuild")
@user_errors
def tiny_rebuild(
    seed: Optional[int] = typer.Option(None, help="Build seed (default: the shipped recipe's, 0)."),
    cache_dir: Optional[Path] = typer.Option(None, help="Where the rebuilt model goes (default: the cache)."),
    scenes: int = typer.Option(100, help="Held-out scenes whose answers both models give."),
    ship: bool = typer.Option(
        False, help="Maintainers: replace the shipped model with this build (and ship the tiny CLIP built here)."
    ),
    out: Optional[Path] = typer.Option(None, help="Also write the comparison as JSON here."),
) -> None:
    """Rebuild the tiny LLaVA by its recipe on this machine and report how far it lands from the shipped
    model: weights (largest and relative L2 difference) and greedy answers on held-out scenes."""
    import dataclasses

    from harness.options import at_least
    from harness.policy import tiny
    from harness.policy.rebuild import behaviour_agreement, weight_distance
    from harness.policy.shipped import read_manifest, shipped_folder
    from harness.policy.shipped import ship as ship_model

    at_least("--scenes", scenes, 1)
    console = console_for_output()
    recipe = tiny.default_recipe()
    if seed is not None:
        at_least("--seed", seed, 0)
        recipe = dataclasses.replace(recipe, seed=seed)
    corpus = tiny.build_corpus(recipe, tiny.collect_tasks())
    fp = tiny.fingerprint(recipe, corpus)
    rebuilt = tiny.ensure_tiny(cache_dir, recipe=recipe, use_shipped=False)
    report = {"rebuilt": str(rebuilt), "fingerprint": fp}
    manifest = read_manifest(tiny.SHIPPED_NAME)
    if manifest is not None:
        shipped = shipped_folder(tiny.SHIPPED_NAME)
        report.update(
            shipped=str(shipped),
            same_recipe=manifest["fingerprint"] == fp,
            weights=weight_distance(shipped, rebuilt),
            behaviour=behaviour_agreement(shipped, rebuilt, scenes),
        )
        w, b = report["weights"], report["behaviour"]
        if w.get("same_architecture"):
            console.print(
                f"weights: {w['tensors_identical']}/{w['tensors']} tensors identical, largest difference "
                f"{w['max_abs_difference']:.3g}, relative L2 {w['relative_l2']:.3g}",
                highlight=False,
            )
        console.print(
            f"answers on {b['scenes']} held-out scenes: {100 * b['identical_answers']:.1f} % identical "
            f'(descriptions {100 * b["identical_descriptions"]:.1f} %); "Yes" {100 * b["yes_rate_shipped"]:.1f} % '
            f"shipped, {100 * b['yes_rate_rebuilt']:.1f} % rebuilt"
            + ("" if report["same_recipe"] else " (another recipe or seed than the shipped model's)"),
            highlight=False,
        )
    else:
        console.print("no tiny model is shipped with this installation: nothing to compare with")
    if ship:
        from harness.policy import tiny_clip

        console.print(f"shipped: {ship_model(rebuilt, tiny.SHIPPED_NAME, fp, {'recipe_seed': recipe.seed})}")
        clip_recipe = tiny_clip.TinyClipRecipe()
        clip = tiny_clip.ensure_tiny_clip(cache_dir, recipe=clip_recipe, use_shipped=False)
        console.print(f"shipped: {ship_model(clip, tiny_clip.SHIPPED_NAME, tiny_clip.fingerprint(clip_recipe))}")
    if out is not None:
        from harness import atomic

        atomic.write_json(out, report)
    console.print_json(json.dumps(report))
