"""SSE and Streamable HTTP: real clients over real sockets on 127.0.0.1, secure by default."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import ALL_TOOLS, API_KEY, CAPTURED, counts, ingest_counts, server_env, text_of
from tests.dodo_double import EVENT, DodoDouble, Reply
from tests.probe_stdio import initialize_request

pytestmark = pytest.mark.anyio

TOKEN = "mcp-token-for-tests-0123456789abcdef"
SANDBOX = ("--sandbox", "--sandbox-db", ":memory:")


class Served:
    def __init__(self, process: subprocess.Popen[bytes], errlog: Any, url: str) -> None:
        self.process = process
        self._errlog = errlog
        self.url = url

    @property
    def stderr(self) -> str:
        self._errlog.seek(0)
        return str(self._errlog.read())


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start `dodo-mcp ARGS --port 0` and wait for the line that names its URL."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        process = subprocess.Popen(
            [sys.executable, "-m", "dodo_mcp", *args, "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errlog,
            env=env or server_env(None, DODO_MCP_AUTH_TOKEN=TOKEN),
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                errlog.seek(0)
                found = re.search(r"serving MCP over \S+ at (http://127\.0\.0\.1:\d+)", errlog.read())
                if found:
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    errlog.seek(0)
                    raise RuntimeError(f"dodo-mcp did not start: {errlog.read()}")
                time.sleep(0.05)
            yield Served(process, errlog, found.group(1))
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(20)
            errlog.seek(0)
            CAPTURED.append(errlog.read())


@asynccontextmanager
async def mcp_client(
    served: Served, transport: str, headers: dict[str, str] | None = None, *, terminate_on_close: bool = True
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {TOKEN}", **(headers or {})}
    if transport == "sse":
        connection: Any = sse_client(f"{served.url}/sse", headers=headers)
        async with Client(connection) as client:
            yield client
    else:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(
                streamable_http_client(f"{served.url}/mcp", http_client=http, terminate_on_close=terminate_on_close)
            ) as client,
        ):
            yield client


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_every_tool_over_the_network(transport: str) -> None:
    events = [{"event_id": f"h{i}", "customer_id": "cus_h", "event_name": "api_request"} for i in range(3)]
    with serving("--transport", transport, *SANDBOX) as served:
        async with mcp_client(served, transport) as client:
            tools = await client.list_tools()
            assert [t.name for t in tools.tools] == ALL_TOOLS
            ingested = await client.call_tool("ingest_events", {"events": events})
            listed = await client.call_tool("list_events", {"customer_id": "cus_h"})
            retrieved = await client.call_tool("retrieve_event", {"event_id": "h1"})
            missing = await client.call_tool("retrieve_event", {"event_id": "H1"})
    assert counts(ingested.structured_content) == ingest_counts(submitted=3, ingested=3)
    assert listed.structured_content is not None
    assert sorted(item["event_id"] for item in listed.structured_content["items"]) == ["h0", "h1", "h2"]
    assert retrieved.structured_content is not None and retrieved.structured_content["event_id"] == "h1"
    assert missing.is_error and text_of(missing).startswith("Dodo API error 404 NOT_FOUND")


async def test_stateless_streamable_http_serves_independent_requests() -> None:
    with serving("--transport", "streamable-http", "--stateless", *SANDBOX) as served:
        for _ in range(2):
            async with mcp_client(served, "streamable-http") as client:
                result = await client.call_tool("list_events", {})
                assert not result.is_error


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_security_responses(transport: str) -> None:
    path = "/mcp" if transport == "streamable-http" else "/sse"
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    with (
        serving("--transport", transport, *SANDBOX, "--max-body-bytes", "1000") as served,
        httpx2.Client(base_url=served.url, timeout=10) as http,
    ):
        health = http.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})

        def call(headers: dict[str, str], content: bytes = body) -> httpx2.Response:
            base = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
            if transport == "sse":
                return http.post("/messages/?session_id=0", content=content, headers={**base, **headers})
            return http.post(path, content=content, headers={**base, **headers})

        missing = call({})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="dodo-mcp", error="invalid_request"'
        wrong = call({"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == 'Bearer realm="dodo-mcp", error="invalid_token"'
        auth = {"Authorization": f"Bearer {TOKEN}"}
        # Two Authorization headers: before, the last one won; now neither does (issue 13, item 7).
        for pair in ([f"Bearer {TOKEN}", "Bearer not-the-token"], ["Bearer not-the-token", f"Bearer {TOKEN}"]):
            doubled = http.post(
                path if transport == "streamable-http" else "/messages/?session_id=0",
                content=body,
                headers=[("content-type", "application/json"), *(("authorization", value) for value in pair)],
            )
            assert (doubled.status_code, doubled.json()) == (
                400,
                {"error": "invalid_request", "error_description": "send exactly one Authorization header"},
            )
        assert call({**auth, "Origin": "http://evil.example"}).status_code == 403
        assert call({**auth, "Host": "evil.example"}).status_code == 421
        # Matched by prefix before (issue 13, item 7): each is now parsed into host and port, compared exactly.
        port = served.url.rsplit(":", 1)[1]
        for host in ("localhost:evil.example", f"127.0.0.1:{port}@evil.example", f"localhost:{port}.evil.example"):
            assert call({**auth, "Host": host}).status_code == 421, host
        for origin in (f"http://localhost:{port}.evil.example", f"http://127.0.0.1:{port}@evil.example", "null"):
            assert call({**auth, "Origin": origin}).status_code == 403, origin
        assert call(auth, content=b"x" * 2000).status_code == 413
        # Nothing about the configuration leaks through the health check or the errors.
        for response in (health, missing, wrong):
            assert API_KEY not in response.text and TOKEN not in response.text


def test_refusals_at_startup() -> None:
    env = server_env(None)
    exposed = subprocess.run(
        [sys.executable, "-m", "dodo_mcp", "--transport", "streamable-http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert exposed.returncode == 2
    assert exposed.stderr.startswith(
        "dodo-mcp: refusing to serve on 0.0.0.0 without authentication: set DODO_MCP_AUTH_TOKEN"
    )
    assert exposed.stderr.count("\n") == 1

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run(
            [sys.executable, "-m", "dodo_mcp", "--transport", "sse", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
    assert taken.returncode == 69
    assert taken.stderr.splitlines()[-1] == f"dodo-mcp: cannot listen on 127.0.0.1:{port}: address already in use"


async def test_one_http_client_per_process_even_over_sse(dodo_double: DodoDouble) -> None:
    dodo_double.reset()
    env = server_env(dodo_double.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    with serving("--transport", "sse", env=env) as served:
        for _ in range(3):  # three SSE connections, each with its own lifespan
            async with mcp_client(served, "sse") as client:
                result = await client.call_tool("retrieve_event", {"event_id": "evt_1"})
                assert result.structured_content == EVENT
    # One keep-alive connection to Dodo served all three SSE connections.
    assert len(dodo_double.requests) == 3
    assert len({r.client_port for r in dodo_double.requests}) == 1


async def test_per_client_keys_only_when_opted_in(dodo_double: DodoDouble) -> None:
    dodo_double.reset()
    env = server_env(dodo_double.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    own = {"x-dodo-payments-api-key": "sk_test_client_own_key"}
    with serving("--transport", "streamable-http", env=env) as served:
        async with mcp_client(served, "streamable-http", own) as client:
            await client.call_tool("retrieve_event", {"event_id": "evt_1"})
    with serving("--transport", "streamable-http", "--per-client-api-key", env=env) as served:
        async with mcp_client(served, "streamable-http", own) as client:
            await client.call_tool("retrieve_event", {"event_id": "evt_1"})
        async with mcp_client(served, "streamable-http") as client:
            await client.call_tool("retrieve_event", {"event_id": "evt_1"})
        stderr = served.stderr
    assert [r.headers["authorization"] for r in dodo_double.requests] == [
        f"Bearer {API_KEY}",  # not opted in: the header is ignored
        "Bearer sk_test_client_own_key",
        f"Bearer {API_KEY}",  # opted in, but this client sent none
    ]
    assert "sk_test_client_own_key" not in stderr


@pytest.mark.parametrize("stateless", [False, True])
async def test_fifty_clients_twenty_calls_each(stateless: bool) -> None:
    flags = ("--stateless",) if stateless else ()
    with serving("--transport", "streamable-http", *flags, *SANDBOX) as served:
        async with mcp_client(served, "streamable-http") as seeder:
            seeded = [{"event_id": f"load-{i}", "customer_id": f"cus_{i % 5}", "event_name": "n"} for i in range(50)]
            await seeder.call_tool("ingest_events", {"events": seeded})
        outcomes: list[bool] = []

        async def one_client(index: int) -> None:
            async with mcp_client(served, "streamable-http") as client:
                for call in range(20):
                    if call % 2:
                        result = await client.call_tool("retrieve_event", {"event_id": f"load-{index}"})
                        ok = (
                            result.structured_content is not None
                            and result.structured_content["event_id"] == f"load-{index}"
                        )
                    else:
                        result = await client.call_tool("list_events", {"customer_id": f"cus_{index % 5}"})
                        items = (result.structured_content or {}).get("items", [])
                        ok = len(items) == 10 and all(item["customer_id"] == f"cus_{index % 5}" for item in items)
                    outcomes.append(ok and not result.is_error)

        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                for index in range(50):
                    group.start_soon(one_client, index)
    assert len(outcomes) == 1000 and all(outcomes)


async def test_sigterm_lets_an_in_flight_call_finish(dodo_double: DodoDouble) -> None:
    """Raw HTTP, so that no client-side stream reconnecting to the stopped server muddies the result."""
    dodo_double.reset()
    dodo_double.script(Reply(delay_s=2, body=EVENT))
    env = server_env(dodo_double.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "retrieve_event", "arguments": {"event_id": "slow"}},
    }
    with serving("--transport", "streamable-http", env=env) as served:
        async with httpx2.AsyncClient(base_url=served.url, headers=headers, timeout=30) as http:
            opened = await http.post("/mcp", json=initialize)
            session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
            await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            answers: list[httpx2.Response] = []

            async def slow_call() -> None:
                answers.append(await http.post("/mcp", json=call, headers=session))

            async with anyio.create_task_group() as group:
                group.start_soon(slow_call)
                await anyio.sleep(0.5)
                os.kill(served.process.pid, signal.SIGTERM)
        assert served.process.wait(30) == 0
        assert "stopped after SIGTERM" in served.stderr
    data = [line[5:] for line in answers[0].text.splitlines() if line.startswith("data:")]
    message = json.loads(data[-1])
    assert message["id"] == 2
    assert message["result"]["structuredContent"] == EVENT
    assert [r.raw_path for r in dodo_double.requests] == ["/events/slow"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_the_sdks_client_gets_the_result_of_a_call_in_flight_at_sigterm(
    dodo_double: DodoDouble, mode: str, stateless: bool
) -> None:
    """Before: the session ended with ConnectError('All connection attempts failed') and no result: uvicorn
    closed its listening socket at once, and the client's next request (tools/list, to check the result
    against the outputSchema) could not connect. Now the drain keeps accepting; only new sessions get 503."""
    dodo_double.reset()
    dodo_double.script(Reply(delay_s=2, body=EVENT))
    env = server_env(dodo_double.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    args = ("--transport", "streamable-http", *(("--stateless",) if stateless else ()))
    with serving(*args, env=env) as served:
        results = []
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http,
            Client(streamable_http_client(f"{served.url}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
        ):

            async def call() -> None:
                results.append(await client.call_tool("retrieve_event", {"event_id": "slow"}))

            async with anyio.create_task_group() as group:
                group.start_soon(call)
                await anyio.sleep(0.5)
                os.kill(served.process.pid, signal.SIGTERM)
                await anyio.sleep(0.3)
                # Meanwhile a new session is turned away, with when to retry (elsewhere).
                opening = initialize_request("late")
                refused = await http.post(
                    f"{served.url}/mcp",
                    json=opening,
                    headers={"Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
                )
                assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")
        assert served.process.wait(30) == 0
        assert "stopped after SIGTERM" in served.stderr
    [result] = results
    assert not result.is_error and result.structured_content == EVENT
    assert [r.raw_path for r in dodo_double.requests] == ["/events/slow"]
