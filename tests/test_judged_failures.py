"""Judge failures against a real loopback chat-completions server (tests/chat_server.py).

For every judged benchmark: the judge answers malformed text for some items and never answers others
(HTTP 500 after the client's retries, a dropped connection, a closed port). The headline must equal
the official aggregation with the malformed answers scored as the official script scores them; the
never-answered items must be listed as missing and not scored; a second ``score`` with the judge now
answering must complete the result with HTTP requests for the missing items only (the cache has the
rest). Also pinned here: the request parameters each benchmark sends (temperature, max_tokens or none),
checked on the request bodies the server received; odd answers (empty, 1 MB, not UTF-8); and a judge
model the server does not know.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.llava_wild import LlavaWild
from benchmarks.mmbench import MMBenchBenchmark
from benchmarks.mmbench.extract import judge_prompt
from benchmarks.mmhal import MMHal
from benchmarks.mmvet import MMVet, grading_query
from harness.errors import HarnessError
from harness.judge.client import OpenAIJudge
from harness.judge.types import JudgeModelNotFound
from tests.chat_server import HUGE_BYTES, ChatServer, ServerState

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judged-failures-000000")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def judge_for(base_url: str, cache: Path, model: str = "gpt-4-1106-preview") -> OpenAIJudge:
    return OpenAIJudge(
        model,
        base_url,
        concurrency=4,
        cache_dir=cache,
        timeout_s=5.0,
        max_attempts=2,
        base_delay_s=0.01,
        max_delay_s=0.02,
    )


def item_of(contents: dict[str, str]) -> Callable[[dict], str | None]:
    """Map a request body to the item whose judge prompt the last message starts with."""

    def lookup(body: dict) -> str | None:
        text = body["messages"][-1]["content"]
        for prefix, item_id in contents.items():
            if text.startswith(prefix):
                return item_id
        return None

    return lookup


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the connection is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def llava_official(pairs: list[list[float]]) -> float:
    """summarize_gpt_review.py's relative score of one set (means rounded to 3 decimals, then 1 decimal)."""
    s1 = round(sum(p[0] for p in pairs) / len(pairs), 3)
    s2 = round(sum(p[1] for p in pairs) / len(pairs), 3)
    return round(s2 / s1 * 100, 1)


# --------------------------------------------------------------------------- LLaVA-W


def test_llava_wild_malformed_scored_officially_missing_not_scored_rerun_completes(tmp_path):
    bench = LlavaWild()
    items = bench.load(FIX / "llava_wild")
    preds = bench.read_predictions(FIX / "llava_wild" / "answers_model.jsonl", items)
    lookup = item_of({bench.judge_content(item, preds[item.id]): item.id for item in items})
    texts = {"0": "8 9\nfine", "1": "Score: 7 6\nmalformed first line", "2": "7 7", "3": "6 6", "4": "10 8"}
    state = ServerState(
        reply_text=lambda body: texts[lookup(body)], body_fault=lambda body, nth: "500" if lookup(body) == "3" else None
    )
    with ChatServer(state) as server:
        first = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
        assert server.state.requests == 4 + 2  # item 3: two attempts, both HTTP 500
        bodies = list(server.state.bodies)
        # the official request parameters, as the server received them
        assert {(b["temperature"], b["max_tokens"], b["model"]) for b in bodies} == {(0.2, 1024, "gpt-4-1106-preview")}
        assert all(b["messages"][0]["role"] == "system" for b in bodies)

        # never answered: listed, not scored; malformed: scored [-1, -1] as the official summary does
        assert [(m["item"], m["run"]) for m in first.missing] == [("3", 0)]
        assert first.missing[0]["reason"].startswith("judge_error: HTTP 500")
        assert first.unparsed == {"first_line_not_two_scores": 1, "total": 1}
        official = llava_official([[8, 9], [-1, -1], [7, 7], [10, 8]])
        assert round(first.metrics["relative_score"], 1) == official == 95.8
        assert first.excluded["relative_score"] == pytest.approx(8.0 / 8.333 * 100)  # [8,9],[7,7],[10,8]

        # the judge now answers: only item 3 is asked again; the rest comes from the cache
        server.state.body_fault = None
        server.state.reset_counts()
        second = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
        assert server.state.requests == 1
        assert second.complete and second.unparsed["total"] == 1
        assert (
            round(second.metrics["relative_score"], 1)
            == llava_official([[8, 9], [-1, -1], [7, 7], [6, 6], [10, 8]])
            == second.official["relative_score@run0"]
        )


