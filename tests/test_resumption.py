"""Resumable streams: a proxy cuts a call's SSE stream mid-call; the SDK's client resumes and gets the result.

The server is a real `dodo-mcp --transport streamable-http` process, the proxy (tests/cutting_proxy.py)
a real uvicorn on 127.0.0.1 in front of it, the client the MCP SDK's own, with its own reconnect
(GET with Last-Event-ID after the priming event's `retry`). The SDK sends no priming event on the
2026-07-28 per-request path and keeps no events for it, so these calls use the handshake era.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from dodo_mcp.event_store import MemoryEventStore, SessionEvents
from tests.conftest import server_env
from tests.cutting_proxy import CuttingProxy
from tests.dodo_double import EVENT, DodoDouble, Reply
from tests.served_app import ServedApp
from tests.test_http import SANDBOX, TOKEN, Served, serving

pytestmark = pytest.mark.anyio

RETRY = ("--sse-retry", "50")


@asynccontextmanager
async def through_proxy(served: Served) -> AsyncIterator[tuple[Client, CuttingProxy]]:
    proxy = CuttingProxy(served.url)
    with ServedApp(proxy) as front:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http,
            Client(streamable_http_client(f"{front.url}/mcp", http_client=http), mode="legacy") as client,
        ):
            yield client, proxy


async def test_a_call_whose_stream_is_cut_mid_call_gets_its_result_after_the_reconnect(
    dodo_double: DodoDouble,
) -> None:
    """Before: the client saw the stream end and the call failed ('SSE stream ended and reconnection
    attempts were exhausted'): no priming event, no event ids, nothing kept to replay."""
    dodo_double.reset()
    # The call is still waiting for Dodo when the proxy cuts its stream.
    dodo_double.script(Reply(delay_s=1, body=EVENT))
    env = server_env(dodo_double.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    with serving("--transport", "streamable-http", *RETRY, env=env) as served:
        async with through_proxy(served) as (client, proxy):
            with anyio.fail_after(30):
                result = await client.call_tool("retrieve_event", {"event_id": "slow"})
    assert not result.is_error and result.structured_content == EVENT
    [cut] = [p for p in proxy.passed if p.cut]
    assert (cut.method, cut.rpc_method, len(cut.event_ids)) == ("POST", "tools/call", 1)
    # The reconnect named the one event the client had, the priming event, and got the rest from there.
    [resumed] = [p for p in proxy.passed if p.last_event_id is not None]
    assert (resumed.method, resumed.last_event_id) == ("GET", cut.event_ids[0])
    assert len(resumed.event_ids) >= 1 and cut.event_ids[0] not in resumed.event_ids
    assert [r.raw_path for r in dodo_double.requests] == ["/events/slow"]


async def test_each_session_resumes_its_own_call_never_another_sessions(dodo_double: DodoDouble) -> None:
    """Two sessions number their requests alike, so their calls share a stream id; each gets its own answer.

    Session a's call starts first and waits longer for Dodo; b's answer is stored before a's client
    reconnects (after a 3 s retry). Before events_per_session the store was shared by stream
    id, and a's resumed GET replayed b's answer as its own.
    """
    dodo_double.reset()
    dodo_double.script(Reply(delay_s=5, body={**EVENT, "event_id": "a"}), Reply(body={**EVENT, "event_id": "b"}))
    env = server_env(dodo_double.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    with serving("--transport", "streamable-http", "--sse-retry", "3000", env=env) as served:
        results: dict[str, object] = {}
        proxies: list[CuttingProxy] = []

        async def one_session(event_id: str) -> None:
            async with through_proxy(served) as (client, proxy):
                proxies.append(proxy)
                result = await client.call_tool("retrieve_event", {"event_id": event_id})
                results[event_id] = (result.structured_content or {}).get("event_id")

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(one_session, "a")
                while not dodo_double.requests:
                    await anyio.sleep(0.02)
                group.start_soon(one_session, "b")
    assert results == {"a": "a", "b": "b"}
    assert [r.raw_path for r in dodo_double.requests] == ["/events/a", "/events/b"]
    # Both calls were cut, and carried the same JSON-RPC id: the same stream id on the server.
    cut_ids = [[p.rpc_id for p in proxy.passed if p.cut] for proxy in proxies]
    assert cut_ids[0] == cut_ids[1] and len(cut_ids[0]) == 1


async def sse_answer_to_tools_list(*flags: str, header: str | None = "2025-11-25") -> list[list[str]]:
    """The SSE events (each a list of lines) answering tools/list in a fresh 2025-11-25 session of `dodo-mcp FLAGS`.

    `header`: the MCP-Protocol-Version header tools/list carries (None: none).
    """
    initialize = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    with serving("--transport", "streamable-http", *flags, *SANDBOX) as served:
        async with httpx2.AsyncClient(base_url=served.url, headers=headers, timeout=30) as http:
            opened = await http.post("/mcp", json=initialize)
            session = {"mcp-session-id": opened.headers["mcp-session-id"]}
            if header is not None:
                session["mcp-protocol-version"] = header
            listed = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=session)
    return [block.splitlines() for block in listed.text.replace("\r\n", "\n").strip().split("\n\n")]


async def test_the_priming_event_carries_an_id_and_the_retry_interval() -> None:
    priming, answer = await sse_answer_to_tools_list("--sse-retry", "2500")
    assert [line.split(":", 1)[0] for line in priming] == ["id", "data", "retry"]
    assert priming[1:] == ["data: ", "retry: 2500"]
    assert answer[0].startswith("id: ") and answer[0] != priming[0]
    assert json.loads(answer[-1][len("data: ") :])["id"] == 1


@pytest.mark.parametrize("header", ["2025-03-26", None], ids=["older header", "no header"])
async def test_a_session_that_negotiated_2025_11_25_is_primed_whatever_its_requests_header_says(
    header: str | None,
) -> None:
    """The conformance suite's server-sse-polling sends 2025-03-26 on its call in a 2025-11-25 session.

    Before session_versions: the SDK went by the header, sent no priming event, and the stream could not resume.
    """
    priming, answer = await sse_answer_to_tools_list("--sse-retry", "700", header=header)
    assert priming[1:] == ["data: ", "retry: 700"] and priming[0].startswith("id: ")
    assert json.loads(answer[-1][len("data: ") :])["id"] == 1


async def test_no_events_are_kept_when_turned_off() -> None:
    """--event-store-events 0: the answer is the only event, with no id to resume from and no retry."""
    [answer] = await sse_answer_to_tools_list("--event-store-events", "0")
    assert [line.split(":", 1)[0] for line in answer] == ["event", "data"]
    assert json.loads(answer[-1][len("data: ") :])["id"] == 1


async def test_the_memory_store_keeps_at_most_its_count_and_nothing_older_than_its_age() -> None:
    now = [0.0]
    store = MemoryEventStore(max_events=3, max_age_s=10, clock=lambda: now[0])
    sent: list[str | None] = []

    async def send(event: object) -> None:
        sent.append(getattr(event, "event_id", None))

    first = await store.store_event("s", None)
    ids = [await store.store_event("s", None) for _ in range(3)]
    assert store.size == 3
    # The oldest went when the fourth came: its id replays nothing.
    assert await store.replay_events_after(first, send) is None
    now[0] = 10.5
    assert await store.replay_events_after(ids[0], send) is None and store.size == 0
    assert sent == []


async def test_a_session_never_replays_another_sessions_events() -> None:
    shared = MemoryEventStore(max_events=10, max_age_s=60)
    mine, theirs = SessionEvents(shared, "mine"), SessionEvents(shared, "theirs")
    their_priming = await theirs.store_event("1", None)
    my_priming = await mine.store_event("1", None)
    sent: list[object] = []

    async def send(event: object) -> None:
        sent.append(event)

    assert await mine.replay_events_after(their_priming, send) is None
    assert await mine.replay_events_after(my_priming, send) == "1"
    assert sent == []
