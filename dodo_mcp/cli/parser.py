"""The `dodo-mcp` command line: its flags, built group by group, and its exit codes.

Nothing here imports the tools, the sandbox or the HTTP stack, so `--help` and `--version` stay fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from dodo_mcp import __version__
from dodo_mcp.config import (
    ALLOWED_HOSTS_ENV,
    ALLOWED_ORIGINS_ENV,
    API_KEY_ENV,
    AUTH_ENV,
    AUTH_MODES,
    AUTH_TOKEN_ENV,
    BASE_URL_ENV,
    DEADLINE_ENV,
    DEFAULT_AUTH,
    DEFAULT_DEADLINE_S,
    DEFAULT_EVENT_STORE_AGE_S,
    DEFAULT_EVENT_STORE_EVENTS,
    DEFAULT_GRACE_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_INGEST_BATCH_SIZE,
    DEFAULT_INGEST_CONCURRENCY,
    DEFAULT_LIVE_INGEST_CONFIRMATION,
    DEFAULT_LOG_LEVEL,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_PORT,
    DEFAULT_SANDBOX_API_KEY,
    DEFAULT_SESSION_IDLE_S,
    DEFAULT_SSE_RETRY_MS,
    ENVIRONMENT_ENV,
    ENVIRONMENT_URLS,
    EVENT_STORE_AGE_ENV,
    EVENT_STORE_EVENTS_ENV,
    GRACE_ENV,
    HEADER_TIMEOUT_ENV,
    HOST_ENV,
    IDLE_TIMEOUT_ENV,
    INGEST_BATCH_SIZE_ENV,
    INGEST_CONCURRENCY_ENV,
    LIVE_INGEST_CONFIRMATION_ENV,
    LIVE_INGEST_CONFIRMATIONS,
    LOG_LEVEL_ENV,
    LOG_LEVELS,
    MAX_BODY_ENV,
    MAX_RETRIES_ENV,
    MAX_SESSIONS_ENV,
    METRICS_HOST_ENV,
    METRICS_PORT_ENV,
    OAUTH_AUDIENCE_ENV,
    OAUTH_ISSUER_ENV,
    OAUTH_JWKS_URL_ENV,
    PER_CLIENT_KEY_ENV,
    PER_CLIENT_KEY_HEADER,
    PORT_ENV,
    READ_ONLY_ENV,
    SANDBOX_API_KEY_ENV,
    SANDBOX_DB_ENV,
    SESSION_IDLE_ENV,
    SSE_RETRY_ENV,
    STATELESS_ENV,
    TOOLS_ENV,
    TRANSPORT_ENV,
)
from dodo_mcp.tools.names import TOOL_NAMES, WRITE_TOOLS

EXIT_OK = 0
# A flag or setting the server cannot start with (argparse's own code for usage errors).
EXIT_USAGE = 2
# sysexits' EX_UNAVAILABLE: the address could not be bound.
EXIT_UNAVAILABLE = 69

TRANSPORTS = ("stdio", "sse", "streamable-http")
DEFAULT_SANDBOX_HOST = "127.0.0.1"
DEFAULT_SANDBOX_PORT = 8787
_TOOL_NAMES_TEXT = ", ".join(TOOL_NAMES)
# dodo_mcp.sandbox.faults.FAULT_KINDS, spelt out so that --help does not import the sandbox (a test checks).
FAULT_KINDS_TEXT = "503, 429, reset, slow, commit-then-503"
_SANDBOX_DB_TEXT = (
    "the user data directory, e.g. ~/.local/share/dodo-mcp/sandbox.sqlite3; ':memory:' for a throwaway one"
)


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
    _add_dodo_options(parser)
    _add_sandbox_options(parser)
    _add_tool_options(parser)
    _add_network_options(parser)
    _add_commands(parser)
    return parser


def _option(
    group: Any, flag: str | tuple[str, ...], text: str, *, env: str | None = None, shows: object = None, **kwargs: Any
) -> None:
    """Add `flag` to `group`, its help ending the same way for every flag: (env VARIABLE; default VALUE).

    `flag` may be a tuple: the flag's name, then its aliases. `shows` is the default the help names, when
    the flag's own `default` is not it (most flags default to None, so that the environment variable, then
    the named default, apply).
    """
    flags = (flag,) if isinstance(flag, str) else flag
    shown = shows if shows is not None else kwargs.get("default")
    if kwargs.get("action") == "store_true" and env is not None:
        notes = f"env {env}=1"
    else:
        notes = "; ".join(part for part in (env and f"env {env}", shown is not None and f"default {shown}") if part)
    group.add_argument(*flags, help=f"{text} ({notes})." if notes else f"{text}.", **kwargs)


def _add_dodo_options(parser: argparse.ArgumentParser) -> None:
    """Where calls go and how hard to try."""
    _option(
        parser,
        "--environment",
        "Dodo environment",
        env=ENVIRONMENT_ENV,
        shows="test_mode",
        choices=tuple(ENVIRONMENT_URLS),
    )
    _option(parser, "--base-url", "Override the API base URL", env=BASE_URL_ENV)
    deadline = "Per-call deadline covering all retries"
    _option(
        parser, "--deadline", deadline, env=DEADLINE_ENV, shows=f"{DEFAULT_DEADLINE_S:g}", type=float, metavar="SECONDS"
    )
    retries = "Retries of a failed request within the deadline"
    _option(parser, "--max-retries", retries, env=MAX_RETRIES_ENV, shows=DEFAULT_MAX_RETRIES, type=int, metavar="N")
    level = "Log level for stderr"
    _option(
        parser, "--log-level", level, env=LOG_LEVEL_ENV, shows=DEFAULT_LOG_LEVEL, type=str.upper, choices=LOG_LEVELS
    )


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    local = "Serve the tools against the embedded local sandbox instead of Dodo: no account, no real money"
    _option(parser, "--sandbox", local, action="store_true")
    _option(parser, "--sandbox-db", "Sandbox database file", env=SANDBOX_DB_ENV, shows=_SANDBOX_DB_TEXT, metavar="PATH")
    key = "Key the in-process sandbox accepts"
    _option(parser, "--sandbox-api-key", key, env=SANDBOX_API_KEY_ENV, shows=DEFAULT_SANDBOX_API_KEY, metavar="KEY")


def _add_tool_options(parser: argparse.ArgumentParser) -> None:
    """Which tools to serve, and how ingest_events batches."""
    read_only = f"Serve only the tools that change nothing: hides {', '.join(sorted(WRITE_TOOLS))}"
    _option(parser, "--read-only", read_only, env=READ_ONLY_ENV, action="store_true")
    only = "Serve only these tools, comma-separated"
    _option(parser, "--tools", only, env=TOOLS_ENV, shows=f"all: {_TOOL_NAMES_TEXT}", metavar="NAMES")
    size, env, shows = (
        "Events per request to Dodo when ingest_events gets more",
        INGEST_BATCH_SIZE_ENV,
        DEFAULT_INGEST_BATCH_SIZE,
    )
    _option(parser, "--ingest-batch-size", size, env=env, shows=shows, type=int, metavar="N")
    flight, env, shows = "Ingest batches in flight at once", INGEST_CONCURRENCY_ENV, DEFAULT_INGEST_CONCURRENCY
    _option(parser, "--ingest-concurrency", flight, env=env, shows=shows, type=int, metavar="N")
    confirm = (
        "Before ingest_events sends to Dodo's live host: ask the user when the client can (auto), never (off, "
        "for unattended use), or always, refusing the ingest where the client cannot ask (required)"
    )
    _option(
        parser,
        "--live-ingest-confirmation",
        confirm,
        env=LIVE_INGEST_CONFIRMATION_ENV,
        shows=DEFAULT_LIVE_INGEST_CONFIRMATION,
        type=str.lower,
        choices=LIVE_INGEST_CONFIRMATIONS,
    )


def _add_network_options(parser: argparse.ArgumentParser) -> None:
    network = parser.add_argument_group("network transports (SSE and Streamable HTTP)")
    _option(network, "--transport", "How MCP clients connect", env=TRANSPORT_ENV, shows="stdio", choices=TRANSPORTS)
    _option(network, "--host", "Interface to listen on", env=HOST_ENV, shows=DEFAULT_HOST)
    _option(network, "--port", "Port to listen on, 0 for any free one", env=PORT_ENV, shows=DEFAULT_PORT, type=int)
    stateless = "Streamable HTTP without sessions, for replicas behind a plain load balancer"
    _option(network, "--stateless", stateless, env=STATELESS_ENV, action="store_true")
    token = (
        f"File holding the bearer token clients must send (env {AUTH_TOKEN_ENV} holds the token itself). "
        "Required on any non-loopback address"
    )
    _option(network, "--auth-token-file", token, metavar="FILE")
    host = f"Add an allowed Host header, e.g. mcp.example.com:* (repeatable; env {ALLOWED_HOSTS_ENV}, comma-separated)"
    _option(network, "--allowed-host", host, action="append", metavar="HOST[:PORT]")
    origin = f"Add an allowed Origin, e.g. https://app.example.com (repeatable; env {ALLOWED_ORIGINS_ENV})"
    _option(network, "--allowed-origin", origin, action="append", metavar="ORIGIN")
    body, shows = "Largest request body accepted", f"{DEFAULT_MAX_BODY_BYTES // 2**20} MiB"
    _option(network, "--max-body-bytes", body, env=MAX_BODY_ENV, shows=shows, type=int, metavar="N")
    grace = "On SIGTERM, how long in-flight calls may finish"
    _option(
        network, "--grace-period", grace, env=GRACE_ENV, shows=f"{DEFAULT_GRACE_S:g}", type=float, metavar="SECONDS"
    )
    head = "Seconds a client has to send a request's line and headers; slower connections are closed"
    _option(
        network,
        "--header-timeout",
        head,
        env=HEADER_TIMEOUT_ENV,
        shows=f"{DEFAULT_HEADER_TIMEOUT_S:g}",
        type=float,
        metavar="SECONDS",
    )
    idle = "Seconds an idle keep-alive connection stays open"
    _option(
        network,
        "--idle-timeout",
        idle,
        env=IDLE_TIMEOUT_ENV,
        shows=f"{DEFAULT_IDLE_TIMEOUT_S:g}",
        type=float,
        metavar="SECONDS",
    )
    session_idle = "Seconds a Streamable HTTP session may go without a request before it ends"
    _option(
        network,
        "--session-idle-timeout",
        session_idle,
        env=SESSION_IDLE_ENV,
        shows=f"{DEFAULT_SESSION_IDLE_S:g}",
        type=float,
        metavar="SECONDS",
    )
    sessions = "Most Streamable HTTP sessions open at once; more are refused with 503"
    _option(
        network, "--max-sessions", sessions, env=MAX_SESSIONS_ENV, shows=DEFAULT_MAX_SESSIONS, type=int, metavar="N"
    )
    own_key = (
        f"Let each client send its own Dodo key in the {PER_CLIENT_KEY_HEADER} header, used for its requests only "
        f"(env {PER_CLIENT_KEY_ENV}=1). The bearer token is still required. For hosted multi-tenant setups only"
    )
    _option(network, "--per-client-api-key", own_key, action="store_true")
    _add_oauth_options(network)
    scrape = "Serve /metrics (Prometheus) on this port of its own, without auth, instead of behind the MCP auth"
    _option(network, "--metrics-port", scrape, env=METRICS_PORT_ENV, type=int, metavar="PORT")
    where = "Interface the --metrics-port listener binds, e.g. a cluster-internal address"
    _option(network, "--metrics-host", where, env=METRICS_HOST_ENV, shows=DEFAULT_HOST, metavar="HOST")
    _add_resumption_options(network)


def _add_oauth_options(network: Any) -> None:
    """--auth oauth: an OAuth 2.1 resource server for a team's identity provider."""
    mode = "How clients authenticate: the shared bearer token (token), or OAuth 2.1 access tokens (oauth)"
    _option(network, "--auth", mode, env=AUTH_ENV, shows=DEFAULT_AUTH, type=str.lower, choices=AUTH_MODES)
    issuer = "With --auth oauth: the issuer of the access tokens (its URL, exactly as tokens' iss names it)"
    _option(network, "--oauth-issuer", issuer, env=OAUTH_ISSUER_ENV, metavar="URL")
    audience = (
        "With --auth oauth: the audience tokens must name, this server's public MCP URL "
        "(e.g. https://mcp.example.com/mcp; RFC 8707 resource)"
    )
    _option(network, "--oauth-audience", audience, env=OAUTH_AUDIENCE_ENV, metavar="URL")
    jwks = "With --auth oauth: the issuer's JWKS URL; read from the issuer's metadata when not given"
    _option(network, "--oauth-jwks-url", jwks, env=OAUTH_JWKS_URL_ENV, metavar="URL")


