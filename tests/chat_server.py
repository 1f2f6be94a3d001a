"""A real loopback HTTP server that speaks the OpenAI chat-completions protocol, with faults.

Used by tests/test_judge.py and perf/judge_throughput.py: the judge client talks to it over
TCP exactly as it would to api.openai.com or ``vllm serve`` (no mock of the client).

Answers are deterministic: the reply text is a function of the request body only (model,
messages, temperature, max_tokens), so a run with injected faults must end with the same
judgements as a fault-free run. Faults are chosen by a ``fault_plan(body_hash, nth)`` function,
where ``nth`` counts how many times this exact body has arrived before (0 for the first), so
the plan is deterministic whatever the arrival order of concurrent requests.

Fault names: ``"429"`` (rate limit with ``Retry-After``), ``"500"``, ``"slow"`` (sleeps
``slow_s`` before answering, past the client's timeout), ``"malformed"`` (HTTP 200 with a body
that is not JSON), ``"nochoices"`` (HTTP 200, JSON without ``choices``), ``"401"``, ``"drop"``
(the connection is closed without an answer), ``"refusal"`` (HTTP 200, ``content`` null and a
``refusal``), and three odd answers that are still answers: ``"empty"`` (content ""), ``"huge"``
(1 MB of text after the normal answer) and ``"badutf8"`` (the content holds bytes that are not UTF-8).

Benchmark tests choose per request: ``ServerState.body_fault(body, nth)`` returns a fault name,
``ServerState.reply_text(body)`` returns the answer text (None: the default ``answer_for``), and
``ServerState.known_models`` makes any other model a 404 ``model_not_found`` (as api.openai.com
answers for a retired model). Every request body received is kept in ``ServerState.bodies``.

Run standalone (prints the port on stdout, serves until killed)::

    python -m tests.chat_server --latency 0.2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FaultPlan = Callable[[str, int], "str | None"]
HUGE_BYTES = 1_000_000
BAD_UTF8 = b"\xff\xfe\xc3("  # not UTF-8


def answer_for(body: dict) -> str:
    """The deterministic answer text for a request body: two scores and a short rationale."""
    digest = body_hash(body)
    a, b = int(digest[:2], 16) % 10 + 1, int(digest[2:4], 16) % 10 + 1
    return f"{a} {b}\nAssistant 1 scores {a} and Assistant 2 scores {b} (request {digest[:12]})."


def body_hash(body: dict) -> str:
    """SHA-256 of the fields that define a chat request's answer."""
    ident = {k: body.get(k) for k in ("model", "messages", "temperature", "max_tokens")}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def fault_fraction_plan(
    fraction: float,
    kinds: tuple[str, ...] = ("429", "500", "slow", "malformed"),
) -> FaultPlan:
    """Fault a deterministic ``fraction`` of arrivals, each chosen by hash(body, arrival number).

    Every arrival (first tries and retries alike) is faulted with probability ``fraction``,
    independently; the fault kind rotates over ``kinds`` by the same hash.
    """
    threshold = int(fraction * 10_000)

    def plan(digest: str, nth: int) -> str | None:
        h = hashlib.sha256(f"{digest}:{nth}".encode()).hexdigest()
        if int(h[:8], 16) % 10_000 >= threshold:
            return None
        return kinds[int(h[8:16], 16) % len(kinds)]

    return plan


def always(kind: str) -> FaultPlan:
    """A plan that faults every request with ``kind``."""
    return lambda digest, nth: kind


