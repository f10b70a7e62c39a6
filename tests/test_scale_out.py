"""Scale-out, proven: 50 clients call through HAProxy while each of 3 replicas is restarted in turn.

tests/haproxy_cluster.py runs every part as a real process on 127.0.0.1 (HAProxy with deploy/haproxy.cfg).
Each client ingests batches of new events, one call after another, for as long as the rolling restart
lasts. Then what the ingest reports say was stored is compared with what Dodo's stand-in holds.

- Stateless replicas: no call may fail.
- Stateful replicas (HAProxy routes by mcp-session-id): a session whose replica restarted ends; its
  client is told so (never left waiting), opens a new session and sends the batch again (safe: ingest is
  idempotent by event_id). Sessions on the other replicas carry on. Nothing else may fail.

The figures (calls, failures, events stored, duplicates) are printed: `pytest -s tests/test_scale_out.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from dodo_mcp.ended_sessions import SESSION_ENDED
from dodo_mcp.sandbox.store import open_store
from tests.conftest import need_part
from tests.haproxy_cluster import TOKEN, Cluster, haproxy_binary
from tests.probe_stdio import initialize_request
from tests.test_http import SANDBOX, serving
from tests.test_http import TOKEN as SERVER_TOKEN

pytestmark = pytest.mark.anyio

CLIENTS = 50
EVENTS_PER_CALL = 5
# What a client is told when its session is gone: a 404 that says so, or (for a call cut at its
# replica's exit) that its stream could not be resumed.
SESSION_ENDED_ANSWERS = (SESSION_ENDED, "SSE stream ended and reconnection attempts were exhausted")


@dataclass
class Tally:
    calls: int = 0
    failures: list[str] = field(default_factory=list)
    sessions_ended: int = 0
    sessions_opened: int = 0
    reports: list[dict[str, Any]] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)

    def total(self, key: str) -> int:
        return sum(int(report[key]) for report in self.reports)


async def one_client(index: int, url: str, tally: Tally, restarted: anyio.Event, started: anyio.Event) -> None:
    """Ingest a new batch per call until the rolling restart is over; on a session's end, a new session."""
    call = 0
    pending: list[dict[str, Any]] | None = None
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http:
        while not restarted.is_set() or pending is not None:
            try:
                async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client:
                    tally.sessions_opened += 1
                    while not restarted.is_set() or pending is not None:
                        if pending is None:
                            pending = [
                                {"event_id": f"c{index}-{call}-{i}", "customer_id": f"cus_{index}", "event_name": "n"}
                                for i in range(EVENTS_PER_CALL)
                            ]
                            call += 1
                        tally.calls += 1
                        result = await client.call_tool("ingest_events", {"events": pending})
                        started.set()
                        if result.is_error or result.structured_content is None:
                            tally.failures.append(f"client {index}: {result.content}")
                        else:
                            tally.reports.append(result.structured_content)
                            tally.sent.update(event["event_id"] for event in pending)
                        pending = None
            except Exception as exc:  # any way a call fails is counted: a session's end, or a failure
                if all(isinstance(e, MCPError) and str(e) in SESSION_ENDED_ANSWERS for e in leaves(exc)):
                    tally.sessions_ended += 1
                else:
                    tally.failures.append(f"client {index}: {exc!r}")
                    pending = None


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside an exception group (the client's task groups wrap what they raise), or `exc`."""
    inner = getattr(exc, "exceptions", None)
    return [leaf for e in inner for leaf in leaves(e)] if inner else [exc]


async def run_rolling_restart(cluster: Cluster) -> tuple[Tally, list[int]]:
    tally = Tally()
    restarted, started = anyio.Event(), anyio.Event()
    codes: list[int] = []
    with anyio.fail_after(150):
        async with anyio.create_task_group() as group:
            for index in range(CLIENTS):
                group.start_soon(one_client, index, cluster.url, tally, restarted, started)
            await started.wait()
            codes.extend(await anyio.to_thread.run_sync(cluster.rolling_restart))
            restarted.set()
    return tally, codes


def stored_events(database: Path) -> int:
    store = open_store(database)
    try:
        return store.count_events()
    finally:
        store.close()


def duplicates(tally: Tally) -> int:
    """Events sent again that Dodo already had: a batch stored by a call whose answer was lost, sent again."""
    return tally.total("ignored_count") + tally.total("possibly_stored_by_earlier_attempt")


def figures(mode: str, tally: Tally, stored: int) -> str:
    return (
        f"{mode}: {tally.calls} calls, {len(tally.failures)} failed, {tally.sessions_ended} sessions ended "
        f"({tally.sessions_opened} opened), {stored} events stored, {tally.total('ingested_count')} newly "
        f"ingested per the reports, {duplicates(tally)} duplicates (sent again, already stored)"
    )


def assert_reports_match_the_store(tally: Tally, stored: int) -> None:
    """Each event is reported once and stored once; the reports' counts add up to exactly what is stored."""
    assert tally.total("unconfirmed_count") == 0
    assert stored == len(tally.sent) == tally.total("submitted_count")
    assert tally.total("ingested_count") + duplicates(tally) == stored


@pytest.fixture
def haproxy() -> None:
    need_part("HAProxy", haproxy_binary() is not None, "apt-get install haproxy")


@pytest.mark.usefixtures("haproxy")
async def test_stateless_replicas_lose_no_call_across_a_rolling_restart(tmp_path: Path) -> None:
    with Cluster(tmp_path, stateless=True, grace_s=10) as cluster:
        tally, codes = await run_rolling_restart(cluster)
        stored = stored_events(cluster.database)
    print(figures("stateless", tally, stored))
    assert codes == [0, 0, 0]
    assert tally.failures == []
    assert tally.sessions_ended == 0
    # Every call confirmed, and the reports' counts are exactly what Dodo holds.
    assert tally.total("submitted_count") == tally.calls * EVENTS_PER_CALL
    assert_reports_match_the_store(tally, stored)


@pytest.mark.usefixtures("haproxy")
async def test_stateful_sessions_continue_or_are_told_they_ended_across_a_rolling_restart(tmp_path: Path) -> None:
    with Cluster(tmp_path, stateless=False, grace_s=3) as cluster:
        tally, codes = await run_rolling_restart(cluster)
        stored = stored_events(cluster.database)
    print(figures("stateful", tally, stored))
    assert codes == [0, 0, 0]
    # A session ended is answered, and its batch sent again in a new session; nothing else fails.
    assert tally.failures == []
    assert tally.sessions_opened == CLIENTS + tally.sessions_ended
    assert_reports_match_the_store(tally, stored)


async def test_a_request_for_an_ended_session_is_told_to_initialize_again() -> None:
    """Before: 404 with the SDK's bare 'Session not found', which reads like a wrong id."""
    headers = {
        "Authorization": f"Bearer {SERVER_TOKEN}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    with serving("--transport", "streamable-http", *SANDBOX) as served:
        async with httpx2.AsyncClient(base_url=served.url, headers=headers, timeout=30) as http:
            opened = await http.post("/mcp", json=initialize_request("t"))
            session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
            assert (await http.delete("/mcp", headers=session)).status_code == 200
            ended = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=session)
    assert ended.status_code == 404
    assert ended.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": SESSION_ENDED}}