def test_llava_wild_odd_answers_are_parsed_or_unparseable_never_a_crash(tmp_path):
    bench = LlavaWild()
    items = bench.load(FIX / "llava_wild")
    preds = bench.read_predictions(FIX / "llava_wild" / "answers_model.jsonl", items)
    lookup = item_of({bench.judge_content(item, preds[item.id]): item.id for item in items})
    faults = {"0": "empty", "1": "huge", "2": "badutf8", "3": "refusal"}
    state = ServerState(reply_text=lambda body: "7 8", body_fault=lambda body, nth: faults.get(lookup(body)))
    with ChatServer(state) as server:
        rep = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
    runs = {r["id"]: r["runs"][0] for r in rep.records}
    assert runs["0"]["review"] == "" and runs["0"]["tuple"] == [-1.0, -1.0]  # empty: unparseable
    assert runs["1"]["tuple"] == [7.0, 8.0] and len(runs["1"]["review"]) > HUGE_BYTES  # 1 MB: first line parses
    assert "\ufffd" in runs["2"]["review"] and runs["2"]["tuple"] == [-1.0, -1.0]  # not UTF-8: "8\ufffd…"
    assert runs["3"]["tuple"] is None and "refusal" in runs["3"]["failure"]  # a refusal: never answered
    assert runs["4"]["tuple"] == [7.0, 8.0]
    assert rep.unparsed["total"] == 2 and [m["item"] for m in rep.missing] == ["3"]


# --------------------------------------------------------------------------- MM-Vet


def test_mmvet_ladder_malformed_scores_zero_missing_not_scored_rerun_asks_only_missing(tmp_path):
    bench = MMVet()
    items = bench.load(FIX / "mmvet")
    preds = bench.read_predictions(FIX / "mmvet" / "llava_fixture.json", items)
    lookup = item_of({grading_query(i.prompt, i.meta["answer"], preds[i.id]): i.id for i in items})
    texts = {"v1_0": "1.0", "v1_1": "0.5", "v1_2": "Correct!", "v1_3": "0.4"}
    state = ServerState(
        reply_text=lambda body: texts[lookup(body)],
        body_fault=lambda body, nth: "drop" if lookup(body) == "v1_1" else None,
    )
    with ChatServer(state) as server:
        first = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
        bodies = list(server.state.bodies)
        # v1_2: the first call plus 5 retries; v1_1: a dropped connection, twice; v1_0, v1_3: one call each
        assert server.state.requests == 6 + 2 + 1 + 1
        ladder = [b for b in bodies if lookup(b) == "v1_2"]
        assert [b["temperature"] for b in ladder] == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]
        assert all(b["max_tokens"] == 3 and len(b["messages"]) == 1 for b in bodies)
        assert [(m["item"], m["run"]) for m in first.missing] == [("v1_1", 0)]
        assert first.unparsed == {"unparseable_after_5_retries": 1, "total": 1}
        # official: v1_2 scores 0.0 after its retries; v1_1 never answered is not scored: (1.0 + 0 + 0.4) / 3
        assert first.metrics["total"] == pytest.approx(1.4 / 3 * 100)

        server.state.body_fault = None
        server.state.reset_counts()
        second = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
        assert server.state.requests == 1  # v1_1's first call; v1_2's six answers come from the cache
        assert second.complete
        assert second.official["total"] == 47.5 == round(second.metrics["total"], 1)  # (1 + .5 + 0 + .4) / 4


# --------------------------------------------------------------------------- MMHal-Bench


def test_mmhal_malformed_scores_zero_missing_not_scored_no_max_tokens_sent(tmp_path):
    bench = MMHal()
    items = bench.load(FIX / "mmhal")
    preds = bench.read_predictions(FIX / "mmhal" / "llava_fixture_responses.json", items)
    lookup = item_of({bench.judge_content(item, preds[item.id]): item.id for item in items})
    special = {"1": "**Rating:** 5", "2": "between Rating: 6 and Rating: 2", "3": "Rating: 1"}

    def text(body: dict) -> str:
        return special.get(lookup(body), "Informative.\nRating: 4")

    never = {"5", "6"}
    state = ServerState(reply_text=text, body_fault=lambda body, nth: "500" if lookup(body) in never else None)
    with ChatServer(state) as server:
        first = bench.score(items, preds, judge_for(closed_port_url(), tmp_path / "c"), runs=1)
        assert len(first.missing) == 96 and first.metrics == {}  # connection refused: nothing answered
        first = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
        bodies = list(server.state.bodies)
        assert all("max_tokens" not in b and b["temperature"] == 0.0 for b in bodies)  # as the official call
        assert server.state.requests == 94 + 2 * 2
        assert sorted(m["item"] for m in first.missing) == ["5", "6"]
        assert first.unparsed == {"multiple_ratings": 1, "no_rating": 1, "total": 2}
        # official: the two malformed replies score 0 and count as hallucinations; 94 answered
        assert first.metrics["average_score"] == pytest.approx((0 + 0 + 1 + 4 * 91) / 94)
        assert first.metrics["hallucination_rate"] == pytest.approx(3 / 94)

        server.state.body_fault = None
        server.state.reset_counts()
        second = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
        assert server.state.requests == 2 and second.complete
        assert second.metrics["average_score"] == pytest.approx((1 + 4 * 93) / 96)  # Σ / 96
        assert second.metrics["hallucination_rate"] == pytest.approx(3 / 96)  # #(< 3) / 96
        assert second.official["average_score@run0"] == round((1 + 4 * 93) / 96, 2)


