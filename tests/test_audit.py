"""The truth audit of preference pairs: exact shares on hand-made pairs, the oracle's pairs audit right,
images without truth are 'not audited' (never wrong), the audit stage and command, the leaderboard table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.shapes.audit import SyntheticPairAuditor, mark_answer
from harness.audit import audit_pairs, audit_run, find_auditor
from harness.cli import app
from harness.images.synthetic import make_scene
from harness.method import PreferencePair

NS = "audit-test"


def _scene_with_two_kinds():
    for index in range(200):
        scene = make_scene(NS, index)
        if len(scene.shapes) == 2:
            return index, scene
    raise AssertionError("no two-shape scene")


def _pair(index: int, prompt: str, chosen: str, rejected: str) -> PreferencePair:
    return PreferencePair(f"synthetic/{NS}/{index}", prompt, chosen, rejected, "des")


def test_hand_made_pairs_give_the_exact_shares():
    index, scene = _scene_with_two_kinds()
    truth = scene.caption()
    a, b = scene.shapes
    absent = next(k for k in ("circle", "square", "triangle") if k not in scene.objects)
    invented = f"There is a {a.name} and a green {absent}."
    pairs = [
        _pair(index, "Describe the image.", truth, invented),  # correct: chosen is the truth
        _pair(index, "Describe the image.", invented, truth),  # inverted
        _pair(index, "Describe the image.", truth, truth.replace("There is", "I see")),  # tied: same content
        _pair(index, f"What color is the {b.kind}?", b.color.capitalize(), "Purple"),  # correct short answer
    ]
    report = audit_pairs(pairs, SyntheticPairAuditor())
    s = report["summary"]
    assert s["audited"] == 4 and s["precision"] == 50.0 and s["inverted"] == 25.0 and s["tied"] == 25.0
    assert [m["verdict"] for m in report["marks"]] == ["correct", "inverted", "tied", "correct"]
    assert report["marks"][1]["chosen"]["hallucinated"] == 1 and report["marks"][1]["rejected"]["hallucinated"] == 0
    assert s["hallucinated_per_chosen"] == 0.25 and s["hallucinated_per_rejected"] == 0.25
    lo, hi = s["precision_interval"]
    assert 0 <= lo <= 50.0 <= hi <= 100


def test_short_answers_are_judged_against_the_scene():
    index, scene = _scene_with_two_kinds()
    a = scene.shapes[0]
    absent = next(k for k in ("circle", "square", "triangle") if k not in scene.objects)
    assert mark_answer(f"Is there a {a.kind} in this image?", "Yes", scene).score == 1.0
    assert mark_answer(f"Is there a {absent} in this image?", "Yes", scene).score == 0.0
    assert mark_answer("How many shapes are in the image?", "Two", scene).score == 1.0
    assert mark_answer("How many shapes are in the image?", "Three", scene).score == 0.0
    assert mark_answer(f"Which shape is {a.color}?", a.kind.capitalize(), scene).score == 1.0


def test_images_without_truth_are_not_audited_never_wrong():
    pairs = [PreferencePair("photos/cat.jpg", "Describe the image.", "A cat.", "A dog.", "des")]
    report = audit_pairs(pairs, SyntheticPairAuditor())
    assert report["summary"] == {"auditor": "shapes", "pairs": 1, "audited": 0}
    assert report["marks"] == [{"pair": 0, "audited": False}]
    assert find_auditor({"kind": "folder", "root": "/photos"}) is None
    assert audit_pairs(pairs, None)["summary"]["audited"] == 0


def test_the_oracles_pairs_audit_right(tiny_policy):
    import methods.oracle.method as oracle
    from harness.backends.hf import HFBackend
    from harness.images.sources import SyntheticSource
    from harness.method import SynthesisContext, build_config

    source = SyntheticSource("audit-oracle", 16)
    cfg = build_config(oracle.Oracle, ["prompts_per_image=1", "max_new_tokens=32"])
    ctx = SynthesisContext(seed=0, iteration=1, checkpoint="tiny", open_image=source.open, progress=False)
    out = oracle.Oracle(cfg).synthesize(HFBackend(tiny_policy, progress=False), list(source.refs()), ctx)
    s = audit_pairs(out.pairs, SyntheticPairAuditor())["summary"]
    # chosen is the scene's true caption: never worse than the noised image's description, better whenever
    # that one errs (the default runs: 44-49 % better, the rest tied, none inverted)
    assert s["audited"] == len(out.pairs) > 0 and s["inverted"] == 0.0
    assert s["precision"] + s["tied"] == 100.0 and s["hallucinated_per_chosen"] == 0.0


def _fake_run(root: Path, source: dict, pairs: list[PreferencePair]) -> Path:
    run = root / "run"
    (run / "stages").mkdir(parents=True)
    (run / "iter1").mkdir()
    (run / "manifest.json").write_text(json.dumps({"run_id": "run", "config": {"images": {"source": source}}}))
    (run / "iter1" / "pairs.jsonl").write_text("".join(json.dumps(p.to_dict()) + "\n" for p in pairs))
    (run / "stages" / "synthesize-1.done").write_text("{}")
    (run / "iter2").mkdir()  # an unfinished iteration: no marker, not audited
    return run


def test_the_audit_command_writes_beside_the_pairs_and_refuses_what_is_not_a_run(tmp_path):
    index, scene = _scene_with_two_kinds()
    run = _fake_run(tmp_path, {"kind": "synthetic", "namespace": NS}, [_pair(index, "Describe.", scene.caption(), "x")])
    result = CliRunner().invoke(app, ["audit", str(run)])
    assert result.exit_code == 0, result.output
    audit = json.loads((run / "iter1" / "audit.json").read_text())
    assert audit["summary"]["audited"] == 1 and audit["summary"]["precision"] == 100.0
    assert not (run / "iter2" / "audit.json").exists()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    bad = CliRunner().invoke(app, ["audit", str(run), str(tmp_path / "elsewhere")])
    assert bad.exit_code == 2 and "not a run folder" in bad.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_audit_run_on_images_without_truth_says_so(tmp_path):
    run = _fake_run(tmp_path, {"kind": "folder"}, [PreferencePair("a.jpg", "Describe.", "x", "y", "des")])
    assert audit_run(run) == {1: {"auditor": None, "pairs": 1, "audited": 0}}
    result = CliRunner().invoke(app, ["audit", str(run)])
    assert result.exit_code == 0 and "no known truth" in result.output


@pytest.mark.parametrize("truth", [True, False])
def test_the_leaderboard_shows_the_audit_or_a_dash(tmp_path, truth):
    from harness.report.leaderboard import build_leaderboard
    from tests.test_leaderboard import TOY_REG, _ref, _run, _toy

    runs = tmp_path / "runs"
    run = _run(runs, "sena-a", "sena", "sena", 1)
    _toy(run / "iter1/eval/toy/results.json", _ref("sena-a", "sena", "sena", 1), [1, 0])
    summary = (
        {"auditor": "shapes", "pairs": 4, "audited": 4, "precision": 75.0, "precision_interval": [25.0, 100.0]}
        | {"inverted": 0.0, "tied": 25.0, "hallucinated_per_chosen": 0.0, "hallucinated_per_rejected": 0.5}
        | {"mentions_per_chosen": 2.0, "mentions_per_rejected": 2.5}
        if truth
        else {"auditor": None, "pairs": 4, "audited": 0}
    )
    (run / "iter1" / "audit.json").write_text(json.dumps({"summary": summary, "marks": []}))
    out = tmp_path / "lb.md"
    build_leaderboard([runs], out, reg=TOY_REG)
    section = out.read_text().split("## Pair audit", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith("| sena"))
    if truth:
        assert row.endswith("| 4 | 4 | 75.0 [25.0, 100.0] | 0.0 | 25.0 | 0.00 | 0.50 | 2.00 / 2.50 |"), row
    else:
        assert row.endswith("| 4 | 0 | – | – | – | – | – | – |"), row  # never 0 %
