"""The judge client against a real chat-completions server on loopback (tests/chat_server.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.judge.cache import CACHE_FILENAME, JudgeCache, default_cache_dir
from harness.judge.client import OpenAIJudge, check_credentials, public_endpoint
from harness.judge.pricing import estimate_cost, estimate_prompt_tokens
from harness.judge.retry import parse_retry_after
from harness.judge.types import Judge, JudgeModelNotFound, JudgeRequest
from tests.chat_server import ChatServer, ServerState, always, answer_for, fault_fraction_plan

SECRET = "sk-test-DO-NOT-WRITE-0123456789abcdef"
SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."


def make_requests(n_items: int = 40, runs: int = 3, max_tokens: int = 64) -> list[JudgeRequest]:
    return [
        JudgeRequest.chat(
            f"item{i}",
            SYSTEM,
            f"[Question]\nWhat is in image {i}?\n[Answer]\nA cat number {i}.",
            temperature=0.2,
            max_tokens=max_tokens,
            run_index=run,
        )
        for run in range(runs)
        for i in range(n_items)
    ]


def fast_judge(server: ChatServer, tmp_path: Path, **kw) -> OpenAIJudge:
    opts = dict(
        model="gpt-4-1106-preview",
        base_url=server.base_url,
        concurrency=8,
        cache_dir=tmp_path / "cache",
        timeout_s=2.0,
        max_attempts=6,
        base_delay_s=0.01,
        max_delay_s=0.05,
    )
    opts.update(kw)
    return OpenAIJudge(**opts)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def expected_text(request: JudgeRequest, model: str = "gpt-4-1106-preview") -> str:
    return answer_for(
        {
            "model": model,
            "messages": request.openai_messages(),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
    )


# --------------------------------------------------------------------------- faults


def test_twenty_percent_faults_give_the_same_judgements_as_a_clean_run(tmp_path):
    requests = make_requests()
    with ChatServer() as clean:
        clean_replies = fast_judge(clean, tmp_path / "a").judge(requests)
    state = ServerState(fault_plan=fault_fraction_plan(0.2), retry_after="0.02", slow_s=1.0)
    with ChatServer(state) as faulty:
        judge = fast_judge(faulty, tmp_path / "b", timeout_s=0.4)
        replies = judge.judge(requests)
    assert all(r.ok for r in clean_replies) and all(r.ok for r in replies)
    assert [r.text for r in replies] == [r.text for r in clean_replies]
    assert [r.request for r in replies] == requests  # in order
    assert replies[0].text == expected_text(requests[0])
    faults = sum(state.faults.values())
    assert set(state.faults) == {"429", "500", "slow", "malformed"}
    assert 0.12 <= faults / state.requests <= 0.28  # about 20 % of calls were faulted
    usage = judge.usage_dict()
    assert usage["failed_calls"] == 0 and usage["calls"] == len(requests)
    # every planned fault was retried; on a loaded machine a client timeout can add attempts (and, when the
    # server had the request, server-side requests) beyond the planned faults, never fewer
    assert usage["attempts"] >= state.requests >= len(requests) + faults


def test_second_identical_run_sends_zero_requests(tmp_path):
    requests = make_requests(10)
    with ChatServer() as server:
        first = fast_judge(server, tmp_path).judge(requests)
        sent = server.state.requests
        judge = fast_judge(server, tmp_path)
        second = judge.judge(requests)
        assert server.state.requests == sent == len(requests)
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second) and not any(r.cached for r in first)
    usage = judge.usage_dict()
    assert (usage["calls"], usage["cached_calls"], usage["cost_usd"]) == (0, len(requests), 0.0)
    assert usage["cost_usd_incl_cached"] > 0
    assert judge.estimate(requests).calls == 0


def test_run_index_is_part_of_identity_and_no_cache_bypasses(tmp_path):
    requests = make_requests(5, runs=3)
    assert len({r.cache_key("m") for r in requests}) == 15
    with ChatServer() as server:
        fast_judge(server, tmp_path).judge(requests)
        fast_judge(server, tmp_path, use_cache=False).judge(requests)
        assert server.state.requests == 30
    with ChatServer() as server:
        fast_judge(server, tmp_path / "none", use_cache=False).judge(requests)
    assert not (tmp_path / "none").exists()


def test_api_key_appears_in_no_file_the_harness_writes(tmp_path):
    requests = make_requests(10)
    state = ServerState(fault_plan=fault_fraction_plan(0.3, ("500", "429")), retry_after="0")
    with ChatServer(state) as server:
        judge = fast_judge(server, tmp_path)
        replies = judge.judge(requests)
        fast_judge(server, tmp_path).judge(requests)
    assert state.auth_headers == {f"Bearer {SECRET}"}  # the key was used…
    (tmp_path / "usage.json").write_text(json.dumps(judge.usage_dict()))
    (tmp_path / "replies.json").write_text(json.dumps([r.__dict__ | {"request": None} for r in replies]))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == CACHE_FILENAME for p in files)
    for path in files:  # …and written nowhere (cache db, its WAL, usage, replies)
        assert SECRET.encode() not in path.read_bytes(), path


def test_retry_after_is_honoured(tmp_path):
    state = ServerState(fault_plan=lambda digest, nth: "429" if nth == 0 else None, retry_after="1")
    with ChatServer(state) as server:
        replies = fast_judge(server, tmp_path).judge(make_requests(1, runs=1))
    assert replies[0].ok and replies[0].extra["attempts"] == 2
    ((first, second),) = state.arrival_times.values()
    assert second - first >= 0.95  # base delay is 0.01 s: only Retry-After explains the wait


def test_always_failing_server_ends_with_a_failure_report_not_scores(tmp_path):
    requests = make_requests(6, runs=2)
    with ChatServer(ServerState(fault_plan=always("500"))) as server:
        judge = fast_judge(server, tmp_path, max_attempts=3)
        replies = judge.judge(requests)
        assert server.state.requests == 3 * len(requests)
    assert all(r.text is None and not r.ok for r in replies)
    assert all(r.error.startswith("HTTP 500") and "after 3 attempts" in r.error for r in replies)
    usage = judge.usage_dict()
    assert usage["failed_calls"] == 12 and usage["calls"] == 0
    assert usage["failed_by_run"] == {"run0": 6, "run1": 6}
    assert usage["failure_reasons"] == {"HTTP 500": 12}
    with ChatServer() as server:  # failures were not cached: a healthy server answers them all
        assert all(r.ok and not r.cached for r in fast_judge(server, tmp_path).judge(requests))


@pytest.mark.parametrize(
    "kind,reason", [("slow", "timeout"), ("malformed", "malformed response"), ("nochoices", "malformed response")]
)
def test_timeouts_and_unreadable_answers_are_failures_with_reasons(tmp_path, kind, reason):
    with ChatServer(ServerState(fault_plan=always(kind), slow_s=0.6)) as server:
        replies = fast_judge(server, tmp_path, timeout_s=0.2, max_attempts=2).judge(make_requests(3, runs=1))
    assert all(r.error.startswith(reason) and r.text is None for r in replies)


def test_bad_key_stops_sending(tmp_path):
    with ChatServer(ServerState(fault_plan=always("401"))) as server:
        replies = fast_judge(server, tmp_path, concurrency=2).judge(make_requests(30, runs=1))
        assert server.state.requests <= 2
    assert all("HTTP 401" in r.error for r in replies)
    assert SECRET not in json.dumps([r.error for r in replies])


# --------------------------------------------------------------------------- credentials


def test_no_key_and_no_base_url_is_a_clear_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(HarnessError, match="OPENAI_API_KEY.*--judge-base-url"):
        check_credentials(None)
    with ChatServer() as server:
        judge = OpenAIJudge(cache_dir=tmp_path)
        with pytest.raises(HarnessError):
            judge.judge(make_requests(2, runs=1))
        assert server.state.requests == 0
        check_credentials(server.base_url)  # a local server needs no key
        replies = fast_judge(server, tmp_path).judge(make_requests(2, runs=1))
    assert all(r.ok for r in replies) and server.state.auth_headers == {"Bearer EMPTY"}


def test_base_url_from_environment(tmp_path, monkeypatch):
    with ChatServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        replies = OpenAIJudge(cache_dir=tmp_path).judge(make_requests(2, runs=1))
        assert server.state.requests == 2 and all(r.ok for r in replies)
    assert public_endpoint("http://user:pw@host:8000/v1?x=1") == "http://host:8000/v1"


# --------------------------------------------------------------------------- cost and budget


def test_estimate_cost_counts_calls_tokens_and_dollars():
    a = JudgeRequest.chat("a", "s" * 8, "u" * 40, temperature=0.0, max_tokens=100)
    b = JudgeRequest.chat("b", None, "v" * 7, temperature=0.0, max_tokens=10)
    assert estimate_prompt_tokens(a) == 2 + 10 + 8 + 3 and estimate_prompt_tokens(b) == 2 + 4 + 3
    est = estimate_cost([a, b, a], "gpt-4-1106-preview")
    assert (est.calls, est.prompt_tokens, est.completion_tokens_max) == (2, 32, 110)
    assert est.cost_usd_max == pytest.approx((32 * 10 + 110 * 30) / 1e6)
    assert estimate_cost([a, b], "gpt-4-1106-preview", cached_keys=[a.cache_key("gpt-4-1106-preview")]).calls == 1
    assert estimate_cost([a], "my-local-judge").cost_usd_max is None
    assert "2 calls" in est.describe()


def test_budget_stops_before_it_is_passed(tmp_path):
    requests = make_requests(20, runs=1, max_tokens=200)
    worst = estimate_cost(requests[:1], "gpt-4-1106-preview").cost_usd_max
    budget = 4.5 * worst
    with ChatServer() as server:
        judge = fast_judge(server, tmp_path, concurrency=3, max_cost_usd=budget)
        replies = judge.judge(requests)
        sent = server.state.requests
    ok = [r for r in replies if r.ok]
    assert len(ok) >= 4 and sent == len(ok) < len(requests)
    assert {r.error for r in replies if not r.ok} == {"budget exhausted"}
    assert judge.usage_dict()["cost_usd"] <= budget
    with pytest.raises(HarnessError, match="--max-cost"):
        OpenAIJudge(model="my-local-judge", max_cost_usd=1.0)


def test_usage_records_returned_model_and_fingerprint(tmp_path):
    state = ServerState(model_reply="gpt-4-1106-preview-snapshot", fingerprint="fp_abc")
    with ChatServer(state) as server:
        judge = fast_judge(server, tmp_path)
        with judge.track() as bench_usage:
            replies = judge.judge(make_requests(3, runs=2))
        last = judge.judge(make_requests(1, runs=1, max_tokens=5))
    assert {(r.model, r.system_fingerprint) for r in replies} == {("gpt-4-1106-preview-snapshot", "fp_abc")}
    usage = judge.usage_dict()
    assert usage["models"] == ["gpt-4-1106-preview-snapshot"] and usage["system_fingerprints"] == ["fp_abc"]
    assert usage["calls"] == 7 and bench_usage.calls == 6
    assert usage["prompt_tokens"] == sum(r.prompt_tokens for r in replies + last) > 0
    assert bench_usage.completion_tokens == sum(r.completion_tokens for r in replies) > 0
    assert usage["cost_usd"] == pytest.approx(
        (usage["prompt_tokens"] * 10 + usage["completion_tokens"] * 30) / 1e6, abs=1e-6
    )


# --------------------------------------------------------------------------- concurrency and API


def test_concurrency_is_bounded_and_duplicates_are_sent_once(tmp_path):
    requests = make_requests(24, runs=1)
    with ChatServer(ServerState(latency_s=0.05)) as server:
        replies = fast_judge(server, tmp_path, concurrency=4).judge(requests + requests[:5])
        assert 2 <= server.state.max_in_flight <= 4
        assert server.state.requests == 24
    assert [r.text for r in replies[24:]] == [r.text for r in replies[:5]]


def test_sync_api_works_inside_a_running_event_loop(tmp_path):
    with ChatServer() as server:
        judge = fast_judge(server, tmp_path)
        assert isinstance(judge, Judge)

        async def caller():
            return judge.judge(make_requests(2, runs=1))

        replies = asyncio.run(caller())
    assert all(r.ok for r in replies)
    assert judge.judge([]) == []


def test_parse_retry_after_forms():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert parse_retry_after({"Retry-After": "soon"}) is None and parse_retry_after({}) is None


# --------------------------------------------------------------------------- cache safety


def test_default_cache_dir_is_computed_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "harness" / "judge"
    judge = OpenAIJudge()
    assert judge.resolved_cache_dir() == tmp_path / "xdg" / "harness" / "judge"


_WRITER = """
import sys
import threading
from pathlib import Path
from harness.judge.cache import JudgeCache
directory, prefix, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with JudgeCache(directory) as cache:
    i = 0
    while count < 0 or i < count:
        cache.put(f"{prefix}{i}", "m", {"i": i}, f"text {prefix}{i}" + "x" * 2000, "m", "fp", i, i)
        i += 1
