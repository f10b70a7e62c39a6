"""An interleaved A/B of two dodo-mcp source trees over stdio, against bench/constant_backend.py.

    python bench/ab.py TREE_A TREE_B [list,retrieve,ingest] [ROUNDS]

For measuring one lever: check the change out in one tree (a `git worktree add --detach`) and keep the
other as it was. Both servers run at once; each round sends a block of calls to each, in an order that
alternates from round to round, and records the block's median latency and the server's CPU over the
block (its threads' on-CPU time from /proc, to the nanosecond: common.thread_cpu_seconds). It prints
the medians over the rounds and B's ratio to A. Round 0 warms up and is not counted. Differences under
about 5% are this machine's noise.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ab.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ConstantBackend, RawClient, server_env, thread_cpu_seconds

BLOCK = {"list": 50, "retrieve": 50, "ingest": 6}


def server_argv(tree: str) -> list[str]:
    """dodo-mcp from `tree`'s sources (its dodo_mcp package first on the path)."""
    run = f"import sys, runpy; sys.path.insert(0, {tree!r}); runpy.run_module('dodo_mcp', run_name='__main__')"
    return [sys.executable, "-c", run]


def call(mode: str, n: int) -> tuple[str, dict[str, Any]]:
    if mode == "list":
        return "list_events", {"page_size": 10}
    if mode == "retrieve":
        return "retrieve_event", {"event_id": f"evt_{n % 2000:05d}"}
    events = [
        {
            "event_id": f"ab_{n}_{k}",
            "customer_id": f"cus_{k % 13}",
            "event_name": "api_request",
            "metadata": {"tokens_used": k, "model": "small", "region": "eu-west-1", "cached": k % 2 == 0},
        }
        for k in range(1000)
    ]
    return "ingest_events", {"events": events}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    trees = argv[:2]
    modes = (argv[2] if len(argv) > 2 else "list,retrieve").split(",")
    rounds = int(argv[3]) if len(argv) > 3 else 8
    latency: dict[tuple[int, str], list[float]] = {(side, mode): [] for side in (0, 1) for mode in modes}
    cpu: dict[tuple[int, str], list[float]] = {(side, mode): [] for side in (0, 1) for mode in modes}
    with ConstantBackend() as backend:
        env = server_env(backend.url, DODO_MCP_INGEST_BATCH_SIZE="1000")
        clients = [RawClient(server_argv(tree), env) for tree in trees]
        try:
            for client in clients:
                client.initialize()
            n = 0
            for number in range(rounds + 1):
                for mode in modes:
                    for side in (0, 1) if number % 2 == 0 else (1, 0):
                        client, times = clients[side], []
                        before = thread_cpu_seconds(client.pid)
                        for _ in range(BLOCK[mode]):
                            n += 1
                            request_id, line = client.call_tool_line(*call(mode, n))
                            began = time.perf_counter()
                            client.send_line(line)
                            answer = client.wait_for(request_id)
                            times.append(time.perf_counter() - began)
                            if answer["result"].get("isError"):
                                raise SystemExit(f"{trees[side]} {mode}: {str(answer['result'])[:300]}")
                        if number:
                            latency[(side, mode)].append(statistics.median(times))
                            cpu[(side, mode)].append((thread_cpu_seconds(client.pid) - before) / BLOCK[mode])
        finally:
            for client in clients:
                client.close()
    for mode in modes:
        a, b = (statistics.median(latency[(side, mode)]) * 1000 for side in (0, 1))
        ca, cb = (statistics.median(cpu[(side, mode)]) * 1000 for side in (0, 1))
        print(
            f"{mode:9s} p50 A {a:6.3f} B {b:6.3f} ms (B/A {b / a:.3f})   CPU A {ca:6.3f} B {cb:6.3f} ms (B/A {cb / ca:.3f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
