"""Judge drift end to end (issue 28): committed predictions (tests/fixtures/judge_drift) scored by one loopback
judge with `harness eval`, scored again by a second one with `harness rejudge`, compared with
`harness compare --judge A --judge B` and shown in the leaderboard.

The two judges are one real loopback chat-completions server (tests/chat_server.py) answering per judge model
from the tables ``OLD`` and ``NEW``, which differ in a known way: the new judge grades questions v1_1 and v1_3
0.2 higher and model-a's v1_0 answer 0 instead of 1, so model-a (first under the old judge) falls behind model-b.
Every figure is checked against scipy or a hand computation, and no stored result may change.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from scipy import stats
from typer.testing import CliRunner

from harness.cli import app
from harness.evaluate import evaluate
from harness.judge.retry import RetryPolicy
from harness.report.leaderboard import build_leaderboard
from harness.report.results import ModelRef, load_results
from tests.chat_server import ChatServer, ServerState

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "fixtures" / "mmvet"
PREDS = ROOT / "tests" / "fixtures" / "judge_drift" / "predictions"
MODELS = ("model-a", "model-b", "model-c")
OLD_JUDGE, NEW_JUDGE = "judge-old", "judge-new"
# MM-Vet correctness per model (a, b, c) and question v1_0..v1_3
OLD = {"a": [1.0, 0.5, 1.0, 0.0], "b": [0.5, 0.5, 0.5, 0.5], "c": [0.0, 0.0, 0.8, 0.5]}
NEW = {m: [round(min(1.0, s + (0.2 if q in (1, 3) else 0.0)), 1) for q, s in enumerate(v)] for m, v in OLD.items()}
NEW["a"][0] = 0.0  # the swap: model-a 62.5 → 47.5, model-b 50.0 → 60.0
TAG = re.compile(r"\[([abc])([0-3])\]")


def total(scores: list[float]) -> float:
    return sum(scores) / len(scores) * 100


def make_state(special: dict | None = None, never: set | None = None) -> ServerState:
    """Answers by judge model and answer tag; ``special[(judge, tag)]`` replaces an answer's text,
    ``never`` holds (judge, tag) whose every call fails with HTTP 500."""
    special, never = special or {}, never or set()

    def tag_of(body: dict) -> str:
        found = TAG.findall(body["messages"][-1]["content"])
        return "".join(found[-1])

    def reply(body: dict) -> str:
        key = (body["model"], tag_of(body))
        if key in special:
            return special[key]
        table = OLD if body["model"] == OLD_JUDGE else NEW
        return f"{table[key[1][0]][int(key[1][1])]}"

    return ServerState(
        reply_text=reply, body_fault=lambda body, nth: "500" if (body["model"], tag_of(body)) in never else None
    )


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge-drift-0000000")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the judge cache of the CLI runs
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after, rng: 0.0)  # retries at once


def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "harness" / "judge"


def eval_old(root: Path, url: str, tmp_path: Path, data: Path = DATA) -> None:
    """The original results: every model scored by the old judge (one run), as `harness eval --predictions`."""
    for m in MODELS:
        evaluate(
            "mmvet",
            data_dir=data,
            predictions=PREDS / f"{m}.json",
            out=root / "results" / m / "mmvet",
            model_ref=ModelRef(id=m),
            judge_model=OLD_JUDGE,
            judge_base_url=url,
            judge_runs=1,
            judge_cache_dir=cache_dir(tmp_path),
            own_data=True,
            console=Console(file=io.StringIO()),
        )


def rejudge_cli(root: Path, url: str, data: Path = DATA, *extra: str):
    args = ["rejudge", str(root / "results"), "--judge-model", NEW_JUDGE, "--judge-base-url", url]
    return CliRunner().invoke(app, [*args, "--bench", "mmvet", "--data-dir", str(data), *extra], terminal_width=200)


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_two_judges_agreement_figures_flips_and_leaderboard(tmp_path):
    root = tmp_path / "store"
    with ChatServer(make_state()) as server:
        eval_old(root, server.base_url, tmp_path)
        originals = snapshot(root)
        result = rejudge_cli(root, server.base_url)
        assert result.exit_code == 0, result.output
        assert "judge-old → judge-new" in result.output
        # the new results sit beside the originals, which are byte-identical
        after = snapshot(root)
        assert {k: after[k] for k in originals} == originals
        new_files = sorted(set(after) - set(originals))
        assert [f for f in new_files if f.endswith(".json")] == [
            f"results/{m}/mmvet/results.judge-judge-new.json" for m in MODELS
        ]
        for m in MODELS:
            rj = load_results(root / "results" / m / "mmvet" / "results.judge-judge-new.json")
            assert rj.protocol["judge_model"] == NEW_JUDGE and rj.rejudge["of_judge"] == OLD_JUDGE
            assert rj.metrics["total"] == pytest.approx(total(NEW[m[-1]]))
            assert (
                rj.model.id == m
                and rj.data_sha256 == load_results(root / "results" / m / "mmvet" / "results.json").data_sha256
            )
        # a second rejudge reuses the stored results: no judge call at all
        server.state.reset_counts()
        again = rejudge_cli(root, server.base_url)
        assert again.exit_code == 0 and "already rejudged" in again.output and server.state.requests == 0
        # …and with the results gone, the judge cache answers: still no call
        for m in MODELS:
            (root / "results" / m / "mmvet" / "results.judge-judge-new.json").unlink()
        assert rejudge_cli(root, server.base_url).exit_code == 0 and server.state.requests == 0

    before = snapshot(root)
    out = tmp_path / "agreement"
    args = ["compare", str(root), "--judge", OLD_JUDGE, "--judge", NEW_JUDGE, "--out", str(out), "--resamples", "2000"]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert snapshot(root) == before  # reading only
    data = json.loads((out / "judge-agreement.json").read_text())["benchmarks"]["mmvet"]

    # item agreement pooled over 3 models × 4 questions, against scipy and hand arithmetic
    a = [s for m in "abc" for s in OLD[m]]
    b = [s for m in "abc" for s in NEW[m]]
    items = data["items"]
    assert items["n"] == 12 and items["discrete"]
    assert items["pearson"] == pytest.approx(stats.pearsonr(a, b).statistic)
    assert items["spearman"] == pytest.approx(stats.spearmanr(a, b).statistic)
    assert items["kendall"] == pytest.approx(stats.kendalltau(a, b).statistic)
    assert items["mean_abs_diff"] == pytest.approx((1.0 + 6 * 0.2) / 12)  # model-a's v1_0, and six +0.2
    assert items["mean_diff"] == pytest.approx((-1.0 + 6 * 0.2) / 12)
    assert items["exact"] == pytest.approx(5 / 12)  # v1_2 everywhere, v1_0 of b and c
    assert data["missing"] == []

    # headline per row: both stored numbers, B − A, and a paired bootstrap interval around it
    heads = {h["label"]: h for h in data["headline"]}
    for m in MODELS:
        h = heads[m]
        assert (h["a"], h["b"]) == (pytest.approx(total(OLD[m[-1]])), pytest.approx(total(NEW[m[-1]])))
        assert h["ci"][0] <= h["delta"] <= h["ci"][1]
    assert heads["model-a"]["delta"] == pytest.approx(-15.0)

    # ranking: a > b > c under the old judge, b > a > c under the new one: τ = 1/3, ρ = 1/2, one flip, named
    rank = data["ranking"]["MM-Vet"]
    assert rank["kendall"] == pytest.approx(1 / 3) and rank["spearman"] == pytest.approx(0.5)
    assert [(f["first"], f["second"]) for f in rank["flips"]] == [("model-a", "model-b")]
    report = (out / "judge-agreement.md").read_text()
    assert "flipped: model-a vs model-b: 62.50 > 50.00 under A, 47.50 < 60.00 under B" in report
    assert "1 pair(s) of rows flip" in report and (out / "judge-agreement_mmvet.png").stat().st_size > 0
    assert "flipped: model-a vs model-b" in result.output

    # the leaderboard: one column per judge, each headed with its judge
    md = build_leaderboard([root], tmp_path / "board" / "leaderboard.md").markdown
    table = md.split("## Measured", 1)[1].split("\n## ", 1)[0]
    header = table.splitlines()[2]
    assert "MM-Vet (judge judge-old)" in header and "MM-Vet (judge judge-new)" in header
    row = next(line for line in table.splitlines() if line.startswith("| model | model-a |"))
    cells = [re.sub(r"\[\^\d+\]", "", c).strip() for c in row.strip("|").split("|")]
    assert cells[3:5] == ["**62.5**", "47.5"]
    assert "has one set of columns per judge" in md


def test_malformed_and_unanswered_judgements_are_missing_never_zero(tmp_path):
    root = tmp_path / "store"
    special = {(NEW_JUDGE, "c2"): "I cannot grade this."}  # every rung of MM-Vet's retry ladder: unparseable
    with ChatServer(make_state(special, never={(NEW_JUDGE, "b3")})) as server:
        eval_old(root, server.base_url, tmp_path)
        result = rejudge_cli(root, server.base_url)
    assert result.exit_code == 1, result.output  # model-b's rejudge is incomplete
    partial = root / "results" / "model-b" / "mmvet" / "results.judge-judge-new.partial.json"
    assert partial.is_file() and not partial.with_name("results.judge-judge-new.json").exists()
    out = tmp_path / "agreement"
    args = ["compare", str(root), "--judge", OLD_JUDGE, "--judge", NEW_JUDGE, "--out", str(out), "--resamples", "200"]
    assert CliRunner().invoke(app, args).exit_code == 0
    data = json.loads((out / "judge-agreement.json").read_text())["benchmarks"]["mmvet"]
    missing = {(m["judge"], m["label"], m["item"]): m["reason"] for m in data["missing"]}
    assert missing == {(NEW_JUDGE, "model-b", "v1_3"): "never answered", (NEW_JUDGE, "model-c", "v1_2"): "unparsed"}
    # the item figures leave exactly those two out (not scored 0)
    keep = [(m, q) for m in "abc" for q in range(4) if (m, q) not in (("b", 3), ("c", 2))]
    a, b = [OLD[m][q] for m, q in keep], [NEW[m][q] for m, q in keep]
    assert data["items"]["n"] == 10
    assert data["items"]["pearson"] == pytest.approx(stats.pearsonr(a, b).statistic)
    assert data["items"]["mean_diff"] == pytest.approx(sum(y - x for x, y in zip(a, b)) / 10)
    heads = {h["label"]: h for h in data["headline"]}
    assert heads["model-b"]["b"] is None and "incomplete" in heads["model-b"]["note"]
    # the official headline keeps the unparseable answer as MM-Vet's script does (0.0)
    assert heads["model-c"]["b"] == pytest.approx(total([0.0, 0.2, 0.0, 0.7]))
    report = (out / "judge-agreement.md").read_text()
    assert "judge-new: model-b, item v1_3: never answered" in report
    assert "judge-new: model-c, item v1_2: unparsed" in report
    assert "1 never answered, 1 unparsed" in report


def test_a_killed_rejudge_resumes_from_the_judge_cache_paying_nothing_twice(tmp_path):
    root = tmp_path / "store"
    with ChatServer(make_state()) as server:
        eval_old(root, server.base_url, tmp_path)
        server.state.reset_counts()
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_BASE_URL"}
        env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), OPENAI_API_KEY="sk-test-judge-drift-0000000")
        cmd = [sys.executable, "-m", "harness.cli", "rejudge", str(root / "results"), "--judge-model", NEW_JUDGE]
        cmd += ["--judge-base-url", server.base_url, "--judge-concurrency", "1", "--data-dir", str(DATA), "-b", "mmvet"]
        # killed (SIGKILL) right after the 6th answer is in the cache: model-a done, model-b half judged
        killed = subprocess.run(
            cmd, env={**env, "HARNESS_KILL_AT": "judge-answer-6"}, cwd=tmp_path, capture_output=True
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
        assert server.state.requests == 6
        done = [m for m in MODELS if (root / "results" / m / "mmvet" / "results.judge-judge-new.json").exists()]
        assert done == ["model-a"]
        resumed = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        # 12 judgements in all, each asked exactly once over the two processes
        assert server.state.requests == 12 and set(server.state.arrivals.values()) == {1}
    usage = load_results(root / "results" / "model-b" / "mmvet" / "results.judge-judge-new.json").judge_usage
    assert (usage["cached_calls"], usage["calls"]) == (2, 2)


def test_changed_data_or_predictions_are_refused_with_the_reason(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    root = tmp_path / "store"
    with ChatServer(make_state()) as server:
        eval_old(root, server.base_url, tmp_path, data=data)
        before = snapshot(root)
        meta = json.loads((data / "mm-vet.json").read_text())
        meta["v1_0"]["answer"] = "dog"  # the reference answer the judge compares with
        (data / "mm-vet.json").write_text(json.dumps(meta))
        server.state.reset_counts()
        result = rejudge_cli(root, server.base_url, data)
        assert result.exit_code == 2
        assert (
            "not rejudged: the benchmark data under" in result.output and "changed since it was scored" in result.output
        )
        assert server.state.requests == 0 and snapshot(root) == before
        # the data restored, predictions edited since: refused too, naming the file
        shutil.copy(DATA / "mm-vet.json", data / "mm-vet.json")
        pred = root / "results" / "model-a" / "mmvet" / "results.json"
        res = json.loads(pred.read_text())
        copy = tmp_path / "model-a.json"
        shutil.copy(PREDS / "model-a.json", copy)
        res["predictions_file"] = str(copy)
        pred.write_text(json.dumps(res))
        copy.write_text(copy.read_text().replace("A cat.", "A lion."))
        result = CliRunner().invoke(
            app,
            [
                "rejudge",
                str(pred),
                "--judge-model",
                NEW_JUDGE,
                "--judge-base-url",
                server.base_url,
                "--data-dir",
                str(data),
                "-b",
                "mmvet",
            ],
        )
        assert result.exit_code == 2 and f"its predictions file {copy} changed since it was scored" in result.output
        assert server.state.requests == 0


def test_a_retired_default_judge_says_so_and_what_to_do(tmp_path):
    # the configured default judge (the papers' gpt-4-1106-preview) is not served any more
    with ChatServer(ServerState(known_models={"gpt-4o-2024-11-20"})) as server:
        args = ["eval", "--bench", "mmvet", "--data-dir", str(DATA), "--own-data", "--predictions"]
        args += [str(PREDS / "model-a.json"), "--judge-base-url", server.base_url, "--out", str(tmp_path / "r")]
        result = CliRunner().invoke(app, args, terminal_width=400)
        assert server.state.requests == 1  # the probe only
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "judge model 'gpt-4-1106-preview' is not available" in text and "is a retired OpenAI snapshot" in text
    assert (
        "harness rejudge --judge-model NEW" in text and "harness compare --judge gpt-4-1106-preview --judge NEW" in text
    )
    assert 'docs/judge.md, "Moving a study off a retired judge"' in text
    assert "Moving a study off a retired judge" in (ROOT / "docs" / "judge.md").read_text()
