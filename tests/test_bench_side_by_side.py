"""bench/ section 8: the constant-cost backend speaks enough of the Dodo API for dodo-mcp's usage-event
tools (through a real MCP client), answers exactly what its docstring says, and the side-by-side table
computes its medians and per-round ratios as documented."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from bench import side_by_side
from bench.common import ConstantBackend
from dodo_mcp.config import Settings
from dodo_mcp.server import build_server

pytestmark = pytest.mark.anyio

EVENT = {
    "business_id": "bus_bench",
    "customer_id": "cus_3",
    "event_name": "api_request",
    "timestamp": "2026-01-01T00:00:00Z",
    "metadata": {"tokens_used": 103, "model": "small", "region": "eu-west-1", "cached": False},
}


@pytest.fixture(scope="module")
def backend() -> Any:
    with ConstantBackend() as running:
        yield running


def test_the_backend_answers_from_prepared_bytes(backend: ConstantBackend) -> None:
    with httpx2.Client(base_url=backend.url) as http:
        page = http.get("/events", params={"page_size": 10, "customer_id": "anything"})
        one = http.get("/events/evt_42")
        body = json.dumps({"events": [{"event_id": f"e{n}"} for n in range(3)]})
        ingested = http.post("/events/ingest", content=body, headers={"Content-Type": "application/json"})
        missing = http.get("/meters")
    assert page.status_code == 200
    assert page.json() == {"items": [{**EVENT, "event_id": f"evt_{n:05d}"} for n in range(10)]}
    assert one.json() == {**EVENT, "event_id": "evt_42"}
    assert ingested.json() == {"ingested_count": 3}
    assert (missing.status_code, missing.json()) == (
        404,
        {"code": "NOT_FOUND", "message": "no such route on the bench backend"},
    )
    assert page.headers["content-type"] == "application/json"


def test_the_backend_keeps_a_connection_alive_across_requests(backend: ConstantBackend) -> None:
    host, port = backend.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        for event_id in ("a", "b"):
            conn.sendall(f"GET /events/{event_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(65536)
            header, _, body = head.partition(b"\r\n\r\n")
            length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += conn.recv(65536)
            assert json.loads(body)["event_id"] == event_id


async def test_dodo_mcp_tools_work_against_the_backend(backend: ConstantBackend) -> None:
    settings = Settings(api_key=SecretStr("sk_bench"), base_url_override=backend.url)
    async with Client(build_server(settings)) as client:
        listed = await client.call_tool("list_events", {"page_size": 10})
        one = await client.call_tool("retrieve_event", {"event_id": "evt_7"})
        events = [{"event_id": f"i{n}", "customer_id": "c", "event_name": "api_request"} for n in range(5)]
        ingested = await client.call_tool("ingest_events", {"events": events})
    assert not listed.is_error and not one.is_error and not ingested.is_error
    assert listed.structured_content is not None and one.structured_content is not None
    assert [item["event_id"] for item in listed.structured_content["items"]] == [f"evt_{n:05d}" for n in range(10)]
    assert one.structured_content["event_id"] == "evt_7"
    assert one.structured_content["customer_id"] == "cus_3"
    assert ingested.structured_content is not None
    assert ingested.structured_content["ingested_count"] == 5


def synthetic_rounds() -> dict[str, Any]:
    def figures(scale: float) -> dict[str, float]:
        return {
            "ingest_p50_ms": 10 * scale,
            "ingest_cpu_ms": 8 * scale,
            "list_added_p50_ms": 1 * scale,
            "list_added_p99_ms": 1.5 * scale,
            "retrieve_added_p50_ms": 0.5 * scale,
            "retrieve_added_p99_ms": 1.0 * scale,
            "init_p50_ms": 500 * scale,
            "stateless_calls_per_s": 200 / scale,
            "stateless_cpu_ms": 4 * scale,
            "stateful_calls_per_s": 250 / scale,
            "stateful_cpu_ms": 3 * scale,
            "rss_mib": 70 * scale,
            "rss_growth_pct": 1.0,
        }

    rounds = []
    for dodo_scale in (1.0, 0.8, 1.2):
        node = figures(1.0)
        del node["stateful_calls_per_s"], node["stateful_cpu_ms"]
        rounds.append({"dodo-mcp": figures(dodo_scale), "Node 2.9.3": node, "bare forwarder": figures(1.0)})
    params = side_by_side.Params().__dict__
    return {"params": params, "rounds": rounds, "node": "v20", "node_peer": "/x/dist/index.js"}


def test_the_table_gives_medians_and_per_round_ratios() -> None:
    by_figure = {line.figure: line for line in side_by_side.lines(synthetic_rounds())}
    ingest = by_figure["ingest 1,000 events: p50 per call (server CPU)"]
    assert ingest.cells == {
        "dodo-mcp": "10.0 ms (8.0 ms)",
        "Node 2.9.3": "10.0 ms (8.0 ms)",
        "bare forwarder": "10.0 ms (8.0 ms)",
    }
    assert (ingest.versus_node, ingest.met) == ("1.00× (0.80–1.20)", True)
    listed = by_figure["list_events, added over a direct HTTP GET, p50 / p99"]
    assert listed.cells["dodo-mcp"] == "+1.00 / +1.50 ms"
    assert listed.met is True
    stateful = by_figure["Streamable HTTP stateful, 8 clients: calls/s (server CPU per call)"]
    assert stateful.cells["Node 2.9.3"] == "—"
    assert (stateful.versus_node, stateful.versus_bare) == ("—", "1.00× (0.83–1.25)")
    rss = by_figure["RSS after 10,000 calls (growth from call 1,000)"]
    assert (rss.cells["dodo-mcp"], rss.met) == ("70.0 MiB (+1.0%)", True)


def test_a_round_with_no_added_latency_has_no_ratio() -> None:
    data = synthetic_rounds()
    data["rounds"][0]["Node 2.9.3"]["retrieve_added_p50_ms"] = -0.1
    line = next(line for line in side_by_side.lines(data) if line.figure.startswith("retrieve_event"))
    assert line.versus_node == "1.00× (0.80–1.20, 2 of 3 rounds)"