@dataclass
class ServerState:
    """What the server saw; read by tests (guarded by ``lock``)."""

    latency_s: float = 0.0
    slow_s: float = 2.0
    retry_after: str = "0"
    fault_plan: FaultPlan | None = None
    model_reply: str | None = None  # model string to return; default: the requested one
    fingerprint: str = "fp_loopback_1"
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0  # HTTP requests received on /v1/chat/completions
    faults: Counter = field(default_factory=Counter)
    arrivals: Counter = field(default_factory=Counter)  # body hash -> arrivals so far
    arrival_times: dict = field(default_factory=dict)  # body hash -> [monotonic times]
    in_flight: int = 0
    max_in_flight: int = 0
    auth_headers: set = field(default_factory=set)
    body_fault: Callable[[dict, int], str | None] | None = None  # (request body, nth arrival) -> fault
    reply_text: Callable[[dict], str | None] | None = None  # request body -> answer text (None: default)
    known_models: set | None = None  # None: every model exists
    bodies: list = field(default_factory=list)  # every request body received, in arrival order

    def reset_counts(self) -> None:
        with self.lock:
            self.bodies.clear()
            self.requests = 0
            self.faults.clear()
            self.arrivals.clear()
            self.arrival_times.clear()
            self.max_in_flight = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: ChatServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing to do

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send(404, b'{"error": {"message": "not found", "type": "invalid_request_error"}}')
            return
        body = json.loads(raw)
        digest = body_hash(body)
        with state.lock:
            state.requests += 1
            nth = state.arrivals[digest]
            state.arrivals[digest] += 1
            state.arrival_times.setdefault(digest, []).append(time.monotonic())
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            state.auth_headers.add(self.headers.get("Authorization", ""))
            state.bodies.append(body)
        try:
            fault = state.fault_plan(digest, nth) if state.fault_plan else None
            if fault is None and state.body_fault is not None:
                fault = state.body_fault(body, nth)
            if fault is None and state.known_models is not None and body.get("model") not in state.known_models:
                fault = "model_not_found"
            if fault:
                with state.lock:
                    state.faults[fault] += 1
            self._answer(body, digest, fault)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _answer(self, body: dict, digest: str, fault: str | None) -> None:
        state = self.server.state
        if state.latency_s:
            time.sleep(state.latency_s)
        if fault == "429":
            self._send(
                429,
                b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}',
                {"Retry-After": state.retry_after},
            )
            return
        if fault == "500":
            self._send(500, b'{"error": {"message": "The server had an error", "type": "server_error"}}')
            return
        if fault == "401":
            self._send(
                401,
                b'{"error": {"message": "Incorrect API key provided", '
                b'"type": "invalid_request_error", "code": "invalid_api_key"}}',
            )
            return
        if fault == "model_not_found":
            message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
            self._send(
                404,
                json.dumps(
                    {
                        "error": {
                            "message": message,
                            "type": "invalid_request_error",
                            "param": None,
                            "code": "model_not_found",
                        }
                    }
                ).encode(),
            )
            return
        if fault == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if fault == "malformed":
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"mess')
            return
        if fault == "nochoices":
            self._send(200, json.dumps({"id": "chatcmpl-x", "object": "chat.completion"}).encode())
            return
        if fault == "slow":
            time.sleep(state.slow_s)
        custom = state.reply_text(body) if state.reply_text is not None else None
        text = answer_for(body) if custom is None else custom
        content: str | None = text
        if fault == "empty":
            content = ""
        elif fault == "huge":
            content = text + "\n" + "x" * HUGE_BYTES
        elif fault == "refusal":
            content = None
        prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
        prompt_tokens = max(1, prompt_chars // 4)
        completion_tokens = max(1, len(text) // 4)
        reply = {
            "id": f"chatcmpl-{digest[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": state.model_reply or body.get("model"),
            "system_fingerprint": state.fingerprint,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": content,
                        **({"refusal": "I can't help with that."} if fault == "refusal" else {}),
                    },
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        payload = json.dumps(reply, ensure_ascii=False).encode()
        if fault == "badutf8":  # splice raw non-UTF-8 bytes into the content string
            marker = json.dumps(text, ensure_ascii=False)[1:-1].encode()
            payload = payload.replace(marker, marker + BAD_UTF8, 1)
        self._send(200, payload)


class ChatServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` on 127.0.0.1 with a ``ServerState``; use as a context manager."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, state: ServerState | None = None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state or ServerState()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; print the port on the first line of stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--fault-fraction", type=float, default=0.0)
    args = parser.parse_args(argv)
    plan = fault_fraction_plan(args.fault_fraction, ("429", "500")) if args.fault_fraction else None
    server = ChatServer(ServerState(latency_s=args.latency, fault_plan=plan), port=args.port)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
