"""dodo-mcp over Streamable HTTP on the in-memory sandbox, plus the `test_reconnection` tool the conformance suite calls.

    python -m tests.conformance_server [--port N]

The MCP conformance suite's `server-sse-polling` scenario (SEP-1699) calls a tool named
`test_reconnection` and expects the server to close the call's SSE stream mid-call, then to deliver
the result when the client reconnects with Last-Event-ID. dodo-mcp has no such tool, so this harness
adds one to the real server (the same build_server and http_transport.serve as `dodo-mcp
--transport streamable-http --sandbox`): it closes its stream, then makes a real long call, the
real ingest_events tool with 2,000 events (4 batches of 500) against the sandbox, and answers with
that tool's result. Used by .ci/run; nothing here is part of the product.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult

from dodo_mcp import http_transport
from dodo_mcp.api.client import DodoClient
from dodo_mcp.config import settings_from_env
from dodo_mcp.logs import configure_logging
from dodo_mcp.sandbox import sandbox_backend
from dodo_mcp.sandbox.store import open_store
from dodo_mcp.server import InFlightCalls, build_server

EVENTS = 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    configure_logging("INFO")
    store = open_store(":memory:")
    settings, transport = sandbox_backend(settings_from_env({}), store)
    client = DodoClient(settings, transport=transport)
    calls = InFlightCalls()
    server = build_server(settings, client=client, in_flight=calls)
    rounds = 0

    @server.tool(name="test_reconnection", description="Closes its SSE stream, then ingests 2,000 events.")
    async def test_reconnection(ctx: Context[DodoClient, Any]) -> Any:
        nonlocal rounds
        rounds += 1
        await ctx.close_sse_stream()
        events = [
            {"event_id": f"conformance:{rounds}:{i}", "customer_id": "cus_conformance", "event_name": "api_request"}
            for i in range(EVENTS)
        ]
        result = await server.call_tool("ingest_events", {"events": events}, ctx)
        assert isinstance(result, CallToolResult) and not result.is_error, result
        return result.structured_content

    settings_http = http_transport.HttpSettings(transport="streamable-http", port=args.port)
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(http_transport.serve, server, client, settings_http, calls)


if __name__ == "__main__":
    main()
