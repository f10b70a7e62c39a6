"""The `dodo-mcp` command: parse flags, set up logging on stderr, run a transport.

    dodo-mcp                       the MCP server over stdio, against Dodo
    dodo-mcp --sandbox             the same server and tools, against the embedded local sandbox
    dodo-mcp sandbox serve         the sandbox alone, as an HTTP server (uvicorn)
    dodo-mcp sandbox reset         delete every event and meter in the sandbox database

The sandbox (and with it sqlite3) is imported only in the modes that use it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from dodo_mcp import __version__
from dodo_mcp.config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEADLINE_ENV,
    DEFAULT_DEADLINE_S,
    DEFAULT_MAX_RETRIES,
    ENVIRONMENT_ENV,
    LOG_LEVEL_ENV,
    LOG_LEVELS,
    MAX_RETRIES_ENV,
    Settings,
    SettingsError,
    settings_from_env,
)

if TYPE_CHECKING:
    from dodo_mcp.sandbox import SandboxStore

EXIT_OK = 0
EXIT_USAGE = 2

SANDBOX_DB_ENV = "DODO_MCP_SANDBOX_DB"
SANDBOX_API_KEY_ENV = "DODO_MCP_SANDBOX_API_KEY"
# Kept equal to dodo_mcp.sandbox.DEFAULT_SANDBOX_API_KEY (a test checks); spelt out here so that
# building the parser, e.g. for --help, does not import the sandbox.
_SANDBOX_KEY_TEXT = "sk_sandbox_local"
_SANDBOX_DB_TEXT = (
    "the user data directory, e.g. ~/.local/share/dodo-mcp/sandbox.sqlite3; ':memory:' for a throwaway one"
)
DEFAULT_SANDBOX_HOST = "127.0.0.1"
DEFAULT_SANDBOX_PORT = 8787

logger = logging.getLogger("dodo_mcp")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dodo-mcp",
        description=(
            "MCP server for Dodo Payments usage events: retrieve_event, list_events and ingest_events. "
            f"The API key is read from {API_KEY_ENV} only."
        ),
        epilog="Every flag can also be set from the environment variable named in its help.",
    )
    parser.add_argument("--version", action="version", version=f"dodo-mcp {__version__}")
    parser.add_argument(
        "--environment",
        choices=("test_mode", "live_mode"),
        help=f"Dodo environment (env {ENVIRONMENT_ENV}; default test_mode).",
    )
    parser.add_argument("--base-url", help=f"Override the API base URL (env {BASE_URL_ENV}).")
    parser.add_argument(
        "--deadline",
        type=float,
        metavar="SECONDS",
        help=f"Per-call deadline covering all retries (env {DEADLINE_ENV}; default {DEFAULT_DEADLINE_S:g}).",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help=f"Retries of a failed request within the deadline (env {MAX_RETRIES_ENV}; default {DEFAULT_MAX_RETRIES}).",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        help=f"Log level for stderr (env {LOG_LEVEL_ENV}; default INFO).",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="Serve the tools against the embedded local sandbox instead of Dodo: no account, no real money.",
    )
    parser.add_argument(
        "--sandbox-db",
        metavar="PATH",
        help=f"Sandbox database file (env {SANDBOX_DB_ENV}; default {_SANDBOX_DB_TEXT}).",
    )
    parser.add_argument(
        "--sandbox-api-key",
        metavar="KEY",
        help=f"Key the in-process sandbox accepts (env {SANDBOX_API_KEY_ENV}; default {_SANDBOX_KEY_TEXT}).",
    )

    commands = parser.add_subparsers(dest="command", metavar="{sandbox}")
    sandbox = commands.add_parser("sandbox", help="Run or manage the local sandbox backend.")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", metavar="{serve,reset}", required=True)
    serve = sandbox_commands.add_parser(
        "serve",
        help="Serve the sandbox's Dodo-compatible HTTP API (for curl, Dodo's SDKs, DODO_PAYMENTS_BASE_URL).",
    )
    serve.add_argument("--host", default=DEFAULT_SANDBOX_HOST, help=f"Interface (default {DEFAULT_SANDBOX_HOST}).")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_SANDBOX_PORT,
        help=f"Port, 0 for any free one (default {DEFAULT_SANDBOX_PORT}).",
    )
    reset = sandbox_commands.add_parser("reset", help="Delete every event and meter in the sandbox database.")
    for sub in (serve, reset):
        sub.add_argument(
            "--db", metavar="PATH", help=f"Database file (env {SANDBOX_DB_ENV}; default {_SANDBOX_DB_TEXT})."
        )
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"Bearer key clients must send (env {SANDBOX_API_KEY_ENV}; default {_SANDBOX_KEY_TEXT}).",
    )
    serve.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, help="Log level for stderr (default INFO).")
    return parser


def configure_logging(level: str) -> None:
    # Stdout carries JSON-RPC only; every log line goes to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx2 logs full URLs at INFO; our client logs what matters at DEBUG.
    logging.getLogger("httpx2").setLevel(logging.WARNING)


def startup_notice(settings: Settings) -> str:
    key = "API key set" if settings.api_key is not None else f"no API key: set {API_KEY_ENV}, every call will say so"
    return f"dodo-mcp {__version__}: {settings.target} ({key})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sandbox":
        return sandbox_command(args)
    if args.sandbox and args.base_url:
        parser.error("--sandbox and --base-url exclude each other: the sandbox is served in-process")
    try:
        settings = settings_from_env(
            environment=args.environment,
            base_url=args.base_url,
            deadline_s=args.deadline,
            max_retries=args.max_retries,
            log_level=args.log_level,
        )
    except SettingsError as exc:
        print(f"dodo-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level)
    if args.sandbox:
        return run_with_sandbox(settings, db=_sandbox_db(args.sandbox_db), api_key=_sandbox_key(args.sandbox_api_key))
    logger.info(startup_notice(settings))

    from dodo_mcp.server import build_server

    server = build_server(settings)
    with contextlib.suppress(KeyboardInterrupt):
        server.run("stdio")
    return EXIT_OK


def run_with_sandbox(settings: Settings, *, db: str | None, api_key: str) -> int:
    """The stdio server with DodoClient reaching the sandbox in-process through an ASGI transport."""
    import httpx2

    from dodo_mcp.sandbox import SANDBOX_BASE_URL, create_app
    from dodo_mcp.server import build_server

    store = _open_sandbox(db)
    if store is None:
        return EXIT_USAGE
    # The real Dodo key, if set, is dropped: it must never travel to the sandbox.
    settings = dataclasses.replace(
        settings, api_key=SecretStr(api_key), base_url_override=SANDBOX_BASE_URL, sandbox=True
    )
    logger.info(startup_notice(settings))
    logger.info("sandbox database: %s", store.path)
    transport = httpx2.ASGITransport(app=create_app(store, api_key))
    server = build_server(settings, transport=transport)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.run("stdio")
    finally:
        store.close()
    return EXIT_OK


def sandbox_command(args: argparse.Namespace) -> int:
    """`dodo-mcp sandbox serve|reset`."""
    configure_logging(getattr(args, "log_level", None) or "INFO")
    store = _open_sandbox(_sandbox_db(args.db))
    if store is None:
        return EXIT_USAGE
    try:
        if args.sandbox_command == "reset":
            store.reset()
            logger.info("sandbox reset: deleted every event and meter in %s", store.path)
            return EXIT_OK
        return serve_sandbox(store, host=args.host, port=args.port, api_key=_sandbox_key(args.api_key))
    finally:
        store.close()


def serve_sandbox(store: SandboxStore, *, host: str, port: int, api_key: str) -> int:
    """Serve the sandbox over HTTP with uvicorn until interrupted."""
    import uvicorn

    from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, create_app

    # log_config=None: uvicorn's own config would log to stdout; ours sends everything to stderr.
    config = uvicorn.Config(
        create_app(store, api_key), host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    sock = _listening_socket(host, port)  # bound here so that --port 0 can report the port it got
    bound_host, bound_port = sock.getsockname()[:2]
    key = f"Bearer {DEFAULT_SANDBOX_API_KEY}" if api_key == DEFAULT_SANDBOX_API_KEY else "the key given with --api-key"
    logger.info(
        "dodo-mcp sandbox listening on http://%s:%d (database %s; clients send %s)",
        bound_host,
        bound_port,
        store.path,
        key,
    )
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("the sandbox is listening on %s, reachable from other machines", host)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    return EXIT_OK


def _listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket. Created with proto=IPPROTO_TCP on purpose: asyncio sets TCP_NODELAY only on
    such sockets, and without it every response waits ~40 ms for a delayed ACK (Nagle)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    return sock


def _sandbox_db(flag: str | None) -> str | None:
    return flag or os.environ.get(SANDBOX_DB_ENV) or None


def _sandbox_key(flag: str | None) -> str:
    return flag or os.environ.get(SANDBOX_API_KEY_ENV) or _SANDBOX_KEY_TEXT


def _open_sandbox(db: str | None) -> SandboxStore | None:
    import sqlite3

    from dodo_mcp.sandbox import open_store

    try:
        return open_store(db)
    except (OSError, sqlite3.Error) as exc:
        print(f"dodo-mcp: cannot open the sandbox database {db or '(default location)'}: {exc}", file=sys.stderr)
        return None
