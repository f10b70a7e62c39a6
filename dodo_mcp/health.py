"""The HTTP transports' health endpoints, for load balancers and orchestrators.

- `/healthz`, liveness: the process answers. It stays 200 through a drain, so an orchestrator does
  not kill a replica that is finishing its calls.
- `/readyz`, readiness: the process takes new sessions. It answers 503 from the moment a drain
  starts (the first SIGTERM), so a load balancer stops sending it new work at once, while the calls
  in flight finish (dodo_mcp.http_transport.DrainGate).

Both are open (no bearer token: a prober holds none) and say nothing about the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
HEALTH_PATHS = (HEALTH_PATH, READY_PATH)


def serve_health(server: MCPServer[Any], draining: Callable[[], bool]) -> None:
    """Add /healthz and /readyz to `server`'s HTTP app; `draining` says whether a drain has started."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if draining():
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ready"})

    server.custom_route(HEALTH_PATH, methods=["GET"], include_in_schema=False)(healthz)
    server.custom_route(READY_PATH, methods=["GET"], include_in_schema=False)(readyz)
