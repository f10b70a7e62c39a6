"""The `dodo-mcp` command: parse flags, set up logging on stderr, run a transport.

    dodo-mcp                       the MCP server over stdio, against Dodo
    dodo-mcp --transport streamable-http|sse
                                   the same server over the network (see http_transport.py)
    dodo-mcp --sandbox             the same server and tools, against the embedded local sandbox
    dodo-mcp demo                  a real MCP client driving every tool against a throwaway sandbox
    dodo-mcp sandbox serve         the sandbox alone, as an HTTP server (uvicorn)
    dodo-mcp sandbox reset         delete every event and meter in the sandbox database

    parser   the flags, built group by group
    options  flags and the environment resolved into the tools to serve and the HTTP settings
    sandbox  --sandbox's in-process backend and the `sandbox` commands

The sandbox (and with it sqlite3) and the HTTP serving stack are imported only in the modes that use them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dodo_mcp import __version__
from dodo_mcp.cli.options import http_settings, tool_selection, transport_of
from dodo_mcp.cli.parser import EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, build_parser
from dodo_mcp.config import (
    API_KEY_ENV,
    DEFAULT_SANDBOX_API_KEY,
    PLACEHOLDER_KEYS,
    READ_ONLY_ENV,
    Settings,
    SettingsError,
    is_placeholder_key,
    settings_from_env,
)
from dodo_mcp.logs import configure_logging
from dodo_mcp.tools.names import TOOL_INGEST_EVENTS, TOOL_NAMES

if TYPE_CHECKING:
    from dodo_mcp.http_transport import HttpSettings

logger = logging.getLogger("dodo_mcp")

__all__ = ["build_parser", "live_warning", "main", "serve", "shown_placeholder", "startup_notice"]


# A placeholder is printed as it is only when this short before its dots: a longer value may be a real
# key shortened for display ("sk_live_AbC123..."), which stays unprinted (and redacted).
_SHOWN_PLACEHOLDER_STEM = 12


def startup_notice(settings: Settings, *, dodo_key_ignored: bool = False) -> str:
    """The first line on stderr: the version, where calls go, and the state of the key.

    `dodo_key_ignored`: under --sandbox, a Dodo key was set and is not used.
    """
    return f"dodo-mcp {__version__}: {settings.target} ({_key_state(settings, dodo_key_ignored)})"


def _key_state(settings: Settings, dodo_key_ignored: bool) -> str:
    if settings.sandbox:
        # Under --sandbox the client holds the sandbox's key, which is not a secret (config.DEFAULT_SANDBOX_API_KEY).
        accepted = settings.api_key.get_secret_value() if settings.api_key is not None else DEFAULT_SANDBOX_API_KEY
        unused = f"no Dodo key is used, {API_KEY_ENV} is ignored" if dodo_key_ignored else "no Dodo key is used"
        return f"{unused}; the sandbox accepts the key {accepted}"
    if settings.api_key is None:
        return f"no API key: set {API_KEY_ENV}, every call will say so"
    key = settings.api_key.get_secret_value()
    if not is_placeholder_key(key):
        return "API key set"
    if shown_placeholder(key):
        return f"{API_KEY_ENV} is the placeholder {key!r}: replace it with your key"
    return f"{API_KEY_ENV} ends in '...', a placeholder or a shortened key: replace it with your whole key"


def shown_placeholder(key: str) -> bool:
    """Whether the startup line prints `key` itself: a placeholder that cannot be part of a real key."""
    if not is_placeholder_key(key):
        return False
    return key in PLACEHOLDER_KEYS or key.startswith("<") or len(key.rstrip(".\u2026")) <= _SHOWN_PLACEHOLDER_STEM


def live_warning(settings: Settings, tools: Collection[str]) -> str | None:
    """A one-line warning when calls go to Dodo's live_mode, with advice that depends on whether ingest is served."""
    if settings.sandbox or settings.environment != "live_mode":
        return None
    if TOOL_INGEST_EVENTS in tools:
        return (
            f"live_mode: {TOOL_INGEST_EVENTS} records real usage that Dodo bills your customers for. To look first, "
            f"restart with --read-only ({READ_ONLY_ENV}=1), which serves only the tools that read, and allow "
            "ingest once the reads look right"
        )
    return (
        f"live_mode: the tools read real, live usage events; {TOOL_INGEST_EVENTS} is not served, so nothing is "
        "recorded. Serve it (drop --read-only) only once the reads look right"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sandbox":
        from dodo_mcp.cli.sandbox import sandbox_command

        return sandbox_command(args)
    if args.command == "demo":
        from dodo_mcp.demo import main as demo

        return demo()
    if args.sandbox and args.base_url:
        parser.error("--sandbox and --base-url exclude each other: the sandbox is served in-process")
    try:
        settings, http, (tools, hidden) = _resolve(args)
    except SettingsError as exc:
        print(f"dodo-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    # A placeholder the startup line names is no secret; any other key value is.
    secrets = ["" if shown_placeholder(key) else key, http.auth_token if http else ""]
    configure_logging(settings.log_level, secrets=[s for s in secrets if s])
    with contextlib.ExitStack() as stack:
        transport = None
        database = None
        dodo_key_ignored = False
        if args.sandbox:
            from dodo_mcp.cli.sandbox import open_sandbox, sandbox_db, sandbox_key
            from dodo_mcp.sandbox import sandbox_backend

            store = open_sandbox(sandbox_db(args.sandbox_db))
            if store is None:
                return EXIT_USAGE
            stack.callback(store.close)
            dodo_key_ignored = settings.api_key is not None
            settings, transport = sandbox_backend(settings, store, sandbox_key(args.sandbox_api_key))
            database = store.path
        logger.info(startup_notice(settings, dodo_key_ignored=dodo_key_ignored))
        warning = live_warning(settings, TOOL_NAMES if tools is None else tools)
        if warning is not None:
            logger.warning(warning)
        if database is not None:
            logger.info("sandbox database: %s", database)
        if hidden:
            logger.warning("read-only: not serving %s, although named in the tool list", ", ".join(hidden))
        if tools is not None:
            logger.info("serving only these tools: %s", ", ".join(tools))
        return serve(settings, http, transport=transport, tools=tools)


def _resolve(args: argparse.Namespace) -> tuple[Settings, HttpSettings | None, tuple[list[str] | None, list[str]]]:
    """Every setting from the flags and the environment, checked; SettingsError names the first bad one."""
    settings = settings_from_env(
        environment=args.environment,
        base_url=args.base_url,
        deadline_s=args.deadline,
        max_retries=args.max_retries,
        log_level=args.log_level,
        ingest_batch_size=args.ingest_batch_size,
        ingest_concurrency=args.ingest_concurrency,
        live_ingest_confirmation=args.live_ingest_confirmation,
    )
    selection = tool_selection(args)
    http = http_settings(args) if transport_of(args) != "stdio" else None
    if http is not None:
        from dodo_mcp.http_transport import StartupError, check_settings

        try:
            check_settings(http)
        except StartupError as exc:
            raise SettingsError(str(exc)) from None
    return settings, http, selection


def _all_of(watches: Sequence[Any]) -> Any:
    """One watch (mcp_sdk.WatchRequest) that enters each of `watches` and settles each of them."""
    if len(watches) == 1:
        return watches[0]

    @contextlib.contextmanager
    def watching(method: str, tool: str | None) -> Iterator[Any]:
        with contextlib.ExitStack() as stack:
            settles = [stack.enter_context(watch(method, tool)) for watch in watches]

            def settle(outcome: str) -> None:
                for each in settles:
                    each(outcome)

            yield settle

    return watching


def freeze_startup_objects() -> None:
    """Leave what start-up built out of every later garbage collection: the SDK's and our modules, models
    and schemas, some 90,000 objects tracked by the collector that never become garbage.

    A call that allocates a lot (a 1,000-event ingest_events makes some 10,000 objects) sets off
    collections of the oldest generation, and each one walked all of those again. Frozen, a collection
    walks only what was made since: server CPU per 1,000-event ingest_events call 8.5 -> 6.2 ms, measured
    with an interleaved A/B against a constant backend (the issue 15 closing note has the command).
    No gc.collect() first: it would cost the first answer some 30 to 60 ms, to free the few hundred
    objects start-up leaves unreachable (they stay, frozen, a few hundred kilobytes at most).
    """
    gc.freeze()


def serve(
    settings: Settings, http: HttpSettings | None, *, transport: Any = None, tools: Sequence[str] | None = None
) -> int:
    """Run the MCP server on stdio, or on SSE / Streamable HTTP when `http` says so; `tools` None serves all."""
    from dodo_mcp.server import InFlightCalls, start_server

    calls = InFlightCalls()
    watches = []
    metrics = None
    if http is not None:
        from dodo_mcp.metrics import Metrics

        metrics = Metrics(TOOL_NAMES if tools is None else tools)
        watches.append(metrics.watching)
    from dodo_mcp import tracing

    if tracing.wanted():
        traced = tracing.start_tracing(settings.base_url)
        if traced is not None:
            watches.append(traced.watching)

    start = start_server(
        settings,
        transport=transport,
        per_client_api_key=bool(http and http.per_client_api_key),
        in_flight=calls,
        tools=TOOL_NAMES if tools is None else tools,
        secrets=[http.auth_token] if http and http.auth_token else (),
        watch=_all_of(watches) if watches else None,
    )
    if http is None:
        from dodo_mcp.stdio import run_stdio

        # The handshake is answered before the tools (and DodoClient) are imported: see server.ServerStart.
        def install() -> None:
            start.install()
            freeze_startup_objects()  # what the tools built, too

        freeze_startup_objects()
        with contextlib.suppress(KeyboardInterrupt):
            run_stdio(start.server, install, start.read_message)
        return EXIT_OK

    import anyio

    from dodo_mcp import http_transport
    from dodo_mcp.listen import ListenError

    start.install()
    freeze_startup_objects()
    try:
        anyio.run(http_transport.serve, start.server, start.client, http, calls, metrics)
    except (http_transport.StartupError, ListenError) as exc:
        print(f"dodo-mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, http_transport.StartupError) else EXIT_UNAVAILABLE
    return EXIT_OK