def _add_resumption_options(network: Any) -> None:
    """Resumable Streamable HTTP streams (dodo_mcp.event_store): how many SSE events are kept, how long."""
    events = "SSE events kept for clients that reconnect with Last-Event-ID, 0 for none (stateful sessions only)"
    shows = DEFAULT_EVENT_STORE_EVENTS
    _option(network, "--event-store-events", events, env=EVENT_STORE_EVENTS_ENV, shows=shows, type=int, metavar="N")
    age, shows_age = "Seconds an SSE event is kept for a reconnecting client", f"{DEFAULT_EVENT_STORE_AGE_S:g}"
    _option(
        network, "--event-store-seconds", age, env=EVENT_STORE_AGE_ENV, shows=shows_age, type=float, metavar="SECONDS"
    )
    retry = "Milliseconds a client waits before reconnecting a cut SSE stream (the priming event's retry field)"
    _option(network, "--sse-retry", retry, env=SSE_RETRY_ENV, shows=DEFAULT_SSE_RETRY_MS, type=int, metavar="MS")


def _add_commands(parser: argparse.ArgumentParser) -> None:
    """`demo`, `sandbox serve` and `sandbox reset`."""
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
    reset = sandbox_commands.add_parser("reset", help="Delete every event and meter in the sandbox database.")
    # The server's names (--sandbox-db, --sandbox-api-key) first, so one name works everywhere; --db and
    # --api-key, the commands' first names, stay as aliases.
    for sub in (serve, reset):
        db = ("--sandbox-db", "--db")
        _option(sub, db, "Database file", env=SANDBOX_DB_ENV, shows=_SANDBOX_DB_TEXT, metavar="PATH", dest="db")
    _add_serve_options(serve)


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    _option(serve, "--host", "Interface", default=DEFAULT_SANDBOX_HOST)
    _option(serve, "--port", "Port, 0 for any free one", default=DEFAULT_SANDBOX_PORT, type=int)
    key = "Bearer key clients must send"
    keys = ("--sandbox-api-key", "--api-key")
    _option(serve, keys, key, env=SANDBOX_API_KEY_ENV, shows=DEFAULT_SANDBOX_API_KEY, metavar="KEY", dest="api_key")
    _option(serve, "--log-level", "Log level for stderr", shows=DEFAULT_LOG_LEVEL, type=str.upper, choices=LOG_LEVELS)
    faults = "Fail this share of requests on purpose (0 to 1), to test a client's retries"
    _option(serve, "--fault-rate", faults, default=0.0, shows=0, type=float, metavar="P")
    _option(
        serve, "--fault-kinds", f"Comma-separated faults to inject: {FAULT_KINDS_TEXT}", shows="all", metavar="KINDS"
    )
    _option(serve, "--fault-seed", "Seed for repeatable fault injection", type=int, metavar="N")
