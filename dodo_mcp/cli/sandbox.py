"""`dodo-mcp --sandbox`'s backend, and the `dodo-mcp sandbox serve|reset` commands.

Imported only in the modes that use the sandbox, so a plain stdio start never loads sqlite3.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from dodo_mcp.cli.options import listed
from dodo_mcp.cli.parser import EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from dodo_mcp.config import API_KEY_ENV, DEFAULT_SANDBOX_API_KEY, SANDBOX_API_KEY_ENV, SANDBOX_DB_ENV
from dodo_mcp.logs import configure_logging
from dodo_mcp.sandbox import SandboxStore, create_app, open_store

logger = logging.getLogger("dodo_mcp")


def sandbox_db(flag: str | None) -> str | None:
    return flag or os.environ.get(SANDBOX_DB_ENV) or None


def sandbox_key(flag: str | None) -> str:
    return flag or os.environ.get(SANDBOX_API_KEY_ENV) or DEFAULT_SANDBOX_API_KEY


def open_sandbox(db: str | None) -> SandboxStore | None:
    """The sandbox database, or None after printing why it cannot be opened."""
    try:
        return open_store(db)
    except (OSError, sqlite3.Error) as exc:
        print(f"dodo-mcp: cannot open the sandbox database {db or '(default location)'}: {exc}", file=sys.stderr)
        return None


def sandbox_command(args: argparse.Namespace) -> int:
    """`dodo-mcp sandbox serve|reset`."""
    # The sandbox's key is printed, not redacted: it guards nothing real (see DEFAULT_SANDBOX_API_KEY) and
    # clients must be told it. A Dodo key in the environment is never used here, and stays redacted.
    configure_logging(
        getattr(args, "log_level", None) or "INFO",
        secrets=[os.environ.get(API_KEY_ENV, "").strip()],
        public=[_served_key(args)],
    )
    # `dodo-mcp --sandbox-db X sandbox reset` names the database before the command: it counts too, so a
    # reset never falls through to the default database.
    store = open_sandbox(sandbox_db(args.db or args.sandbox_db))
    if store is None:
        return EXIT_USAGE
    try:
        if args.sandbox_command == "reset":
            store.reset()
            logger.info("sandbox reset: deleted every event and meter in %s", store.path)
            return EXIT_OK
        return serve_sandbox(
            store,
            host=args.host,
            port=args.port,
            api_key=_served_key(args),
            fault_rate=args.fault_rate,
            fault_kinds=listed(args.fault_kinds),
            fault_seed=args.fault_seed,
        )
    finally:
        store.close()


def _served_key(args: argparse.Namespace) -> str:
    """The key `sandbox serve` accepts, given after the command or (as for the server) before it."""
    return sandbox_key(getattr(args, "api_key", None) or args.sandbox_api_key)


def serve_sandbox(
    store: SandboxStore,
    *,
    host: str,
    port: int,
    api_key: str,
    fault_rate: float = 0.0,
    fault_kinds: Sequence[str] = (),
    fault_seed: int | None = None,
) -> int:
    """Serve the sandbox over HTTP with uvicorn until interrupted."""
    import uvicorn

    from dodo_mcp.listen import ListenError, listening_socket

    app: Any = create_app(store, api_key)
    if fault_rate:
        from dodo_mcp.sandbox.faults import FAULT_KINDS, FaultInjector

        try:
            app = FaultInjector(app, rate=fault_rate, kinds=fault_kinds or FAULT_KINDS, seed=fault_seed)
        except ValueError as exc:
            print(f"dodo-mcp: {exc}", file=sys.stderr)
            return EXIT_USAGE
        logger.warning("fault injection on: %.0f%% of requests fail (%s)", fault_rate * 100, ", ".join(app.kinds))
    # log_config=None: uvicorn's own config would log to stdout; ours sends everything to stderr.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    try:
        sock = listening_socket(host, port)  # bound here so that --port 0 can report the port it got
    except ListenError as exc:
        print(f"dodo-mcp: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    bound_host, bound_port = sock.getsockname()[:2]
    logger.info(
        "dodo-mcp sandbox listening on http://%s:%d (database %s; clients send Authorization: Bearer %s)",
        bound_host,
        bound_port,
        store.path,
        api_key,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("the sandbox is listening on %s, reachable from other machines", host)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    return EXIT_OK
