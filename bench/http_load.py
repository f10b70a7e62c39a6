"""Section 6: Streamable HTTP under 8 and 50 concurrent clients, stateful and stateless.

Both servers forward the same GET /events?page_size=10 to the same sandbox on loopback:
dodo-mcp (`--transport streamable-http`) and a bare MCPServer with one forwarding tool
(bench/bare_forwarder.py --http). The load is raw JSON-RPC over HTTP with one keep-alive
httpx2 client per simulated MCP client, so the load generator costs the same for both.
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx2

from bench.common import BENCH, DODO_MCP, PROTOCOL_VERSION, PYTHON, BenchError, server_env, summary_ms

TOKEN = "bench-token-0123456789abcdef-bench"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CALL = {"name": "list_events", "arguments": {"page_size": 10}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(argv: list[str], env: dict[str, str], port: int, path: str = "/mcp") -> Iterator[str]:
    with served_process(argv, env, port) as _:
        yield f"http://127.0.0.1:{port}{path}"


@contextmanager
def served_process(argv: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The server started, once it accepts connections on 127.0.0.1:port; stopped on the way out."""
    # stderr to a file: a pipe nobody reads fills up under load and stalls the server's logging.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise BenchError(f"{argv[0]} did not start: {log.read().decode()[-500:]}") from None
                    time.sleep(0.05)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _result(response: httpx2.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise BenchError(f"HTTP {response.status_code}: {response.text[:200]}")
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in text.splitlines() if line.startswith("data:")]
        text = data[-1]
    message: dict[str, Any] = json.loads(text)
    if "result" not in message or message["result"].get("isError"):
        raise BenchError(f"the call failed: {text[:200]}")
    return message


async def one_client(
    url: str,
    calls: int,
    stateless: bool,
    latencies: list[float],
    auth: bool,
    call: dict[str, Any] = CALL,
    authorization: str | None = None,
) -> None:
    """`authorization` (a whole header value) replaces the bench token that `auth` sends."""
    if authorization is None and auth:
        authorization = f"Bearer {TOKEN}"
    headers = {**HEADERS, **({"Authorization": authorization} if authorization else {})}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        session: dict[str, str] = {"mcp-protocol-version": PROTOCOL_VERSION}
        if not stateless:
            opened = await http.post(
                url,
                json={
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": PROTOCOL_VERSION,
                        "capabilities": {},
                        "clientInfo": {"name": "bench", "version": "1"},
                    },
                },
            )
            _result(opened)
            session["mcp-session-id"] = opened.headers["mcp-session-id"]
            await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        for index in range(calls):
            body = {"jsonrpc": "2.0", "id": index + 1, "method": "tools/call", "params": call}
            started = time.perf_counter()
            _result(await http.post(url, json=body, headers=session))
            latencies.append(time.perf_counter() - started)


async def load(
    url: str,
    clients: int,
    calls: int,
    stateless: bool,
    auth: bool,
    call: dict[str, Any] = CALL,
    authorization: str | None = None,
) -> dict[str, Any]:
    latencies: list[float] = []
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(clients):
            group.start_soon(one_client, url, calls, stateless, latencies, auth, call, authorization)
    wall = time.perf_counter() - started
    return {"calls": len(latencies), "calls_per_s": round(len(latencies) / wall, 1), **summary_ms(latencies)}


def run(sandbox_url: str, quick: bool) -> list[dict[str, Any]]:
    """Every (server, mode, clients) combination, measured in this one run."""
    results = []
    for stateless in (False, True):
        for name in ("dodo-mcp", "bare MCPServer"):
            port = free_port()
            if name == "dodo-mcp":
                argv = [DODO_MCP, "--transport", "streamable-http", "--port", str(port)]
                argv += ["--stateless"] if stateless else []
                env = server_env(sandbox_url, DODO_MCP_AUTH_TOKEN=TOKEN)
            else:
                argv = [PYTHON, str(BENCH / "bare_forwarder.py"), "--http", str(port)]
                argv += ["--stateless"] if stateless else []
                env = server_env(sandbox_url)
            with served(argv, env, port) as url:
                anyio.run(load, url, 2, 3, stateless, name == "dodo-mcp")  # warm-up
                for clients in (8, 50):
                    calls = (5 if quick else 25) if clients == 50 else (10 if quick else 60)
                    figures = anyio.run(load, url, clients, calls, stateless, name == "dodo-mcp")
                    results.append(
                        {
                            "server": name,
                            "mode": "stateless" if stateless else "stateful",
                            "clients": clients,
                            **figures,
                        }
                    )
                    print(
                        f"  {name:15} {results[-1]['mode']:9} {clients:2} clients: {figures['calls_per_s']:7.1f} calls/s, "
                        f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms ({figures['calls']} calls)",
                        flush=True,
                    )
    return results
