"""The `dodo-mcp` command: parse flags, set up logging on stderr, run a transport.

    dodo-mcp                       the MCP server over stdio, against Dodo
    dodo-mcp --transport streamable-http|sse
                                   the same server over the network (see http_transport.py)
    dodo-mcp --sandbox             the same server and tools, against the embedded local sandbox
    dodo-mcp demo                  a real MCP client driving every tool against a throwaway sandbox
    dodo-mcp sandbox serve         the sandbox alone, as an HTTP server (uvicorn)
    dodo-mcp sandbox reset         delete every event and meter in the sandbox database

The sandbox (and with it sqlite3) and the HTTP serving stack are imported only in the modes that use them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from dodo_mcp import __version__
from dodo_mcp.config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEADLINE_ENV,
    DEFAULT_DEADLINE_S,
    DEFAULT_INGEST_BATCH_SIZE,
    DEFAULT_INGEST_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    ENVIRONMENT_ENV,
    INGEST_BATCH_SIZE_ENV,
    INGEST_CONCURRENCY_ENV,
    LOG_LEVEL_ENV,
    LOG_LEVELS,
    MAX_RETRIES_ENV,
    PER_CLIENT_KEY_HEADER,
    Settings,
    SettingsError,
    settings_from_env,
)
from dodo_mcp.logs import configure_logging

if TYPE_CHECKING:
    from dodo_mcp.http_transport import HttpSettings
    from dodo_mcp.sandbox import SandboxStore

EXIT_OK = 0
EXIT_USAGE = 2
# sysexits' EX_UNAVAILABLE: the address could not be bound.
EXIT_UNAVAILABLE = 69

TRANSPORTS = ("stdio", "sse", "streamable-http")
TRANSPORT_ENV = "DODO_MCP_TRANSPORT"
HOST_ENV = "DODO_MCP_HOST"
PORT_ENV = "DODO_MCP_PORT"
STATELESS_ENV = "DODO_MCP_STATELESS"
AUTH_TOKEN_ENV = "DODO_MCP_AUTH_TOKEN"
AUTH_TOKEN_FILE_ENV = "DODO_MCP_AUTH_TOKEN_FILE"
ALLOWED_HOSTS_ENV = "DODO_MCP_ALLOWED_HOSTS"
ALLOWED_ORIGINS_ENV = "DODO_MCP_ALLOWED_ORIGINS"
MAX_BODY_ENV = "DODO_MCP_MAX_BODY_BYTES"
GRACE_ENV = "DODO_MCP_GRACE_SECONDS"
PER_CLIENT_KEY_ENV = "DODO_MCP_PER_CLIENT_API_KEY"
READ_ONLY_ENV = "DODO_MCP_READ_ONLY"
TOOLS_ENV = "DODO_MCP_TOOLS"
# Spelt out (tools.TOOL_NAMES is the truth, a test checks) so that --help does not import the tools.
_TOOL_NAMES_TEXT = "retrieve_event, list_events, ingest_events, summarize_events, explain_meter_match"

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
            f"MCP server for Dodo Payments usage events: {_TOOL_NAMES_TEXT}. "
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
    parser.add_argument(
        "--read-only",
        action="store_true",
        help=f"Serve only the tools that change nothing: hides ingest_events (env {READ_ONLY_ENV}=1).",
    )
    parser.add_argument(
        "--tools",
        metavar="NAMES",
        help=f"Serve only these tools, comma-separated (env {TOOLS_ENV}; default all: {_TOOL_NAMES_TEXT}).",
    )

    parser.add_argument(
        "--ingest-batch-size",
        type=int,
        metavar="N",
        help=f"Events per request to Dodo when ingest_events gets more (env {INGEST_BATCH_SIZE_ENV}; "
        f"default {DEFAULT_INGEST_BATCH_SIZE}).",
    )
    parser.add_argument(
        "--ingest-concurrency",
        type=int,
        metavar="N",
        help=f"Ingest batches in flight at once (env {INGEST_CONCURRENCY_ENV}; default {DEFAULT_INGEST_CONCURRENCY}).",
    )

    network = parser.add_argument_group("network transports (SSE and Streamable HTTP)")
    network.add_argument(
        "--transport",
        choices=TRANSPORTS,
        help=f"How MCP clients connect (env {TRANSPORT_ENV}; default stdio).",
    )
    network.add_argument("--host", help=f"Interface to listen on (env {HOST_ENV}; default 127.0.0.1).")
    network.add_argument(
        "--port", type=int, help=f"Port to listen on, 0 for any free one (env {PORT_ENV}; default 8000)."
    )
    network.add_argument(
        "--stateless",
        action="store_true",
        help=f"Streamable HTTP without sessions, for replicas behind a plain load balancer (env {STATELESS_ENV}=1).",
    )
    network.add_argument(
        "--auth-token-file",
        metavar="FILE",
        help=f"File holding the bearer token clients must send (env {AUTH_TOKEN_ENV} holds the token itself). "
        "Required on any non-loopback address.",
    )
    network.add_argument(
        "--allowed-host",
        action="append",
        metavar="HOST[:PORT]",
        help=f"Add an allowed Host header, e.g. mcp.example.com:* (repeatable; env {ALLOWED_HOSTS_ENV}, comma-separated).",
    )
    network.add_argument(
        "--allowed-origin",
        action="append",
        metavar="ORIGIN",
        help=f"Add an allowed Origin, e.g. https://app.example.com (repeatable; env {ALLOWED_ORIGINS_ENV}).",
    )
    network.add_argument(
        "--max-body-bytes",
        type=int,
        metavar="N",
        help=f"Largest request body accepted (env {MAX_BODY_ENV}; default 4 MiB).",
    )
    network.add_argument(
        "--grace-period",
        type=float,
        metavar="SECONDS",
        help=f"On SIGTERM, how long in-flight calls may finish (env {GRACE_ENV}; default 20).",
    )
    network.add_argument(
        "--per-client-api-key",
        action="store_true",
        help=f"Let each client send its own Dodo key in the {PER_CLIENT_KEY_HEADER} header, used for its requests only "
        f"(env {PER_CLIENT_KEY_ENV}=1). The bearer token is still required. For hosted multi-tenant setups only.",
    )

    commands = parser.add_subparsers(dest="command", metavar="{demo,sandbox}")
    commands.add_parser(
        "demo", help="Start the server on a throwaway sandbox and watch a real MCP client drive every tool."
    )
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
    serve.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="Fail this share of requests on purpose (0 to 1), to test a client's retries (default 0).",
    )
    serve.add_argument(
        "--fault-kinds",
        metavar="KINDS",
        help="Comma-separated faults to inject: 503, 429, reset, slow, commit-then-503 (default all).",
    )
    serve.add_argument("--fault-seed", type=int, metavar="N", help="Seed for repeatable fault injection.")
    return parser


def startup_notice(settings: Settings) -> str:
    key = "API key set" if settings.api_key is not None else f"no API key: set {API_KEY_ENV}, every call will say so"
    return f"dodo-mcp {__version__}: {settings.target} ({key})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sandbox":
        return sandbox_command(args)
    if args.command == "demo":
        from dodo_mcp.demo import main as demo

        return demo()
    if args.sandbox and args.base_url:
        parser.error("--sandbox and --base-url exclude each other: the sandbox is served in-process")
    try:
        settings = settings_from_env(
            environment=args.environment,
            base_url=args.base_url,
            deadline_s=args.deadline,
            max_retries=args.max_retries,
            log_level=args.log_level,
            ingest_batch_size=args.ingest_batch_size,
            ingest_concurrency=args.ingest_concurrency,
        )
        tools, hidden = tool_selection(args)
        http = http_settings(args) if transport_of(args) != "stdio" else None
        if http is not None:
            from dodo_mcp.http_transport import StartupError, check_settings

            try:
                check_settings(http)
            except StartupError as exc:
                raise SettingsError(str(exc)) from None
    except SettingsError as exc:
        print(f"dodo-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    secrets = [settings.api_key.get_secret_value() if settings.api_key else "", http.auth_token if http else ""]
    configure_logging(settings.log_level, secrets=[s for s in secrets if s])

    store = None
    transport = None
    if args.sandbox:
        store = _open_sandbox(_sandbox_db(args.sandbox_db))
        if store is None:
            return EXIT_USAGE
        settings, transport = _sandbox_backend(settings, store, _sandbox_key(args.sandbox_api_key))
    logger.info(startup_notice(settings))
    if store is not None:
        logger.info("sandbox database: %s", store.path)
    if hidden:
        logger.warning("read-only: not serving %s, although named in the tool list", ", ".join(hidden))
    if tools is not None:
        logger.info("serving only these tools: %s", ", ".join(tools))
    try:
        return serve(settings, http, transport=transport, tools=tools)
    finally:
        if store is not None:
            store.close()


def serve(
    settings: Settings, http: HttpSettings | None, *, transport: Any = None, tools: Sequence[str] | None = None
) -> int:
    """Run the MCP server on stdio, or on SSE / Streamable HTTP when `http` says so; `tools` None serves all."""
    from dodo_mcp.client import DodoClient
    from dodo_mcp.server import build_server
    from dodo_mcp.tools import TOOL_NAMES, InFlightCalls

    client = DodoClient(settings, transport=transport)
    calls = InFlightCalls()
    server = build_server(
        settings,
        client=client,
        per_client_api_key=bool(http and http.per_client_api_key),
        in_flight=calls,
        tools=TOOL_NAMES if tools is None else tools,
    )
    if http is None:
        from dodo_mcp.stdio import run_stdio

        with contextlib.suppress(KeyboardInterrupt):
            run_stdio(server)
        return EXIT_OK

    import anyio

    from dodo_mcp import http_transport
    from dodo_mcp.listen import ListenError

    try:
        anyio.run(http_transport.serve, server, client, http, calls)
    except (http_transport.StartupError, ListenError) as exc:
        print(f"dodo-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, http_transport.StartupError) else EXIT_UNAVAILABLE
    return EXIT_OK


def tool_selection(args: argparse.Namespace) -> tuple[list[str] | None, list[str]]:
    """The tools to serve from --tools/--read-only (or their environment variables), None for all of them,
    and the named tools that read-only hides.

    An unknown name is a startup error (exit 2), not a silently smaller server: a typo in a client's
    configuration should be seen at once, with the valid names.
    """
    from dodo_mcp.tools import TOOL_NAMES, ToolSelectionError, select_tools

    raw = args.tools if args.tools is not None else os.environ.get(TOOLS_ENV, "")
    names = _listed(raw) or None
    read_only = args.read_only or _flag(os.environ.get(READ_ONLY_ENV))
    source = "--tools" if args.tools is not None else TOOLS_ENV
    try:
        selected = select_tools(names, read_only=read_only)
    except ToolSelectionError as exc:
        raise SettingsError(f"{source}: {exc}" if names else str(exc)) from None
    hidden = [name for name in names or () if name not in selected]
    return (None if selected == list(TOOL_NAMES) else selected), hidden


def transport_of(args: argparse.Namespace) -> str:
    chosen = str(args.transport or os.environ.get(TRANSPORT_ENV) or "stdio").strip()
    if chosen not in TRANSPORTS:
        raise SettingsError(f"{TRANSPORT_ENV} must be one of {', '.join(TRANSPORTS)}, not {chosen!r}")
    return chosen


def http_settings(args: argparse.Namespace) -> HttpSettings:
    """The HTTP transport's settings from flags, then the environment, then the defaults."""
    from dodo_mcp.http_transport import (
        DEFAULT_GRACE_S,
        DEFAULT_HOST,
        DEFAULT_MAX_BODY_BYTES,
        DEFAULT_PORT,
        HttpSettings,
    )

    env = os.environ
    token = env.get(AUTH_TOKEN_ENV, "").strip() or None
    token_file = args.auth_token_file or env.get(AUTH_TOKEN_FILE_ENV)
    if token_file:
        try:
            token = open(token_file, encoding="utf-8").read().strip() or None  # noqa: SIM115 - read once
        except OSError as exc:
            raise SettingsError(f"cannot read the auth token file {token_file}: {exc.strerror or exc}") from None
        if token is None:
            raise SettingsError(f"the auth token file {token_file} is empty")
    try:
        port = int(args.port if args.port is not None else env.get(PORT_ENV) or DEFAULT_PORT)
        max_body = int(args.max_body_bytes or env.get(MAX_BODY_ENV) or DEFAULT_MAX_BODY_BYTES)
        grace = float(args.grace_period or env.get(GRACE_ENV) or DEFAULT_GRACE_S)
    except ValueError as exc:
        raise SettingsError(f"a number setting is not a number: {exc}") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"the port must be between 0 and 65535, not {port}")
    return HttpSettings(
        transport=transport_of(args),  # type: ignore[arg-type]  # checked by transport_of
        host=args.host or env.get(HOST_ENV) or DEFAULT_HOST,
        port=port,
        auth_token=token,
        stateless=args.stateless or _flag(env.get(STATELESS_ENV)),
        allowed_hosts=tuple(args.allowed_host or _listed(env.get(ALLOWED_HOSTS_ENV))),
        allowed_origins=tuple(args.allowed_origin or _listed(env.get(ALLOWED_ORIGINS_ENV))),
        max_body_bytes=max_body,
        grace_s=grace,
        per_client_api_key=args.per_client_api_key or _flag(env.get(PER_CLIENT_KEY_ENV)),
    )


