"""dodo-mcp: an MCP server for Dodo Payments usage events.

The public surface is small on purpose: the version, the settings, the API client and
its exception family, the models of the API's shapes, and the server. Everything else is an
implementation detail. Names load on first use, so `dodo-mcp --version` and a stdio
start pay only for what they touch. The layers are mapped in the README ("Architecture").
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "Settings": "dodo_mcp.config",
    "settings_from_env": "dodo_mcp.config",
    "DodoClient": "dodo_mcp.api.client",
    "DodoError": "dodo_mcp.api.errors",
    "ConfigurationError": "dodo_mcp.api.errors",
    "InvalidArgumentsError": "dodo_mcp.tools.arguments",
    "DodoAPIError": "dodo_mcp.api.errors",
    "AuthenticationError": "dodo_mcp.api.errors",
    "NotFoundError": "dodo_mcp.api.errors",
    "RateLimitError": "dodo_mcp.api.errors",
    "DodoTransportError": "dodo_mcp.api.errors",
    "DodoTimeout": "dodo_mcp.api.errors",
    "DodoResponseError": "dodo_mcp.api.errors",
    "Event": "dodo_mcp.api.models",
    "EventInput": "dodo_mcp.api.models",
    "ListEventsQuery": "dodo_mcp.api.models",
    "build_server": "dodo_mcp.server",
}

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "DodoAPIError",
    "DodoClient",
    "DodoError",
    "DodoResponseError",
    "DodoTimeout",
    "DodoTransportError",
    "Event",
    "EventInput",
    "InvalidArgumentsError",
    "ListEventsQuery",
    "NotFoundError",
    "RateLimitError",
    "Settings",
    "__version__",
    "build_server",
    "settings_from_env",
]

if TYPE_CHECKING:
    from dodo_mcp.api.client import DodoClient
    from dodo_mcp.api.errors import (
        AuthenticationError,
        ConfigurationError,
        DodoAPIError,
        DodoError,
        DodoResponseError,
        DodoTimeout,
        DodoTransportError,
        NotFoundError,
        RateLimitError,
    )
    from dodo_mcp.api.models import Event, EventInput, ListEventsQuery
    from dodo_mcp.config import Settings, settings_from_env
    from dodo_mcp.server import build_server
    from dodo_mcp.tools.arguments import InvalidArgumentsError


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'dodo_mcp' has no attribute {name!r}")
