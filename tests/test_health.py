"""/healthz and /readyz on a real `dodo-mcp` process: ready until a drain starts, alive until it exits."""

from __future__ import annotations

import os
import signal

import anyio
import httpx2
import pytest

from tests.conftest import server_env
from tests.dodo_double import EVENT, DodoDouble, Reply
from tests.probe_stdio import initialize_request
from tests.test_http import TOKEN, serving

pytestmark = pytest.mark.anyio

MCP_HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
}


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
async def test_readyz_fails_as_soon_as_a_drain_starts_while_healthz_stays_ok(
    dodo_double: DodoDouble, stateless: bool
) -> None:
    """Before: there was no /readyz (404), so a load balancer kept sending new sessions to a draining replica."""
    dodo_double.reset()
    dodo_double.script(Reply(delay_s=2, body=EVENT))
    env = server_env(dodo_double.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    flags = ("--stateless",) if stateless else ()
    with serving("--transport", "streamable-http", *flags, env=env) as served:
        async with httpx2.AsyncClient(base_url=served.url, timeout=30) as http:
            # No token: a prober holds none.
            before = [await http.get(path) for path in ("/healthz", "/readyz")]
            opened = await http.post("/mcp", json=initialize_request("t"), headers=MCP_HEADERS)
            session = {"mcp-session-id": opened.headers.get("mcp-session-id", ""), "mcp-protocol-version": "2025-06-18"}
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "retrieve_event", "arguments": {"event_id": "slow"}},
            }
            headers = {**MCP_HEADERS, **(session if not stateless else {})}

            async def slow_call() -> None:
                await http.post("/mcp", json=call, headers=headers)

            async with anyio.create_task_group() as group:
                group.start_soon(slow_call)
                while not dodo_double.requests:
                    await anyio.sleep(0.02)
                os.kill(served.process.pid, signal.SIGTERM)
                await anyio.sleep(0.3)
                during = [await http.get(path) for path in ("/healthz", "/readyz")]
        assert served.process.wait(30) == 0
    assert [(r.status_code, r.json()) for r in before] == [(200, {"status": "ok"}), (200, {"status": "ready"})]
    assert [(r.status_code, r.json()) for r in during] == [(200, {"status": "ok"}), (503, {"status": "draining"})]
