"""No result is ever lost or silently replaced, and every failure is loud (``harness eval`` and the results files).

- a ``--limit`` smoke result is stored apart, flagged (``subset``), and never replaces the full result;
- a judged run whose judge never answers (HTTP 401, ``--max-cost`` exhausted) leaves the stored result
  byte-identical, writes results.partial.json and exits 1; the same command then asks only for the
  missing judgements;
- results are keyed by what produced them: two predictions files with the same name are two results,
  and a result of another identity is never replaced;
- a rerun reuses what exists (the stored result, or the generated predictions);
- a results file of a newer schema is refused with its name; files honour the umask; non-UTF-8 input
  is refused with the option, file and line.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import benchmarks.llava_wild as llava_wild_plugin
import benchmarks.shapes as shapes_plugin
from harness import atomic
from harness.cli import app
from harness.errors import HarnessError
from harness.evaluate import evaluate
from harness.plugins import registry
from harness.report.results import load_results
from tests.chat_server import ChatServer, ServerState, always
from tests.test_evaluate import make_run
from tests.test_shapes import ANSWERS

LLAVA_W = Path(__file__).parent / "fixtures" / "llava_wild"
SECRET = "sk-test-integrity-0123456789abcdef"
runner = CliRunner()


@pytest.fixture(scope="module")
def reg():
    from harness.backends import builtin as builtin_backends

    return registry(entry_points=False, extra=[builtin_backends, shapes_plugin, llava_wild_plugin])


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def shapes_predictions(path: Path, scenes: int = shapes_plugin.DEFAULT_SCENES, text: str = "Yes") -> Path:
    """A predictions file for every item of the shapes benchmark (``text`` for yes/no, a caption otherwise)."""
    bench = shapes_plugin.ShapesBenchmark(scenes=scenes)
    items = bench.load(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    bench.write_predictions(path, items, {it.id: ("A red circle." if "describe" in it.id else text) for it in items})
    return path


def cli(args: list[str], tmp_path: Path, **env: str):
    env = {"COLUMNS": "200", "OPENAI_API_KEY": SECRET, "XDG_CACHE_HOME": str(tmp_path / "xdg"), **env}
    return runner.invoke(app, args, env=env)


# ------------------------------------------------------------------------------------ --limit


def test_limit_smoke_result_is_stored_apart_flagged_and_never_replaces_the_full_one(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "r-sena", "tiny", "sena", [2], {})
    preds = shapes_predictions(tmp_path / "p.jsonl")
    base = [
        "eval",
        "--bench",
        "shapes",
        "--model",
        "r-sena:2",
        "--predictions",
        str(preds),
        "--runs-dir",
        str(runs),
        "--data-dir",
        str(tmp_path / "data"),
    ]
    full = cli(base, tmp_path)
    assert full.exit_code == 0, full.output
    out = runs / "r-sena" / "iter2" / "eval" / "shapes"
    good = (out / "results.json").read_bytes()
    smoke = cli(base + ["--limit", "2"], tmp_path)
    assert smoke.exit_code == 0, smoke.output
    assert (out / "results.json").read_bytes() == good  # the full result is untouched
    assert "smoke run: 2 of 400 items, stored apart" in smoke.output
    limited = load_results(out / "results.limit2.json")
    assert limited.subset == {"limit": 2, "items": 2, "total": 400} and len(limited.records) == 2
    stored = load_results(out / "results.json")
    assert stored.subset is None and len(stored.records) == 400
    assert stored.identity["items"]["limit"] is None and limited.identity["items"]["limit"] == 2
    assert stored.identity["hash"] != limited.identity["hash"]
    assert json.loads((out / "results.limit2.json").read_text())["subset"]["limit"] == 2
    # a --limit as large as the benchmark is the full benchmark: the same result, reused
    again = cli(base + ["--limit", "400"], tmp_path)
    assert again.exit_code == 0 and "already scored" in again.output
    assert (out / "results.json").read_bytes() == good


# ------------------------------------------------------------------------------------ judge failures


def _llava_w_args(tmp_path: Path, url: str, *extra: str) -> list[str]:
    return [
        "eval",
        "--bench",
        "llava_wild",
        "--predictions",
        str(LLAVA_W / "answers_model.jsonl"),
        "--model",
        "llava-v1.5-7b",
        "--data-dir",
        str(LLAVA_W),
        "--judge-runs",
        "1",
        "--judge-concurrency",
        "1",
        "--judge-base-url",
        url,
        "--out",
        str(tmp_path / "o"),
        *extra,
    ]


@pytest.mark.parametrize("failure", ["401", "max-cost"])
def test_an_all_failed_judge_leaves_the_good_result_byte_identical_and_exits_1(tmp_path, failure):
    with ChatServer() as server:
        first = cli(_llava_w_args(tmp_path, server.base_url), tmp_path)
    assert first.exit_code == 0, first.output
    good = (tmp_path / "o" / "results.json").read_bytes()
    state = ServerState(fault_plan=always("401")) if failure == "401" else ServerState()
    extra = ["--rescore", "--no-judge-cache"] + (["--max-cost", "0"] if failure == "max-cost" else [])
    with ChatServer(state) as server:
        res = cli(_llava_w_args(tmp_path, server.base_url, *extra), tmp_path)
        sent = server.state.requests
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    msg = " ".join(res.output.split())
    assert "5 of 5 judgements are missing" in msg and "results.json is unchanged" in msg
    assert ("HTTP 401" in msg) if failure == "401" else ("budget exhausted" in msg and sent == 0)
    assert (tmp_path / "o" / "results.json").read_bytes() == good
    partial = load_results(tmp_path / "o" / "results.partial.json")
    assert len(partial.missing) == 5 and not partial.complete
    assert len({str(m["item"]) for m in partial.missing}) == 5  # every question, by id


def test_rerunning_the_same_command_asks_only_for_the_missing_judgements(tmp_path):
    calls = {"n": 0}

    def first_two_then_401(body: dict, nth: int) -> str | None:
        calls["n"] += 1
        return None if calls["n"] <= 2 else "401"

    with ChatServer(ServerState(body_fault=first_two_then_401)) as server:
        res = cli(_llava_w_args(tmp_path, server.base_url), tmp_path)
    assert res.exit_code == 1, res.output
    msg = " ".join(res.output.split())
    assert "3 of 5 judgements are missing" in msg and "only for these 3" in msg and "holds the other 2" in msg
    assert not (tmp_path / "o" / "results.json").exists()
    assert len(load_results(tmp_path / "o" / "results.partial.json").missing) == 3
    with ChatServer() as server:
        done = cli(_llava_w_args(tmp_path, server.base_url), tmp_path)
        assert server.state.requests == 3  # the two answered ones come from the judge cache
    assert done.exit_code == 0, done.output
    final = load_results(tmp_path / "o" / "results.json")
    assert final.complete and final.judge_usage["cached_calls"] == 2
    assert not (tmp_path / "o" / "results.partial.json").exists()


# ------------------------------------------------------------------------------------ identity


def test_two_predictions_files_with_the_same_name_give_two_results(reg, tmp_path):
    a = shapes_predictions(tmp_path / "iter1" / "predictions.jsonl", scenes=3, text="Yes")
    b = shapes_predictions(tmp_path / "iter3" / "predictions.jsonl", scenes=3, text="No")
    opts = dict(
        data_dir=tmp_path / "data",
        bench_options={"scenes": 3},
        results_dir=tmp_path / "results",
        reg=reg,
        console=quiet(),
    )
    ra = evaluate("shapes", predictions=a, **opts)
    rb = evaluate("shapes", predictions=b, **opts)
    files = sorted((tmp_path / "results").rglob("results.json"))
    assert len(files) == 2 and ra.model.id != rb.model.id
    assert ra.model.id.startswith("predictions@") and ra.metrics != rb.metrics
    hashes = {load_results(f).identity["model"]["sha256"] for f in files}
    assert hashes == {ra.predictions_sha256, rb.predictions_sha256}
    # the same file again: the same result, reused (not scored again, not replaced)
    before = files[0].read_bytes()
    evaluate("shapes", predictions=a, **opts)
    evaluate("shapes", predictions=b, **opts)
    assert files[0].read_bytes() == before and len(list((tmp_path / "results").rglob("results*.json"))) == 2


def test_a_result_of_another_identity_is_never_replaced(reg, tmp_path):
    a = write_answers(tmp_path / "a.jsonl", "Yes")
    b = write_answers(tmp_path / "b.jsonl", "No")
    opts = dict(data_dir=tmp_path / "data", bench_options={"scenes": 3}, out=tmp_path / "o", reg=reg, console=quiet())
    evaluate("shapes", predictions=a, model="m", **opts)
    good = (tmp_path / "o" / "results.json").read_bytes()
    with pytest.raises(
        HarnessError,
        match=r"o[/\\]results\.json holds another result \(it differs in model\.sha256\)"
        r".*give another --out",
    ):
        evaluate("shapes", predictions=b, model="m", **opts)
    with pytest.raises(HarnessError, match=r"differs in protocol\.options\.normalize_answers\)"):
        evaluate(
            "shapes", predictions=a, model="m", **{**opts, "bench_options": {"scenes": 3, "normalize_answers": True}}
        )
    assert (tmp_path / "o" / "results.json").read_bytes() == good
    # a result written before identities existed is kept too
    legacy = json.loads(good)
    legacy.pop("identity")
    (tmp_path / "o" / "results.json").write_text(json.dumps(legacy))
    with pytest.raises(HarnessError, match="without an identity"):
        evaluate("shapes", predictions=a, model="m", **opts)


def write_answers(path: Path, text: str) -> Path:
    rows = [{"id": k, "text": (text if "describe" not in k else v)} for k, v in ANSWERS.items()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_newer_results_schema_is_refused_with_its_name(reg, tmp_path):
    preds = write_answers(tmp_path / "p.jsonl", "Yes")
    opts = dict(data_dir=tmp_path / "data", bench_options={"scenes": 3}, out=tmp_path / "o", reg=reg, console=quiet())
    evaluate("shapes", predictions=preds, **opts)
    path = tmp_path / "o" / "results.json"
    data = json.loads(path.read_text())
    data["schema"] = "harness.results/2"
    path.write_text(json.dumps(data))
    newer = path.read_bytes()
    with pytest.raises(HarnessError, match=r"o[/\\]results\.json: results schema 'harness\.results/2' is newer"):
        load_results(path)
    with pytest.raises(HarnessError, match=r"results\.json: results schema 'harness\.results/2' is newer.*left as"):
        evaluate("shapes", predictions=preds, **opts)
    assert path.read_bytes() == newer
    data["schema"] = "something/1"
    path.write_text(json.dumps(data))
    with pytest.raises(HarnessError, match=r"results\.json: not a results file"):
        load_results(path)


# ------------------------------------------------------------------------------------ reuse


def test_a_rerun_reuses_generated_predictions_and_the_stored_result(tiny_path, reg, tmp_path, monkeypatch):
    import harness.evaluate.run as ev

    opts = dict(
        model=tiny_path,
        data_dir=tmp_path / "data",
        out=tmp_path / "o",
        bench_options={"scenes": 2},
        reg=reg,
        console=quiet(),
    )
    real_score = shapes_plugin.ShapesBenchmark.score

    def broken(self, items, predictions, judge, *, runs=1):
        raise HarnessError("scorer exploded")

    monkeypatch.setattr(shapes_plugin.ShapesBenchmark, "score", broken)
    with pytest.raises(HarnessError, match="scorer exploded"):
        evaluate("shapes", **opts)
    generated = (tmp_path / "o" / "predictions.jsonl").read_bytes()
    assert json.loads((tmp_path / "o" / "generation.json").read_text())["model"]["kind"] == "checkpoint"

    def no_generation(*args, **kwargs):
        raise AssertionError("predictions were generated again")

    monkeypatch.setattr(ev, "generate_predictions", no_generation)
    monkeypatch.setattr(shapes_plugin.ShapesBenchmark, "score", real_score)
    first = evaluate("shapes", **opts)  # reuses the predictions of the same model and items
    assert (tmp_path / "o" / "predictions.jsonl").read_bytes() == generated
    stored = (tmp_path / "o" / "results.json").read_bytes()
    monkeypatch.setattr(shapes_plugin.ShapesBenchmark, "score", broken)
    again = evaluate("shapes", **opts)  # the same result: reused, nothing scored
    assert again.metrics == first.metrics and (tmp_path / "o" / "results.json").read_bytes() == stored
    monkeypatch.setattr(shapes_plugin.ShapesBenchmark, "score", real_score)
    rescored = evaluate("shapes", rescore=True, **opts)
    assert rescored.metrics == first.metrics and rescored.identity == first.identity


# ------------------------------------------------------------------------------------ files and input


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_written_files_are_0644_and_folders_0755_under_umask_022(reg, tmp_path, umask_022):
    f = atomic.write_json(tmp_path / "a" / "b.json", {"x": 1})
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    d = atomic.make_temp_dir(".t-", tmp_path)
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
    preds = write_answers(tmp_path / "p.jsonl", "Yes")
    evaluate(
        "shapes",
        predictions=preds,
        data_dir=tmp_path / "data",
        bench_options={"scenes": 3},
        out=tmp_path / "o",
        reg=reg,
        console=quiet(),
    )
    assert stat.S_IMODE((tmp_path / "o" / "results.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "o").stat().st_mode) == 0o755
    os.umask(0o027)
    g = atomic.write_text(tmp_path / "c.txt", "x")
    assert stat.S_IMODE(g.stat().st_mode) == 0o640


def test_non_utf8_input_is_refused_naming_the_option_file_and_line(reg, tmp_path):
    preds = write_answers(tmp_path / "p.jsonl", "Yes")
    lines = preds.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"Yes", b"Y\xe9s")  # Latin-1, not UTF-8
    preds.write_bytes(b"\n".join(lines))
    with pytest.raises(HarnessError, match=r"--predictions .*p\.jsonl:4: not UTF-8 text \(byte 0xe9"):
        evaluate(
            "shapes",
            predictions=preds,
            data_dir=tmp_path / "data",
            bench_options={"scenes": 3},
            out=tmp_path / "o",
            reg=reg,
            console=quiet(),
        )
    assert not (tmp_path / "o").exists()
    images = tmp_path / "llava.json"
    images.write_bytes(b'[{"image": "a.png", "conversations": [{"from": "human", "value": "caf\xe9"}]}]')
    from harness.images import open_source

    with pytest.raises(HarnessError, match=r"--images .*llava\.json:1: not UTF-8 text"):
        open_source(str(images), image_root=str(tmp_path))
