"""The embedded sandbox: a persistent, Dodo-compatible usage-events backend on SQLite.

    store = open_store()                      # or open_store(":memory:"), open_store(path)
    app = create_app(store, DEFAULT_SANDBOX_API_KEY)
    # serve `app` with uvicorn, or put it behind DodoClient in-process:
    settings, transport = sandbox_backend(settings, store)

It may use the API layer (the wire models, the meter engine) and config, never the tools, the
server or the MCP SDK. Nothing outside this package imports it at module level: only sandbox mode
pays for it.
    app          the ASGI app: routes, Dodo's status codes and error bodies
    store        SQLite in WAL mode: events, meters, real transactions
    meter_sql    meter filters translated to SQL, exactly the meter engine's answers
    faults       fault injection for `sandbox serve --fault-rate`
"""

from __future__ import annotations

import dataclasses

import httpx2
from pydantic import SecretStr

from dodo_mcp.config import DEFAULT_SANDBOX_API_KEY, Settings
from dodo_mcp.sandbox.app import SandboxApp, create_app
from dodo_mcp.sandbox.store import DEFAULT_BUSINESS_ID, SandboxStore, default_db_path, open_store

# Where the in-process sandbox "lives": never resolved, the ASGI transport answers every request.
SANDBOX_BASE_URL = "http://sandbox.dodo-mcp.local"

__all__ = [
    "DEFAULT_BUSINESS_ID",
    "DEFAULT_SANDBOX_API_KEY",
    "SANDBOX_BASE_URL",
    "SandboxApp",
    "SandboxStore",
    "create_app",
    "default_db_path",
    "open_store",
    "sandbox_backend",
]


def sandbox_backend(
    settings: Settings, store: SandboxStore, api_key: str = DEFAULT_SANDBOX_API_KEY
) -> tuple[Settings, httpx2.ASGITransport]:
    """Settings and an httpx2 transport that put the sandbox over `store`, in-process, behind DodoClient."""
    # The real Dodo key, if set, is dropped: it must never travel to the sandbox.
    sandboxed = dataclasses.replace(
        settings, api_key=SecretStr(api_key), base_url_override=SANDBOX_BASE_URL, sandbox=True
    )
    return sandboxed, httpx2.ASGITransport(app=create_app(store, api_key))
