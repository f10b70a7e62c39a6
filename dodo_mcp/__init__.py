"""dodo-mcp: an MCP server for Dodo Payments usage events.

The public surface is small on purpose: the version, the settings, the API client and
its exception family, and the models of the API's shapes. Everything else is an
implementation detail of the server. Names load on first use, so `dodo-mcp --version`
and a stdio start pay only for what they touch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "Settings": "dodo_mcp.config",
    "settings_from_env": "dodo_mcp.config",
    "DodoClient": "dodo_mcp.client",
    "DodoError": "dodo_mcp.errors",
    "ConfigurationError": "dodo_mcp.errors",
    "InvalidArgumentsError": "dodo_mcp.errors",
    "DodoAPIError": "dodo_mcp.errors",
    "AuthenticationError": "dodo_mcp.errors",
    "NotFoundError": "dodo_mcp.errors",
    "RateLimitError": "dodo_mcp.errors",
    "DodoTransportError": "dodo_mcp.errors",
    "DodoTimeout": "dodo_mcp.errors",
    "DodoResponseError": "dodo_mcp.errors",
    "Event": "dodo_mcp.models",
    "EventInput": "dodo_mcp.models",
    "ListEventsQuery": "dodo_mcp.models",
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
    from dodo_mcp.client import DodoClient
    from dodo_mcp.config import Settings, settings_from_env
    from dodo_mcp.errors import (
        AuthenticationError,
        ConfigurationError,
        DodoAPIError,
        DodoError,
        DodoResponseError,
        DodoTimeout,
        DodoTransportError,
        InvalidArgumentsError,
        NotFoundError,
        RateLimitError,
    )
    from dodo_mcp.models import Event, EventInput, ListEventsQuery
    from dodo_mcp.server import build_server


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'dodo_mcp' has no attribute {name!r}")
