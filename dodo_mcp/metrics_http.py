"""/metrics over HTTP: on the MCP app behind its auth, or alone on a port of its own for a cluster's scraper.

What is counted lives in dodo_mcp.metrics; this module serves it, and counts the open SSE streams (the
Streamable HTTP sessions are read from the SDK's session manager, through dodo_mcp.mcp_sdk).
"""

from __future__ import annotations

import socket
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dodo_mcp.metrics import METRICS_CONTENT_TYPE, Metrics

METRICS_PATH = "/metrics"


def metrics_route(metrics: Metrics) -> Any:
    """A starlette endpoint answering the scrape."""

    async def scrape(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    return scrape


class MetricsOnly:
    """The separate metrics listener's app: GET /metrics, and 404 for anything else (no MCP, no token)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan to run
        if scope["path"] != METRICS_PATH or scope["method"] not in ("GET", "HEAD"):
            await JSONResponse({"error": "not found: metrics are at /metrics"}, status_code=404)(scope, receive, send)
            return
        response = Response(self._metrics.exposition(), media_type=METRICS_CONTENT_TYPE)
        await response(scope, receive, send)


class OpenStreams:
    """Counts the SSE streams (GET `path`) open right now: an SSE session lives as long as its stream."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self._path = path
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self._path:
            await self.app(scope, receive, send)
            return
        self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= 1


async def serve_metrics(metrics: Metrics, sock: socket.socket) -> None:
    """Serve /metrics on `sock` until cancelled."""
    import uvicorn

    config = uvicorn.Config(
        MetricsOnly(metrics), log_config=None, access_log=False, lifespan="off", server_header=False
    )
    await uvicorn.Server(config).serve(sockets=[sock])
