"""The embedded sandbox: a persistent, Dodo-compatible usage-events backend on SQLite.

    store = open_store()                      # or open_store(":memory:"), open_store(path)
    app = create_app(store, DEFAULT_SANDBOX_API_KEY)
    # serve `app` with uvicorn, or hand httpx2.ASGITransport(app=app) to DodoClient

Nothing outside this package imports it at module level: only sandbox mode pays for it.
"""

from __future__ import annotations

from dodo_mcp.sandbox.app import DEFAULT_SANDBOX_API_KEY, SandboxApp, create_app
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
]
