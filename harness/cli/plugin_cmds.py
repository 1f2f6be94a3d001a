"""`harness methods` and `harness benchmarks`: the registered plugins, their options and recipes."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from harness.cli.app import app, console_for_output, options_table, user_errors


@app.command("methods")
@user_errors
def methods_cmd(
    name: Optional[str] = typer.Argument(None, help="Show one method's options, variants and training recipe."),
) -> None:
    """List the registered self-evolution methods, with their options and variants."""
    from harness.plugin_info import (
        method_images,
        method_options,
        method_published,
        method_recipe,
        method_stages,
        method_variants,
        recipe_text,
        tiny_recipe,
    )
    from harness.plugins import registry

    reg = registry()
    console = console_for_output()
    if name is not None:
        cls = reg.method(name)
        console.print(f"[bold]{name}[/bold]: {getattr(cls, 'description', '')}  ({cls.__module__})", highlight=False)
        console.print(options_table("Options (harness evolve --set key=value)", method_options(cls), "--set"))
        variants = Table("variant", "overrides", title="Variants (harness evolve --variant NAME)", title_justify="left")
        for vname, over in sorted(method_variants(cls).items()):
            variants.add_row(vname, ", ".join(f"{k}={v}" for k, v in over.items()) or "(the defaults)")
        console.print(variants if method_variants(cls) else "No variants.")
        recipe = method_recipe(cls)
        console.print(
            "Training recipe, the paper's (a real checkpoint; on GPUs it trains in accelerate workers with ZeRO-3; "
            "harness evolve --train key=value overrides it): " + (recipe_text(recipe) or "the trainer's defaults"),
            highlight=False,
        )
        console.print(
            "Training recipe, the built-in tiny model's (`--model tiny`: the tiny-scale keys keep the tiny "
            "model's values, docs/training.md): " + (recipe_text(tiny_recipe(cls)) or "the trainer's defaults"),
            highlight=False,
        )
        console.print(f"Images (at real scale): {method_images(cls)}", highlight=False)
        stages = Table(
            "stage",
            "data",
            "objective",
            "recipe",
            "what it does",
            title="Training stages per iteration",
            title_justify="left",
        )
        for st in method_stages(cls):
            stages.add_row(st["stage"], st["data"], st["objective"], st["recipe"], st["summary"])
        console.print(stages)
        for src in cls.data_sources():
            console.print(
                f"Released data (`harness data pull {name}` writes data/{name}/{src.path}): {src.note}",
                highlight=False,
            )
        published = method_published(cls)
        console.print(
            "Published rows it reproduces (leaderboard's reported table): "
            + ("; ".join(published) if published else "none declared"),
            highlight=False,
        )
        return
    papers = Table("method", "description", "variants", "options", title="Registered methods")
    controls = Table("method", "description", "variants", "options", title="Validation controls (not a paper's method)")
    for mname, cls in sorted(reg.methods.items()):
        target = controls if getattr(cls, "validation_only", False) else papers
        target.add_row(
            mname,
            getattr(cls, "description", ""),
            ", ".join(sorted(method_variants(cls))) or "–",
            str(len(method_options(cls))),
        )
    if not reg.methods:
        console.print("No methods registered.")
        return
    console.print(papers)
    if controls.row_count:
        console.print(controls)
    console.print("`harness methods NAME` shows a method's --set options, variants and training recipe.")


@app.command("benchmarks")
@user_errors
def benchmarks_cmd(
    name: Optional[str] = typer.Argument(None, help="Show one benchmark's options and leaderboard columns."),
) -> None:
    """List the registered benchmarks, with their options."""
    from harness.plugin_info import benchmark_options
    from harness.plugins import registry

    reg = registry()
    console = console_for_output()
    if name is not None:
        cls = reg.benchmark(name)
        console.print(
            f"[bold]{name}[/bold]: {getattr(cls, 'description', '')}  ({cls.__module__}); judge: "
            f"{'yes' if getattr(cls, 'needs_judge', False) else 'no'}",
            highlight=False,
        )
        console.print(options_table("Options (harness eval --set key=value)", benchmark_options(cls), "--set"))
        cols = Table("column", "metric", "direction", "plotted", title="Leaderboard columns", title_justify="left")
        for c in getattr(cls, "columns", ()):
            cols.add_row(
                c.label,
                c.metric,
                "none (never marked best)"
                if getattr(c, "unranked", False)
                else "lower is better"
                if c.lower_is_better
                else "higher is better",
                "yes" if c.headline else "no",
            )
        console.print(cols)
        return
    table = Table("benchmark", "judge", "--eval default", "description", "options", title="Registered benchmarks")
    for bname, cls in sorted(reg.benchmarks.items()):
        table.add_row(
            bname,
            "yes" if getattr(cls, "needs_judge", False) else "no",
            "yes"
            if getattr(cls, "default_eval", False)
            else "no",  # scored after each iteration when --eval is not given
            getattr(cls, "description", ""),
            ", ".join(o.name for o in benchmark_options(cls)) or "–",
        )
    console.print(table if reg.benchmarks else "No benchmarks registered.")
