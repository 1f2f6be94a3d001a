"""Judge throughput: N requests against the loopback chat server with fixed latency.

The server (tests/chat_server.py) runs in its own process and sleeps ``--latency`` seconds per
answer; the judge sends ``--requests`` distinct requests at ``--concurrency`` with the cache
off. The ideal wall time is N·latency/concurrency; the goal (issue 5) is ≤ 1.25 × ideal.

    python perf/judge_throughput.py                 # 1,000 requests, 200 ms, concurrency 32
    python perf/judge_throughput.py --json out.json # also write the figures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(n: int, latency: float, concurrency: int) -> dict:
    """Start the server, judge ``n`` requests, return the figures."""
    sys.path.insert(0, str(ROOT))
    from harness.judge.client import OpenAIJudge
    from harness.judge.types import JudgeRequest

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.chat_server", "--latency", str(latency)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        os.environ.setdefault("OPENAI_API_KEY", "sk-perf-not-a-real-key")
        judge = OpenAIJudge(
            model="gpt-4-1106-preview",
            base_url=f"http://127.0.0.1:{port}/v1",
            concurrency=concurrency,
            use_cache=False,
            timeout_s=30.0,
        )
        requests = [
            JudgeRequest.chat(
                f"perf/{i}", "You are a judge.", f"Rate answer number {i}.", temperature=0.2, max_tokens=64
            )
            for i in range(n)
        ]
        start, cpu_start = time.perf_counter(), time.process_time()
        replies = judge.judge(requests)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        server.terminate()
        server.wait(10)
    ideal = n * latency / concurrency
    return {
        "requests": n,
        "latency_s": latency,
        "concurrency": concurrency,
        "ok": sum(r.ok for r in replies),
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "ratio": round(wall / ideal, 3),
        "goal_ratio": 1.25,
        "client_cpu_s": round(cpu, 3),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "met": wall <= 1.25 * ideal,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.requests, args.latency, args.concurrency)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if result["met"] and result["ok"] == result["requests"] else 1)


if __name__ == "__main__":
    main()
