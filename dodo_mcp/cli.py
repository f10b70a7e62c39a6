"""The `dodo-mcp` command: parse flags, set up logging on stderr, run a transport."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence

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

EXIT_OK = 0
EXIT_USAGE = 2

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
    args = build_parser().parse_args(argv)
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
    logger.info(startup_notice(settings))

    from dodo_mcp.server import build_server

    server = build_server(settings)
    with contextlib.suppress(KeyboardInterrupt):
        server.run("stdio")
    return EXIT_OK