"""


def _writer(directory: Path, prefix: str, count: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(directory), prefix, str(count)])


def test_cache_survives_concurrent_writers_and_a_killed_writer(tmp_path):
    writers = [_writer(tmp_path, prefix, 150) for prefix in "abc"]
    endless = _writer(tmp_path, "k", -1)  # killed mid-write below
    for proc in writers:
        assert proc.wait(60) == 0
    deadline = time.monotonic() + 60
    with JudgeCache(tmp_path) as cache:  # kill it only once it has committed answers
        while not cache.get_many(["k0", "k5"]).keys() >= {"k0", "k5"}:
            assert endless.poll() is None and time.monotonic() < deadline, "the endless writer never wrote"
            time.sleep(0.05)
    os.kill(endless.pid, signal.SIGKILL)
    endless.wait()
    with JudgeCache(tmp_path) as cache:
        got = cache.get_many([f"{p}{i}" for p in "abc" for i in range(150)])
        assert len(got) == 450 and got["b7"]["text"].startswith("text b7x")
        assert len(cache) > 450  # the killed writer's committed answers are there, intact
    assert sqlite3.connect(tmp_path / CACHE_FILENAME).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_cache_opens_while_another_process_holds_a_write_lock_on_the_fresh_file(tmp_path):
    # A second process creating the same fresh cache holds a write lock while the file is still
    # in rollback mode; SQLite then fails the switch to WAL at once ("database is locked")
    # instead of waiting. Opening must wait for the lock, not fail (the flake CI once hit).
    holder = sqlite3.connect(tmp_path / CACHE_FILENAME, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        with JudgeCache(tmp_path, timeout=10.0) as cache:
            cache.put("k", "m", {"i": 0}, "text", "m", "fp", 1, 1)
            assert cache.get_many(["k"])["k"]["text"] == "text"
    finally:
        release.join()
        holder.close()
    assert sqlite3.connect(tmp_path / CACHE_FILENAME).execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_cache_names_the_file_when_the_lock_is_never_released(tmp_path):
    holder = sqlite3.connect(tmp_path / CACHE_FILENAME, isolation_level=None)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(HarnessError, match=r"judge_cache\.sqlite3: cannot open the judge cache .*--no-judge-cache"):
            JudgeCache(tmp_path, timeout=0.3)
    finally:
        holder.close()


# --------------------------------------------------------------------------- odd answers, probe, unknown model


def test_a_request_without_max_tokens_sends_none(tmp_path):
    request = JudgeRequest.chat("mmhal/0", None, "Rate this.", temperature=0.0, max_tokens=None)
    with ChatServer() as server:
        replies = fast_judge(server, tmp_path).judge([request])
        (body,) = server.state.bodies
    assert replies[0].ok and "max_tokens" not in body and body["temperature"] == 0.0
    est = estimate_cost([request], "gpt-4-1106-preview")
    assert est.completion_tokens_max == 4096  # the assumed bound of an uncapped request


@pytest.mark.parametrize("kind", ["empty", "huge", "badutf8"])
def test_empty_huge_and_non_utf8_answers_are_answers_and_cached(tmp_path, kind):
    requests = make_requests(3, runs=1)
    with ChatServer(ServerState(fault_plan=always(kind))) as server:
        replies = fast_judge(server, tmp_path).judge(requests)
        assert server.state.requests == 3  # answered at the first attempt, nothing retried
        again = fast_judge(server, tmp_path).judge(requests)
        assert server.state.requests == 3 and all(r.cached for r in again)
    assert all(r.ok for r in replies) and [r.text for r in again] == [r.text for r in replies]
    text = replies[0].text
    if kind == "empty":
        assert text == ""
    elif kind == "huge":
        assert len(text) > 1_000_000 and text.startswith(expected_text(requests[0]))
    else:
        assert text.startswith(expected_text(requests[0])) and "\ufffd" in text


def test_the_first_request_goes_alone_as_a_probe(tmp_path):
    requests = make_requests(8, runs=1)
    with ChatServer(ServerState(latency_s=0.15)) as server:
        judge = fast_judge(server, tmp_path, concurrency=8)
        judge.judge(requests)
        times = sorted(t for ts in server.state.arrival_times.values() for t in ts)
        assert times[1] - times[0] >= 0.14  # the rest waited for the probe's answer
        assert server.state.max_in_flight >= 2  # then went concurrently
        server.state.reset_counts()
        judge.judge(make_requests(8, runs=2)[8:])  # the server has answered: no probe any more
        times = sorted(t for ts in server.state.arrival_times.values() for t in ts)
        assert times[-1] - times[0] < 0.14


def test_unknown_judge_model_is_one_error_after_one_request(tmp_path):
    with ChatServer(ServerState(known_models={"gpt-4o"})) as server:
        judge = fast_judge(server, tmp_path, model="gpt-4-0314", concurrency=8)
        with pytest.raises(JudgeModelNotFound, match=r"judge model 'gpt-4-0314' is not available at http://127"):
            judge.judge(make_requests(20, runs=1))
        assert server.state.requests == 1
        replies = fast_judge(server, tmp_path, model="gpt-4o").judge(make_requests(2, runs=1))
    assert all(r.ok for r in replies)
    err = JudgeModelNotFound("m", "e", "d").for_benchmark("mmvet")
    assert isinstance(err, HarnessError) and str(err).startswith("benchmark 'mmvet': judge model 'm'")
