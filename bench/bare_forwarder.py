"""Baseline for per-call overhead: a bare MCPServer whose tools forward one request with httpx2.

No argument models, no retries, no deadline: the tool sends the GET (or, for ingest_events, the POST
of the events as given), parses the JSON and returns it as a dict (the SDK serialises it as text and structuredContent). Reads the same
environment as dodo-mcp: DODO_PAYMENTS_BASE_URL and DODO_PAYMENTS_API_KEY.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx2
from mcp.server.mcpserver import Context, MCPServer

BASE_URL = os.environ.get("DODO_PAYMENTS_BASE_URL", "http://127.0.0.1:8787")
API_KEY = os.environ.get("DODO_PAYMENTS_API_KEY", "sk_sandbox_local")


@asynccontextmanager
async def lifespan(_: MCPServer[httpx2.AsyncClient]) -> AsyncIterator[httpx2.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
    async with httpx2.AsyncClient(base_url=BASE_URL, headers=headers, timeout=30) as http:
        yield http


server: MCPServer[httpx2.AsyncClient] = MCPServer("bare-forwarder", lifespan=lifespan)


def _http(ctx: Context) -> httpx2.AsyncClient:
    http = ctx.request_context.lifespan_context
    assert isinstance(http, httpx2.AsyncClient)
    return http


@server.tool()
async def list_events(ctx: Context, page_size: int = 10, page_number: int = 0) -> dict[str, Any]:
    """GET /events."""
    response = await _http(ctx).get("/events", params={"page_size": page_size, "page_number": page_number})
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


@server.tool()
async def retrieve_event(ctx: Context, event_id: str) -> dict[str, Any]:
    """GET /events/{event_id}."""
    response = await _http(ctx).get("/events/" + quote(event_id, safe=""))
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


@server.tool()
async def ingest_events(ctx: Context, events: list[dict[str, Any]]) -> dict[str, Any]:
    """POST /events/ingest."""
    response = await _http(ctx).post("/events/ingest", json={"events": events})
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


if __name__ == "__main__":
    import sys

    # `--http PORT [--stateless]` serves Streamable HTTP on 127.0.0.1 (bench section 6); stdio otherwise.
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        server.run("streamable-http", host="127.0.0.1", port=port, stateless_http="--stateless" in sys.argv)
    else:
        server.run("stdio")