def _flag(raw: str | None) -> bool:
    return (raw or "").strip().lower() in ("1", "true", "yes", "on")


def _listed(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _sandbox_backend(settings: Settings, store: SandboxStore, api_key: str) -> tuple[Settings, Any]:
    """Settings and transport that put the sandbox, in-process, behind the same DodoClient."""
    import httpx2

    from dodo_mcp.sandbox import SANDBOX_BASE_URL, create_app

    # The real Dodo key, if set, is dropped: it must never travel to the sandbox.
    settings = dataclasses.replace(
        settings, api_key=SecretStr(api_key), base_url_override=SANDBOX_BASE_URL, sandbox=True
    )
    return settings, httpx2.ASGITransport(app=create_app(store, api_key))


def sandbox_command(args: argparse.Namespace) -> int:
    """`dodo-mcp sandbox serve|reset`."""
    configure_logging(
        getattr(args, "log_level", None) or "INFO", secrets=[_sandbox_key(getattr(args, "api_key", None))]
    )
    store = _open_sandbox(_sandbox_db(args.db))
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
            api_key=_sandbox_key(args.api_key),
            fault_rate=args.fault_rate,
            fault_kinds=_listed(args.fault_kinds),
            fault_seed=args.fault_seed,
        )
    finally:
        store.close()


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
    from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, create_app

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
        uvicorn.Server(config).run(sockets=[sock])
    return EXIT_OK


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
