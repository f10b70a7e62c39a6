"""Prometheus metrics: exact counts after a scripted sequence of calls, retries and errors, over real HTTP.

dodo-mcp runs as a process in front of the Dodo double, which scripts each upstream answer (a 503 then a
200, a 429 with retry-after-ms, a 404); the scrape is parsed with prometheus-client's own parser.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import API_KEY, server_env
from tests.dodo_double import DodoDouble, Reply
from tests.test_http import TOKEN, Served, mcp_client, serving

pytestmark = pytest.mark.anyio

EVENT = {"event_id": "m1", "customer_id": "cus_m", "event_name": "api_request"}


Samples = dict[str, list[tuple[dict[str, str], float]]]


def samples(text: str) -> Samples:
    """Every sample of a scrape: by name, its labels and value."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def named(found: Samples, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """The samples of `name`, by the values of `labels`, in that order."""
    return {tuple(values[label] for label in labels): value for values, value in found.get(name, [])}


@asynccontextmanager
async def handshake_client(served: Served) -> AsyncIterator[Client]:
    """The SDK's client with the initialize handshake, which opens a Streamable HTTP session (2026-07-28 has none)."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http,
        Client(streamable_http_client(f"{served.url}/mcp", http_client=http), mode="legacy") as client,
    ):
        yield client


def scrape(url: str, token: str | None = TOKEN) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.get(f"{url}/metrics", headers=headers, timeout=10)


async def test_exact_counts_after_calls_retries_and_errors(dodo: DodoDouble) -> None:
    env = server_env(dodo.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    with serving("--transport", "streamable-http", "--max-retries", "2", env=env) as served:
        async with handshake_client(served) as client:
            dodo.script(Reply(503, {"code": "UNAVAILABLE", "message": "down"}))  # then the default 200
            assert not (await client.call_tool("list_events", {})).is_error
            dodo.script(Reply(429, {"code": "RATE_LIMITED", "message": "slow down"}, headers={"retry-after-ms": "10"}))
            assert not (await client.call_tool("retrieve_event", {"event_id": "evt_1"})).is_error
            dodo.script(Reply(404, {"code": "NOT_FOUND", "message": "Not found"}))
            assert (await client.call_tool("retrieve_event", {"event_id": "evt_404"})).is_error
            assert (await client.call_tool("ingest_events", {"events": []})).is_error  # refused before any request
            assert (await client.call_tool("no_such_tool", {})).is_error
            assert not (await client.call_tool("ingest_events", {"events": [EVENT]})).is_error
            answer = scrape(served.url)
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain; version=")
            found = samples(answer.text)
            assert named(found, "dodo_mcp_sessions_open") == {(): 1.0}
    assert named(found, "dodo_mcp_tool_calls_total", "tool", "outcome") == {
        ("list_events", "ok"): 1.0,
        ("retrieve_event", "ok"): 1.0,
        ("retrieve_event", "error"): 1.0,
        ("ingest_events", "error"): 1.0,
        ("unknown", "error"): 1.0,
        ("ingest_events", "ok"): 1.0,
    }
    assert named(found, "dodo_mcp_tool_call_duration_seconds_count", "tool") == {
        ("list_events",): 1.0,
        ("retrieve_event",): 2.0,
        ("ingest_events",): 2.0,
        ("unknown",): 1.0,
    }
    assert named(found, "dodo_mcp_tool_calls_in_flight") == {(): 0.0}
    assert named(found, "dodo_mcp_upstream_requests_total", "operation", "status") == {
        ("GET /events", "503"): 1.0,
        ("GET /events", "200"): 1.0,
        ("GET /events/{event_id}", "429"): 1.0,
        ("GET /events/{event_id}", "200"): 1.0,
        ("GET /events/{event_id}", "404"): 1.0,
        ("POST /events/ingest", "200"): 1.0,
    }
    assert named(found, "dodo_mcp_upstream_request_duration_seconds_count", "operation") == {
        ("GET /events",): 2.0,
        ("GET /events/{event_id}",): 3.0,
        ("POST /events/ingest",): 1.0,
    }
    assert named(found, "dodo_mcp_upstream_retries_total", "operation", "reason") == {
        ("GET /events", "error"): 1.0,
        ("GET /events/{event_id}", "rate_limit"): 1.0,
    }
    assert named(found, "dodo_mcp_rate_limit_waits_total", "operation") == {("GET /events/{event_id}",): 1.0}
    assert named(found, "dodo_mcp_rate_limit_wait_seconds_total", "operation") == {("GET /events/{event_id}",): 0.01}
    # What dodo-mcp sent upstream, to match the counts: six requests.
    assert [(r.method, r.path) for r in dodo.requests] == [
        ("GET", "/events"),
        ("GET", "/events"),
        ("GET", "/events/evt_1"),
        ("GET", "/events/evt_1"),
        ("GET", "/events/evt_404"),
        ("POST", "/events/ingest"),
    ]
    # No secret, no id, no argument in a label.
    for secret in (API_KEY, TOKEN, "evt_404", "cus_m"):
        assert secret not in answer.text


def test_metrics_are_behind_the_same_auth() -> None:
    with serving("--transport", "streamable-http", "--sandbox", "--sandbox-db", ":memory:") as served:
        assert scrape(served.url, None).status_code == 401
        assert scrape(served.url, "not-the-token").status_code == 401
        assert scrape(served.url).status_code == 200


def metrics_url(served: Served) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = re.search(r"serving metrics at (http://127\.0\.0\.1:\d+)/metrics", served.stderr)
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no metrics listener: {served.stderr}")


async def test_metrics_on_a_port_of_their_own(dodo: DodoDouble) -> None:
    env = server_env(dodo.url, DODO_MCP_AUTH_TOKEN=TOKEN)
    with serving("--transport", "sse", "--metrics-port", "0", "--metrics-host", "127.0.0.1", env=env) as served:
        url = metrics_url(served)
        assert url != served.url
        async with mcp_client(served, "sse") as client:
            assert not (await client.call_tool("list_events", {})).is_error
            answer = scrape(url, None)  # no token there: the listener serves nothing but the metrics
            assert answer.status_code == 200
            found = samples(answer.text)
            assert named(found, "dodo_mcp_sessions_open") == {(): 1.0}
        assert named(found, "dodo_mcp_tool_calls_total", "tool", "outcome") == {("list_events", "ok"): 1.0}
        assert named(found, "dodo_mcp_upstream_requests_total", "operation", "status") == {("GET /events", "200"): 1.0}
        assert httpx2.get(f"{url}/mcp", timeout=10).status_code == 404
        # Not on the MCP port then.
        assert scrape(served.url).status_code == 404
