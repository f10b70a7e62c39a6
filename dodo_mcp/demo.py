"""`dodo-mcp demo`: watch a real MCP client drive every tool against the local sandbox.

It creates a throwaway sandbox database with one meter (through the sandbox's own
POST /meters, as you would against Dodo), starts `dodo-mcp --sandbox` on it as a
subprocess, connects over stdio with the MCP SDK's client, and prints each call
and its result. No account, no key and no network are involved.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, SANDBOX_BASE_URL, create_app, open_store
from dodo_mcp.tools.messages import IDEMPOTENT

METER = {
    "name": "Tokens on the large model",
    "event_name": "api_request",
    "measurement_unit": "tokens",
    "aggregation": {"type": "sum", "key": "tokens"},
    "filter": {"conjunction": "and", "clauses": [{"key": "model", "operator": "equals", "value": "large"}]},
}


async def create_meter(db: Path) -> str:
    store = open_store(db)
    try:
        transport = httpx2.ASGITransport(app=create_app(store))
        async with httpx2.AsyncClient(transport=transport, base_url=SANDBOX_BASE_URL) as http:
            response = await http.post(
                "/meters", json=METER, headers={"Authorization": f"Bearer {DEFAULT_SANDBOX_API_KEY}"}
            )
            response.raise_for_status()
            meter_id: str = response.json()["id"]
            return meter_id
    finally:
        store.close()


def _events(now: datetime) -> list[dict[str, Any]]:
    minute = timedelta(minutes=1)
    return [
        {
            "event_id": f"cus_ada:api_request:{(now - i * minute).strftime('%H%M')}",
            "customer_id": "cus_ada",
            "event_name": "api_request",
            "timestamp": (now - i * minute).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "metadata": {"tokens": tokens, "model": model},
        }
        for i, (tokens, model) in enumerate([(1200, "large"), (300, "small"), (950, "large")])
    ]


async def run_demo(out: TextIO) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="dodo-mcp-demo-") as folder:
        db = Path(folder) / "sandbox.sqlite3"
        meter_id = await create_meter(db)
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "dodo_mcp", "--sandbox", "--sandbox-db", str(db), "--log-level", "WARNING"],
        )
        events = _events(now)
        stale = {**events[0], "event_id": "stale", "timestamp": (now - timedelta(hours=2)).isoformat()}
        crowded = {**events[0], "event_id": "crowded", "metadata": {f"k{i}": i for i in range(51)}}
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("Record three usage events", "ingest_events", {"events": events}),
            (f"Send the same events again: {IDEMPOTENT}", "ingest_events", {"events": events}),
            (
                "Bad events are refused before anything is sent",
                "ingest_events",
                {"events": [events[0], events[0], stale, crowded]},
            ),
            ("List the customer's events, newest first", "list_events", {"customer_id": "cus_ada", "page_size": 2}),
            ("Next page", "list_events", {"customer_id": "cus_ada", "page_size": 2, "page_number": 1}),
            ("Only the events the meter counts (model = large)", "list_events", {"meter_id": meter_id}),
            ("Fetch one event by its id", "retrieve_event", {"event_id": events[1]["event_id"]}),
            ("Event ids are case-sensitive", "retrieve_event", {"event_id": events[1]["event_id"].upper()}),
            (
                "How many tokens did the customer use, per model? (one call instead of paging)",
                "summarize_events",
                {
                    "customer_id": "cus_ada",
                    "group_by": ["metadata.model"],
                    "aggregation": {"type": "sum", "key": "tokens"},
                },
            ),
            (
                "Why doesn't the meter count this event?",
                "explain_meter_match",
                {"event_id": events[1]["event_id"], "meter_id": meter_id},
            ),
        ]
        async with Client(stdio_client(params)) as client:  # type: ignore[arg-type]
            tools = await client.list_tools()
            out.write(f"dodo-mcp --sandbox is running; its tools: {', '.join(t.name for t in tools.tools)}\n")
            out.write(f"(a sandbox meter {meter_id} sums `tokens` of api_request events with model = large)\n")
            for title, tool, arguments in steps:
                result = await client.call_tool(tool, arguments)
                out.write(f"\n## {title}\n> {tool} {json.dumps(arguments)[:300]}\n")
                if result.is_error:
                    text = result.content[0].text if result.content and result.content[0].type == "text" else ""
                    out.write(f"< error (isError: true):\n{text}\n")
                else:
                    out.write(f"< {json.dumps(result.structured_content, indent=2)}\n")
        out.write("\nDone. Add `dodo-mcp --sandbox` to your MCP client to try it yourself (see README).\n")
        out.flush()


def main() -> int:
    anyio.run(run_demo, sys.stdout)
    return 0
