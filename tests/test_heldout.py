"""Held-out pairs: images drawn beyond the trained ones, their pairs set aside, never trained on, and the
training's reward margin on them (θi against θi−1) with a bootstrap interval, shown in the leaderboard."""

from __future__ import annotations

import json

import pytest

from harness.evolve.heldout import heldout_ids, margin_summary, split_pairs
from harness.evolve.options import EvolveOptions, heldout_count
from harness.images.sources import ImageRef


def test_which_images_are_held_out():
    refs = [ImageRef(f"coco/{k}.jpg") for k in range(40)] + [ImageRef(f"vg/{k}.jpg") for k in range(40)]
    held = heldout_ids(refs, 16, seed=3)
    assert len(held) == 16 and held == heldout_ids(list(reversed(refs)), 16, seed=3)  # by id, not by position
    assert held != heldout_ids(refs, 16, seed=4)
    assert {h.split("/")[0] for h in held} == {"coco", "vg"}  # spread over the sources
    assert heldout_ids(refs, 0, seed=3) == set()
    train, out = split_pairs([{"image": r.id} for r in refs], held)
    assert len(out) == 16 and not {p["image"] for p in train} & held


def test_default_count():
    assert heldout_count(EvolveOptions(method="x"), 128) == 32
    assert heldout_count(EvolveOptions(method="x"), 12) == 3
    assert heldout_count(EvolveOptions(method="x", model="ckpt/llava"), 6000) == 256
    assert heldout_count(EvolveOptions(method="x", heldout_images=0), 128) == 0


def test_margin_by_hand():
    examples = [{"rejected": "no"}, {"rejected": "no"}, {"rejected": ""}]
    before = [{"chosen_logps": -10.0, "rejected_logps": -12.0}] * 3
    after = [
        {"chosen_logps": -9.0, "rejected_logps": -13.0},  # margin 0.1·(1 − (−1)) = 0.2
        {"chosen_logps": -10.5, "rejected_logps": -11.0},  # 0.1·(−0.5 − 1) = −0.15
        {"chosen_logps": -8.0, "rejected_logps": -12.0},  # no rejected: chosen reward only
    ]
    out = margin_summary(examples, before, after, beta=0.1)
    assert out["with_rejected"] == 2 and out["margins"] == pytest.approx([0.2, -0.15])
    assert out["margin"] == pytest.approx(0.025, abs=1e-6) and out["accuracy"] == 0.5
    assert out["chosen_reward"] == pytest.approx((0.1 - 0.05 + 0.2) / 3, abs=1e-6)  # rounded to 6 places
    lo, hi = out["margin_interval"]
    assert lo <= 0.025 <= hi and not out["significant"]


def test_a_run_holds_pairs_out_and_measures_them(tiny_path, tmp_path):
    from harness.evolve import EvolveOptions as Options
    from harness.evolve import evolve

    run_dir = tmp_path / "runs" / "povid"
    evolve(
        Options(
            method="povid",
            iters=1,
            run_dir=run_dir,
            images_per_iter=4,
            heldout_images=4,
            evals=["shapes"],
            eval_options={"bench_options": {"scenes": 3}},
            progress=False,
        )
    )
    it = run_dir / "iter1"
    images = [r["id"] for r in json.loads((it / "images.json").read_text())]
    trained = [json.loads(x) for x in (it / "pairs.jsonl").read_text().splitlines()]
    held = [json.loads(x) for x in (it / "heldout_pairs.jsonl").read_text().splitlines()]
    assert len(images) == 8 and len(held) == 4 and len(trained) == 4
    assert not {p["image"] for p in trained} & {p["image"] for p in held}
    stats = json.loads((it / "stats.json").read_text())
    assert (stats["images"], stats["heldout_images"], stats["heldout_pairs"]) == (4, 4, 4)
    result = json.loads((it / "heldout.json").read_text())
    assert result["pairs"] == 4 and result["with_rejected"] == 4 and len(result["margins"]) == 4
    assert result["margin"] == pytest.approx(sum(result["margins"]) / 4, abs=1e-6)
    assert any(m != 0 for m in result["margins"]), "θ1 differs from θ0 on the held-out pairs"
    from harness.report.leaderboard import build_leaderboard

    out = tmp_path / "board.md"
    build_leaderboard([run_dir.parent], out)
    table = out.read_text().split("## Pairs and training", 1)[1].split("\n## ", 1)[0]
    assert "Held-out margin" in table and f"{result['margin']:.3f} [" in table
    # the pair audit plotted per iteration beside the benchmark plots
    assert "![pair audit: headline metrics against iteration](board_pair_audit.png)" in out.read_text()
    assert (tmp_path / "board_pair_audit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
