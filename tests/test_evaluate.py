"""``harness eval``'s engine: generate → predictions → score → results.json, judged and not."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

import benchmarks.llava_wild as llava_wild_plugin
import benchmarks.shapes as shapes_plugin
from harness.errors import HarnessError
from harness.evaluate import (
    DryRunReport,
    IncompleteResultError,
    evaluate,
    pending_models,
    resolve_model,
    results_path,
)
from harness.plugins import registry
from harness.report.results import SCHEMA, ModelRef, load_results
from tests.chat_server import ChatServer
from tests.test_shapes import ANSWERS

LLAVA_W = Path(__file__).parent / "fixtures" / "llava_wild"
SECRET = "sk-test-evaluate-0123456789abcdef"


@pytest.fixture(scope="module")
def reg():
    """The engine's backends and the two benchmarks these tests use, registered as plugins (no entry
    points: fast, and independent of what is installed)."""
    from harness.backends import builtin as builtin_backends

    return registry(entry_points=False, extra=[builtin_backends, shapes_plugin, llava_wild_plugin])


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def write_rows(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# ------------------------------------------------------------------------------- shapes, end to end


def test_tiny_model_end_to_end_writes_results_and_predictions(tiny_path, reg, tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "r-sena", "tiny", "sena", [], {})
    (runs / "r-sena" / "iter1").mkdir()
    (runs / "r-sena" / "iter1" / "checkpoint").symlink_to(tiny_path, target_is_directory=True)  # θ1 := tiny
    assert [m.id for m in pending_models(runs, "shapes")] == ["r-sena/theta1", "r-sena/theta0"]
    res = evaluate(
        "shapes",
        model="r-sena:1",
        runs_dir=runs,
        data_dir=tmp_path / "data",
        batch_size=16,
        bench_options={"scenes": 12},
        reg=reg,
        console=quiet(),
    )
    out = runs / "r-sena" / "iter1" / "eval" / "shapes"
    stored = json.loads((out / "results.json").read_text())
    assert stored["schema"] == SCHEMA and stored["benchmark"] == "shapes"
    assert stored["predictions_file"] == "predictions.jsonl"
    assert stored["model"] == {
        "id": "r-sena/theta1",
        "path": str(runs / "r-sena" / "iter1" / "checkpoint"),
        "run_id": "r-sena",
        "iteration": 1,
        "method": "sena",
        "variant": "sena",
        "base": "tiny",
    }
    assert [m.id for m in pending_models(runs, "shapes")] == ["r-sena/theta0"]
    loaded = load_results(out / "results.json")
    assert loaded.metrics == res.metrics
    assert set(res.metrics) >= {"Accuracy", "Precision", "Recall", "F1", "CHAIR", "Cover"}
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == len(res.records) == 48 and [p["id"] for p in preds] == [r["id"] for r in res.records]
    yes_no = [r for r in res.records if "correct" in r]
    assert len(yes_no) == 36 and all(isinstance(r["correct"], bool) for r in yes_no)
    # the warmed-up tiny model answers in the benchmark's formats
    assert sum(r["response"] in ("Yes", "No") for r in yes_no) >= 30
    described = [r for r in res.records if "score" in r]
    assert len(described) == 12 and sum(bool(r["mentions"]) for r in described) >= 10
    # scoring the written predictions file again gives the same numbers, without a model
    again = evaluate(
        "shapes",
        predictions=out / "predictions.jsonl",
        data_dir=tmp_path / "data",
        out=tmp_path / "again",
        bench_options={"scenes": 12},
        reg=reg,
        console=quiet(),
    )
    assert again.metrics == res.metrics and again.predictions_file == str((out / "predictions.jsonl").resolve())


def test_predictions_survive_a_crash_in_scoring(tiny_path, reg, tmp_path, monkeypatch):
    def broken(self, items, predictions, judge, *, runs=1):
        raise HarnessError("scorer exploded")

    monkeypatch.setattr(shapes_plugin.ShapesBenchmark, "score", broken)
    with pytest.raises(HarnessError, match="scorer exploded"):
        evaluate(
            "shapes",
            model=tiny_path,
            data_dir=tmp_path / "data",
            out=tmp_path / "o",
            bench_options={"scenes": 2},
            reg=reg,
            console=quiet(),
        )
    assert len((tmp_path / "o" / "predictions.jsonl").read_text().splitlines()) == 8
    assert not (tmp_path / "o" / "results.json").exists()


def test_predictions_file_gives_the_hand_computed_scores(reg, tmp_path):
    preds = write_rows(tmp_path / "p.jsonl", [{"id": k, "text": v} for k, v in ANSWERS.items()])
    res = evaluate(
        "shapes",
        predictions=preds,
        model="my-model",
        data_dir=tmp_path / "data",
        out=tmp_path / "o",
        bench_options={"scenes": 3},
        reg=reg,
        console=quiet(),
    )
    expected = {
        "CHAIR": 33.3,
        "Cover": 75.0,
        "Hal": 66.7,
        "Accuracy": 55.5,
        "Precision": 66.6,
        "Recall": 40.0,
        "F1": 50.0,
    }
    assert {k: res.metrics.get(k) for k in expected} == expected
    assert res.model.id == "my-model" and res.judge_usage == {}
    assert load_results(tmp_path / "o" / "results.json").records == res.records


@pytest.mark.parametrize(
    "extra, message",
    [
        ([{"id": "7-circle", "text": "Yes"}], r"p\.jsonl:13: unknown id '7-circle'"),
        ([{"id": "1-square", "text": "No"}], r"p\.jsonl:13: duplicated id '1-square'"),
        (["{not json"], r"p\.jsonl:13: malformed JSON line"),
        (None, r"p\.jsonl: no prediction for id 2-describe"),
    ],
)
def test_bad_predictions_stop_before_any_results_file(reg, tmp_path, extra, message):
    rows = [{"id": k, "text": v} for k, v in ANSWERS.items()]
    rows = rows[:-1] if extra is None else rows + extra
    preds = write_rows(tmp_path / "p.jsonl", rows)
    with pytest.raises(HarnessError, match=message):
        evaluate(
            "shapes",
            predictions=preds,
            data_dir=tmp_path / "data",
            out=tmp_path / "o",
            bench_options={"scenes": 3},
            reg=reg,
            console=quiet(),
        )
    assert not (tmp_path / "o").exists()


def test_unknown_benchmark_and_option_are_named(reg, tmp_path):
    with pytest.raises(HarnessError, match=r"unknown benchmark 'nope'; registered benchmarks: .*shapes"):
        evaluate("nope", model="tiny", reg=reg, console=quiet())
    with pytest.raises(HarnessError, match=r"benchmark 'shapes' has no option 'scene'"):
        evaluate("shapes", model="tiny", bench_options={"scene": 3}, reg=reg, console=quiet())
    with pytest.raises(HarnessError, match="give a model"):
        evaluate("shapes", reg=reg, console=quiet())


def test_dry_run_generates_nothing_and_writes_nothing(reg, tmp_path):
    report = evaluate(
        "shapes",
        model="tiny",
        dry_run=True,
        data_dir=tmp_path / "data",
        out=tmp_path / "o",
        bench_options={"scenes": 5},
        reg=reg,
        console=quiet(),
    )
    assert isinstance(report, DryRunReport)
    assert (report.items, report.to_generate, report.estimate) == (20, 20, None)
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------- judged: LLaVA-W


@pytest.fixture()
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_judged_benchmark_from_predictions_then_from_cache(reg, tmp_path, api_key):
    opts = dict(
        predictions=LLAVA_W / "answers_model.jsonl",
        data_dir=LLAVA_W,
        model="llava-v1.5-7b",
        judge_runs=3,
        judge_cache_dir=tmp_path / "cache",
        reg=reg,
        console=quiet(),
    )
    with ChatServer() as server:
        dry = evaluate("llava_wild", out=tmp_path / "dry", dry_run=True, judge_base_url=server.base_url, **opts)
        assert server.state.requests == 0 and not (tmp_path / "dry").exists()
        assert dry.exact and dry.estimate.calls == 15 and dry.estimate.cached == 0
        first = evaluate("llava_wild", out=tmp_path / "a", judge_base_url=server.base_url, **opts)
        assert server.state.requests == 15  # 5 questions x 3 runs
        second = evaluate("llava_wild", out=tmp_path / "b", judge_base_url=server.base_url, **opts)
        assert server.state.requests == 15  # all from the cache
    stored = load_results(tmp_path / "a" / "results.json")
    assert stored.judge_usage["calls"] == 15 and stored.judge_usage["failed_calls"] == 0
    assert stored.judge_usage["endpoint"].startswith("http://127.0.0.1:")
    assert len(stored.per_run) == 3 and "relative_score" in stored.metrics and "relative_score" in stored.std
    assert stored.failures["total"] == 0 and stored.protocol["judge_runs"] == 3
    assert second.judge_usage["calls"] == 0 and second.judge_usage["cached_calls"] == 15
    assert second.metrics == first.metrics
    for name in ("a", "b"):
        assert SECRET not in (tmp_path / name / "results.json").read_text()


def test_judge_failures_are_reported_and_never_become_a_result(reg, tmp_path, api_key):
    from tests.chat_server import ServerState, always

    console = quiet()
    with ChatServer(ServerState(fault_plan=always("401"))) as server:  # not retried: fast
        with pytest.raises(IncompleteResultError) as err:
            evaluate(
                "llava_wild",
                predictions=LLAVA_W / "answers_model.jsonl",
                data_dir=LLAVA_W,
                out=tmp_path / "o",
                judge_runs=1,
                judge_base_url=server.base_url,
                judge_cache_dir=tmp_path / "cache",
                reg=reg,
                console=console,
                bench_options={},
            )
    assert "5 of 5 judgements are missing" in str(err.value) and "HTTP 401" in str(err.value)
    assert not (tmp_path / "o" / "results.json").exists()
    partial = load_results(tmp_path / "o" / "results.partial.json")
    assert not partial.complete and len(partial.missing) == 5 and partial.judge_usage["failed_calls"] >= 1
    text = console.file.getvalue()
    assert "Judge failures" in text and "run0" in text and "HTTP 401" in text and "Traceback" not in text


def test_no_key_and_no_base_url_fails_before_any_work(reg, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(HarnessError, match="no credentials"):
        # neither the data folder nor the model exists: the credentials error must come first
        evaluate(
            "llava_wild",
            model=tmp_path / "no-model",
            data_dir=tmp_path / "no-data",
            out=tmp_path / "o",
            reg=reg,
            console=quiet(),
        )
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------- which models


def make_run(root: Path, run_id: str, base: str, method: str, iters: list[int], done: dict[int, list[str]]) -> None:
    run = root / run_id
    run.mkdir(parents=True)
    config = {"base_model": base, "method": method, "variant": method}
    (run / "manifest.json").write_text(json.dumps({"run_id": run_id, "config": config, **config}))
    for i in iters:
        (run / f"iter{i}" / "checkpoint").mkdir(parents=True)
        (run / f"iter{i}" / "checkpoint" / "config.json").write_text("{}")
    for i, benches in done.items():
        for bench in benches:
            (run / f"iter{i}" / "eval" / bench).mkdir(parents=True)
            (run / f"iter{i}" / "eval" / bench / "results.json").write_text("{}")


def test_pending_models_lists_unscored_checkpoints_then_each_base_once(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "a-sena", "tiny", "sena", [1, 2], {2: ["shapes"]})
    (runs / "a-sena" / "iter3").mkdir()  # θ3 not trained yet: no checkpoint
    make_run(runs, "b-seva", "tiny", "seva", [1], {0: ["shapes"]})
    make_run(runs, "c-sena", "/models/llava-1.5-7b", "sena", [1], {})
    (runs / "not-a-run").mkdir()
    ids = [m.id for m in pending_models(runs, "shapes")]
    assert ids == ["a-sena/theta1", "b-seva/theta1", "c-sena/theta1", "c-sena/theta0"]
    amber = pending_models(runs, "amber")
    assert [m.id for m in amber] == [
        "a-sena/theta1",
        "a-sena/theta2",
        "b-seva/theta1",
        "c-sena/theta1",
        "a-sena/theta0",
        "c-sena/theta0",
    ]
    theta2, theta0 = amber[1], amber[4]
    assert (theta2.run_id, theta2.iteration, theta2.method, theta2.variant, theta2.base) == (
        "a-sena",
        2,
        "sena",
        "sena",
        "tiny",
    )
    assert theta2.path == str(runs / "a-sena" / "iter2" / "checkpoint")
    assert (theta0.path, theta0.iteration, theta0.method) == ("tiny", 0, None)
    assert (
        results_path(theta2, "amber", runs, tmp_path / "results")
        == runs / "a-sena" / "iter2" / "eval" / "amber" / "results.json"
    )
    assert (
        results_path(ModelRef(id="/models/my model"), "amber", runs, tmp_path / "results")
        == tmp_path / "results" / "models_my_model" / "amber" / "results.json"
    )
    assert pending_models(tmp_path / "absent", "shapes") == []


def test_run_and_iteration_resolve_to_the_checkpoint(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "a-sena", "tiny", "sena", [1], {})
    ref = resolve_model("a-sena:1", runs)
    assert (ref.id, ref.path, ref.iteration) == ("a-sena/theta1", str(runs / "a-sena" / "iter1" / "checkpoint"), 1)
    assert resolve_model("a-sena:0", runs).path == "tiny"
    with pytest.raises(HarnessError, match=r"iter2[/\\]checkpoint: no checkpoint for θ2 of run a-sena"):
        resolve_model("a-sena:2", runs)
    with pytest.raises(HarnessError, match="no run 'zzz'"):
        resolve_model("zzz:1", runs)