# --------------------------------------------------------------------------- MMBench


def test_mmbench_extractor_never_answered_group_is_missing_rerun_completes(tmp_path):
    bench = MMBenchBenchmark()
    data = tmp_path / "mmbench"
    import shutil

    shutil.copytree(FIX / "mmbench_dev_tiny", data)
    items = bench.load(data)
    preds = bench.read_predictions(FIX / "mmbench_predictions.tsv", items)
    by_id = {item.id: item for item in items}
    prompts = {
        judge_prompt(by_id[i].meta["question"], by_id[i].meta["choices"], preds[i]): i
        for i in ("2000003", "3000004", "5")
    }
    lookup = item_of(prompts)
    texts = {"2000003": "A", "3000004": "Z", "5": "B"}
    state = ServerState(
        reply_text=lambda body: texts[lookup(body)], body_fault=lambda body, nth: "500" if lookup(body) == "5" else None
    )
    with ChatServer(state) as server:
        first = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
        assert {(b["temperature"], b["max_tokens"]) for b in server.state.bodies} == {(0.0, 1024)}
        assert server.state.requests == 2 + 2
        assert first.missing == [{"item": "5", "run": 0, "reason": first.missing[0]["reason"]}]
        assert first.metrics["overall"] == pytest.approx(100 * 3 / 5)  # q1, q3, q6 of the five decided

        server.state.body_fault = None
        server.state.reset_counts()
        second = bench.score(items, preds, judge_for(server.base_url, tmp_path), runs=1)
        assert server.state.requests == 1 and second.complete
        assert second.metrics["overall"] == pytest.approx(100 * 4 / 6)  # q5's row 5 extracted as B: a hit


# --------------------------------------------------------------------------- retired judge models


@pytest.mark.parametrize(
    "bench_cls, model", [(LlavaWild, "gpt-4-0314"), (MMVet, "gpt-4-0613"), (MMHal, "gpt-4-1106-preview")]
)
def test_unknown_judge_model_is_one_error_before_calls_are_spent(tmp_path, bench_cls, model):
    fixture = {
        LlavaWild: ("llava_wild", "answers_model.jsonl"),
        MMVet: ("mmvet", "llava_fixture.json"),
        MMHal: ("mmhal", "llava_fixture_responses.json"),
    }[bench_cls]
    bench = bench_cls(judge_model=model)
    items = bench.load(FIX / fixture[0])
    preds = bench.read_predictions(FIX / fixture[0] / fixture[1], items)
    with ChatServer(ServerState(known_models={"gpt-4o-2024-11-20"})) as server:
        with pytest.raises(JudgeModelNotFound) as err:
            bench.score(items, preds, judge_for(server.base_url, tmp_path, model=model), runs=3)
        assert server.state.requests == 1  # the probe only
    message = str(err.value)
    assert isinstance(err.value, HarnessError)
    assert f"benchmark {bench.name!r}" in message and repr(model) in message and "--judge-model" in message
    assert "model_not_found" in message or "does not exist" in message


def test_mmbench_unknown_extractor_model_names_the_benchmark(tmp_path):
    import shutil

    bench = MMBenchBenchmark(judge_model="gpt-3.5-turbo-0613")
    shutil.copytree(FIX / "mmbench_dev_tiny", tmp_path / "d")
    items = bench.load(tmp_path / "d")
    preds = bench.read_predictions(FIX / "mmbench_predictions.tsv", items)
    with ChatServer(ServerState(known_models={"gpt-4o-mini"})) as server:
        with pytest.raises(JudgeModelNotFound, match="benchmark 'mmbench': judge model 'gpt-3.5-turbo-0613'"):
            bench.score(items, preds, judge_for(server.base_url, tmp_path, model="gpt-3.5-turbo-0613"), runs=2)
        assert server.state.requests == 1


def test_a_substituted_judge_is_written_in_the_protocol_card():
    for cls in (LlavaWild, MMVet, MMHal, MMBenchBenchmark):
        assert not any(d.startswith("judge substituted") for d in cls().card().deviations)
        card = cls(judge_model="gpt-4o-2024-11-20").card()
        (line,) = [d for d in card.deviations if d.startswith("judge substituted")]
        assert "gpt-4o-2024-11-20 instead of the protocol's gpt-4-1106-preview" in line
        assert card.judge_model == "gpt-4o-2024-11-20" and card.columns
