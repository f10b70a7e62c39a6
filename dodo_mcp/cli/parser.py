"""The `dodo-mcp` command line: its flags, built group by group, and its exit codes.

Nothing here imports the tools, the sandbox or the HTTP stack, so `--help` and `--version` stay fast.
"""

from __future__ import annotations

import argparse

from dodo_mcp import __version__
from dodo_mcp.config import (
    ALLOWED_HOSTS_ENV,
    ALLOWED_ORIGINS_ENV,
    API_KEY_ENV,
    AUTH_TOKEN_ENV,
    BASE_URL_ENV,
    DEADLINE_ENV,
    DEFAULT_DEADLINE_S,
    DEFAULT_GRACE_S,
    DEFAULT_HOST,
    DEFAULT_INGEST_BATCH_SIZE,
    DEFAULT_INGEST_CONCURRENCY,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PORT,
    DEFAULT_SANDBOX_API_KEY,
    ENVIRONMENT_ENV,
    GRACE_ENV,
    HOST_ENV,
    INGEST_BATCH_SIZE_ENV,
    INGEST_CONCURRENCY_ENV,
    LOG_LEVEL_ENV,
    LOG_LEVELS,
    MAX_BODY_ENV,
    MAX_RETRIES_ENV,
    PER_CLIENT_KEY_ENV,
    PER_CLIENT_KEY_HEADER,
    PORT_ENV,
    READ_ONLY_ENV,
    SANDBOX_API_KEY_ENV,
    SANDBOX_DB_ENV,
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


def _add_dodo_options(parser: argparse.ArgumentParser) -> None:
    """Where calls go and how hard to try."""
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


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
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
        help=f"Key the in-process sandbox accepts (env {SANDBOX_API_KEY_ENV}; default {DEFAULT_SANDBOX_API_KEY}).",
    )


def _add_tool_options(parser: argparse.ArgumentParser) -> None:
    """Which tools to serve, and how ingest_events batches."""
    parser.add_argument(
        "--read-only",
        action="store_true",
        help=f"Serve only the tools that change nothing: hides {', '.join(sorted(WRITE_TOOLS))} (env {READ_ONLY_ENV}=1).",
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


def _add_network_options(parser: argparse.ArgumentParser) -> None:
    network = parser.add_argument_group("network transports (SSE and Streamable HTTP)")
    network.add_argument(
        "--transport",
        choices=TRANSPORTS,
        help=f"How MCP clients connect (env {TRANSPORT_ENV}; default stdio).",
    )
    network.add_argument("--host", help=f"Interface to listen on (env {HOST_ENV}; default {DEFAULT_HOST}).")
    network.add_argument(
        "--port", type=int, help=f"Port to listen on, 0 for any free one (env {PORT_ENV}; default {DEFAULT_PORT})."
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
        help=f"Largest request body accepted (env {MAX_BODY_ENV}; default {DEFAULT_MAX_BODY_BYTES // 2**20} MiB).",
    )
    network.add_argument(
        "--grace-period",
        type=float,
        metavar="SECONDS",
        help=f"On SIGTERM, how long in-flight calls may finish (env {GRACE_ENV}; default {DEFAULT_GRACE_S:g}).",
    )
    network.add_argument(
        "--per-client-api-key",
        action="store_true",
        help=f"Let each client send its own Dodo key in the {PER_CLIENT_KEY_HEADER} header, used for its requests only "
        f"(env {PER_CLIENT_KEY_ENV}=1). The bearer token is still required. For hosted multi-tenant setups only.",
    )


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
    for sub in (serve, reset):
        sub.add_argument(
            "--db", metavar="PATH", help=f"Database file (env {SANDBOX_DB_ENV}; default {_SANDBOX_DB_TEXT})."
        )
    _add_serve_options(serve)


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default=DEFAULT_SANDBOX_HOST, help=f"Interface (default {DEFAULT_SANDBOX_HOST}).")
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_SANDBOX_PORT,
        help=f"Port, 0 for any free one (default {DEFAULT_SANDBOX_PORT}).",
    )
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"Bearer key clients must send (env {SANDBOX_API_KEY_ENV}; default {DEFAULT_SANDBOX_API_KEY}).",
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
