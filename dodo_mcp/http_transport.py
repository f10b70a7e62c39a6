"""Serve MCP over SSE or Streamable HTTP, secure by default.

Imported only for the HTTP transports, so a stdio start never loads it. What it adds
around the SDK's own apps:

- bearer-token auth on every route but /healthz and /readyz (dodo_mcp.health), compared in constant time;
- DNS-rebinding protection (Host and Origin allowlists) on every bind, not only loopback;
- a request-body limit answered with 413;
- a refusal to listen beyond loopback without a token;
- one shared DodoClient for the whole process (the SSE lifespan runs per connection);
- graceful shutdown: on SIGTERM/SIGINT, stop accepting, let in-flight calls finish, exit 0;
- resumable streams: stateful sessions keep their SSE events (dodo_mcp.event_store) for clients that reconnect.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import signal
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http import EventStore
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import JSONRPCRequest
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dodo_mcp.config import (
    AUTH_TOKEN_ENV,
    DEFAULT_EVENT_STORE_AGE_S,
    DEFAULT_EVENT_STORE_EVENTS,
    DEFAULT_GRACE_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_HOST,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_PORT,
    DEFAULT_SESSION_IDLE_S,
    DEFAULT_SSE_RETRY_MS,
    PER_CLIENT_KEY_HEADER,
)
from dodo_mcp.ended_sessions import EndedSessions, answer_session_ended
from dodo_mcp.event_store import MemoryEventStore, SessionEvents
from dodo_mcp.health import HEALTH_PATHS, serve_health
from dodo_mcp.jsonrpc import Refusal, read_message
from dodo_mcp.listen import listening_socket
from dodo_mcp.mcp_sdk import authenticated_caller, events_per_session
from dodo_mcp.server import InFlightCalls
from dodo_mcp.session_versions import SessionVersions
from dodo_mcp.slow_clients import head_deadline_protocol

if TYPE_CHECKING:
    from dodo_mcp.metrics import Metrics
    from dodo_mcp.oauth import OAuthSettings

logger = logging.getLogger(__name__)

Transport = Literal["sse", "streamable-http"]

STREAMABLE_HTTP_PATH = "/mcp"
SSE_PATH = "/sse"
SSE_MESSAGES_PATH = "/messages/"
_PER_CLIENT_KEY = PER_CLIENT_KEY_HEADER.lower().encode()
_SESSION_HEADER = b"mcp-session-id"
# Where WellFormedMessages leaves the message it read, for the middleware inside it.
PARSED_MESSAGE = "dodo_mcp.message"
# What a client asking for a new session during the drain is told: try again (another replica) in a second.
DRAIN_RETRY_AFTER_S = 1
# How long nothing may be in flight before the drain ends: a client's follow-up to its answer arrives in it.
_DRAIN_QUIET_S = 0.3
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class StartupError(RuntimeError):
    """The HTTP server cannot start; the text is the one-line reason shown to the operator."""


@dataclass(frozen=True)
class HttpSettings:
    """How the MCP server is exposed over HTTP."""

    transport: Transport
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    auth_token: str | None = None
    stateless: bool = False
    allowed_hosts: Sequence[str] = field(default_factory=tuple)
    allowed_origins: Sequence[str] = field(default_factory=tuple)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    grace_s: float = DEFAULT_GRACE_S
    per_client_api_key: bool = False
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    session_idle_s: float = DEFAULT_SESSION_IDLE_S
    max_sessions: int = DEFAULT_MAX_SESSIONS
    # OAuth 2.1 resource server (--auth oauth) instead of the shared bearer token.
    oauth: OAuthSettings | None = None
    # /metrics on a listener of its own (no auth) at metrics_host:metrics_port; None serves it behind the auth.
    metrics_port: int | None = None
    metrics_host: str = DEFAULT_HOST
    event_store_events: int = DEFAULT_EVENT_STORE_EVENTS
    event_store_age_s: float = DEFAULT_EVENT_STORE_AGE_S
    sse_retry_ms: int = DEFAULT_SSE_RETRY_MS

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_settings(settings: HttpSettings) -> None:
    """Refuse unsafe or impossible settings with a one-line reason."""
    if settings.oauth is not None:
        from dodo_mcp.oauth import check_oauth_settings

        problem = check_oauth_settings(settings.oauth)
        if problem is not None:
            raise StartupError(problem)
        if settings.auth_token:
            raise StartupError(f"--auth oauth and a bearer token exclude each other: unset {AUTH_TOKEN_ENV}")
        return
    if not settings.loopback and not settings.auth_token:
        raise StartupError(
            f"refusing to serve on {settings.host} without authentication: set {AUTH_TOKEN_ENV} or pass "
            "--auth-token-file FILE with a long random secret (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or bind to 127.0.0.1"
        )
    if settings.auth_token is not None and len(settings.auth_token) < 16:
        raise StartupError("the auth token is too short: use at least 16 random characters")
    if settings.per_client_api_key and not settings.auth_token:
        raise StartupError(f"--per-client-api-key needs an auth token too: set {AUTH_TOKEN_ENV} or --auth-token-file")


def security_settings(settings: HttpSettings) -> TransportSecuritySettings:
    """Host and Origin allowlists: loopback names, the bind address, and what the operator added."""
    hosts = [f"{name}:*" for name in _LOOPBACK_NAMES]
    origins = [f"http://{name}:*" for name in _LOOPBACK_NAMES]
    if not settings.loopback and settings.host not in ("0.0.0.0", "::"):
        bound = f"[{settings.host}]" if ":" in settings.host else settings.host
        hosts.append(f"{bound}:*")
        origins.append(f"http://{bound}:*")
    hosts.extend(settings.allowed_hosts)
    origins.extend(settings.allowed_origins)
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class BearerAuth:
    """Require `Authorization: Bearer <token>` on every HTTP request except the health check."""

    def __init__(self, app: ASGIApp, token: str | None, open_paths: Sequence[str] = HEALTH_PATHS) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self._open = tuple(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open:
            await self.app(scope, receive, send)
            return
        authorizations = [value for name, value in scope["headers"] if name == b"authorization"]
        if len(authorizations) > 1:
            # Which one counts would differ between us, a proxy and the SDK: refuse rather than pick one.
            await _refuse(send, 400, "invalid_request", "send exactly one Authorization header")
            return
        if self._token is None:
            await self.app(scope, receive, send)
            return
        presented = b""
        if authorizations and authorizations[0][:7].lower() == b"bearer ":
            presented = authorizations[0][7:].strip()
        if not hmac.compare_digest(presented, self._token):
            error = "invalid_token" if presented else "invalid_request"
            await _refuse(send, 401, error, "a valid bearer token is required")
            return
        own_key = next((value for name, value in scope["headers"] if name == _PER_CLIENT_KEY), b"")
        scope["user"] = authenticated_caller(caller_identity(presented, own_key.strip()))
        await self.app(scope, receive, send)


def caller_identity(token: bytes, own_key: bytes) -> str:
    """Who a caller is, for binding sessions: a hash of the bearer token and the caller's own Dodo key.

    The one definition: a session opened with one (token, key) pair answers 404 to any other, so one
    client that learns another's session id can neither use, take over nor delete it. Once OAuth
    exists, the token's issuer and subject take this role (then a refreshed token keeps its sessions).
    """
    return hashlib.sha256(b"dodo-mcp caller\0" + token + b"\0" + own_key).hexdigest()


async def _refuse(send: Send, status: int, error: str, description: str) -> None:
    """An RFC 6750 error answer: the JSON body and, on 401, the challenge."""
    body = json.dumps({"error": error, "error_description": description}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", f'Bearer realm="dodo-mcp", error="{error}"'.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ExactHostOrigin:
    """Refuse a Host (421) or Origin (403) that is not exactly one on the allowlists, parsed, not prefixed.

    The SDK's own check, which still runs behind this one, compares by prefix: `localhost:evil.example`,
    `127.0.0.1:8000@evil.example` and Origin `http://localhost:8000.evil.example` all passed it. Here each
    value is parsed into scheme, host and port and compared part by part; a pattern's port may be `*`.
    """

    def __init__(self, app: ASGIApp, hosts: Sequence[str], origins: Sequence[str]) -> None:
        self.app = app
        self._hosts = [_parse_host(pattern, pattern=True) for pattern in hosts]
        self._origins = [_parse_origin(pattern, pattern=True) for pattern in origins]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(name, value.decode("latin-1")) for name, value in scope["headers"] if name in (b"host", b"origin")]
        hosts = [value for name, value in headers if name == b"host"]
        origins = [value for name, value in headers if name == b"origin"]
        if len(hosts) != 1 or not _allowed(_parse_host(hosts[0]), self._hosts):
            await JSONResponse({"error": "Invalid Host header"}, status_code=421)(scope, receive, send)
            return
        if len(origins) > 1 or (origins and not _allowed(_parse_origin(origins[0]), self._origins)):
            await JSONResponse({"error": "Invalid Origin header"}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _parse_host(value: str, *, pattern: bool = False) -> tuple[str, str, str] | None:
    """("", host, port or "") of a Host value that is exactly host[:port]; None otherwise."""
    return _parse_url_parts("", value, pattern)


def _parse_origin(value: str, *, pattern: bool = False) -> tuple[str, str, str] | None:
    """(scheme, host, port or "") of an Origin that is exactly scheme://host[:port]; None otherwise."""
    scheme, separator, rest = value.partition("://")
    if not separator or scheme.lower() not in ("http", "https"):
        return None
    return _parse_url_parts(scheme.lower(), rest, pattern)


def _parse_url_parts(scheme: str, authority: str, pattern: bool) -> tuple[str, str, str] | None:
    wildcard = pattern and authority.endswith(":*")
    parts = urlsplit("//" + (authority[:-2] if wildcard else authority))
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or parts.path or parts.query or parts.fragment:
        return None
    if not parts.hostname or "@" in authority or "/" in authority:
        return None
    return scheme, parts.hostname, "*" if wildcard else ("" if port is None else str(port))


def _allowed(value: tuple[str, str, str] | None, patterns: Sequence[tuple[str, str, str] | None]) -> bool:
    if value is None:
        return False
    scheme, host, port = value
    return any(
        allowed is not None and (allowed[0], allowed[1]) == (scheme, host) and allowed[2] in ("*", port)
        for allowed in patterns
    )


class WellFormedMessages:
    """Answer a POSTed JSON body that is not one JSON-RPC message as stdio does (dodo_mcp.jsonrpc), with 400.

    The SDK answers such a body with -32602 and a dump of pydantic's validation errors, and takes an id
    of `true` as 1. The body is read here whole (up to the limit: a chunked body has no content-length
    for BodyLimit to see) and handed on unchanged.
    """

    def __init__(self, app: ASGIApp, paths: Sequence[str], max_bytes: int) -> None:
        self.app = app
        self._paths = frozenset(paths)
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = dict(scope["headers"]).get(b"content-type", b"") if scope["type"] == "http" else b""
        if scope.get("method") != "POST" or scope["path"] not in self._paths or b"json" not in content_type:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await JSONResponse({"error": "request body too large"}, status_code=413)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        checked = read_message(body, "body")
        if isinstance(checked, Refusal):
            answer = checked.answer.model_dump(mode="json", by_alias=True, exclude_unset=True)
            await JSONResponse(answer, status_code=400)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, PARSED_MESSAGE: checked}, replay, send)


class Drain:
    """A shutdown in progress: started by the first SIGTERM or SIGINT, watched by DrainGate and the drain task."""

    def __init__(self) -> None:
        self.signal: int | None = None
        # POST and DELETE requests being answered (long-lived GET streams are not counted).
        self.requests = 0
        # Set when the drain is over: from then on every SSE stream is ended, so a request that arrives
        # now (already on its way when the load balancer stopped sending) is refused rather than begun.
        self.over = False

    @property
    def started(self) -> bool:
        return self.signal is not None


class DrainGate:
    """While draining: refuse new sessions with 503 and Retry-After, and serve every other request.

    A client whose call was in flight at SIGTERM gets its result and may still send what follows it
    (the SDK's client fetches tools/list to check a result against its outputSchema), so connections
    are still accepted. Only a new session, which belongs on another replica, is turned away.
    """

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.drain.over and scope["method"] == "POST" and _SESSION_HEADER in dict(scope["headers"]):
            # The drain is over and this session ends with the process: the client is to open another, elsewhere.
            await answer_session_ended(scope, receive, send)
            return
        if self.drain.started and (_opens_session(scope) or (self.drain.over and scope["method"] == "POST")):
            body = {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32000, "message": "dodo-mcp is shutting down: retry"},
            }
            headers = {"Retry-After": str(DRAIN_RETRY_AFTER_S)}
            await JSONResponse(body, status_code=503, headers=headers)(scope, receive, send)
            return
        if scope["method"] not in ("POST", "DELETE"):
            await self.app(scope, receive, send)
            return
        self.drain.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.requests -= 1


def memory_event_store(settings: HttpSettings) -> MemoryEventStore | None:
    """The default event store, bounded by the settings; None when they keep no events."""
    if settings.event_store_events == 0:
        return None
    return MemoryEventStore(settings.event_store_events, settings.event_store_age_s)


def _opens_session(scope: Scope) -> bool:
    """An SSE stream's GET, or an initialize request (which opens a Streamable HTTP session)."""
    if scope["method"] == "GET" and scope["path"] == SSE_PATH:
        return True
    message = scope.get(PARSED_MESSAGE)
    return isinstance(message, JSONRPCRequest) and message.method == "initialize"


class BodyLimit:
    """Answer 413 to any request whose body is, or turns out to be, larger than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await JSONResponse({"error": "request body too large"}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(
    server: MCPServer[Any],
    settings: HttpSettings,
    drain: Drain | None = None,
    metrics: Metrics | None = None,
    event_store: EventStore | None = None,
) -> ASGIApp:
    """The ASGI app: the SDK's transport app wrapped in our auth and size limit (and /metrics, with `metrics`).

    `event_store` replaces the in-memory store of stateful Streamable HTTP sessions (see dodo_mcp.event_store).
    """
    drain = drain or Drain()
    serve_health(server, lambda: drain.started)
    if metrics is not None and settings.metrics_port is None:
        from dodo_mcp.metrics_http import METRICS_PATH, metrics_route

        server.custom_route(METRICS_PATH, methods=["GET"], include_in_schema=False)(metrics_route(metrics))

    security = security_settings(settings)
    if settings.transport == "streamable-http":
        # `is not None`, not truth: the SDK itself tests a store's truth, and an empty one must count.
        events = event_store if event_store is not None else memory_event_store(settings)
        if settings.stateless:
            events = None  # the SDK keeps no events without sessions
        app: ASGIApp = server.streamable_http_app(
            streamable_http_path=STREAMABLE_HTTP_PATH,
            stateless_http=settings.stateless,
            max_request_body_size=settings.max_body_bytes,
            session_idle_timeout=settings.session_idle_s,
            max_sessions=settings.max_sessions,
            transport_security=security,
            host=settings.host,
            event_store=events,
            retry_interval=settings.sse_retry_ms if events is not None else None,
        )
        if events is not None:
            events_per_session(server, SessionEvents)
            app = SessionVersions(app, STREAMABLE_HTTP_PATH, settings.max_sessions)
    else:
        app = server.sse_app(
            sse_path=SSE_PATH,
            message_path=SSE_MESSAGES_PATH,
            max_request_body_size=settings.max_body_bytes,
            transport_security=security,
            host=settings.host,
        )
    if metrics is not None:
        _count_sessions(server, settings, metrics)
        if settings.transport == "sse":
            from dodo_mcp.metrics_http import OpenStreams

            app = streams = OpenStreams(app, SSE_PATH)
            metrics.count_sessions(lambda: streams.count)
    gated: ASGIApp = DrainGate(EndedSessions(app, (STREAMABLE_HTTP_PATH,)), drain)
    open_paths = HEALTH_PATHS
    if settings.oauth is not None:
        from dodo_mcp.oauth_http import ScopeGate

        gated = ScopeGate(gated, settings.oauth, PARSED_MESSAGE, open_paths)
    messages = WellFormedMessages(gated, (STREAMABLE_HTTP_PATH, SSE_MESSAGES_PATH), settings.max_body_bytes)
    checked: ASGIApp = ExactHostOrigin(messages, security.allowed_hosts, security.allowed_origins)
    if settings.oauth is not None:
        from dodo_mcp.oauth_http import protect

        checked = protect(checked, settings.oauth, open_paths)
    return BodyLimit(BearerAuth(checked, settings.auth_token), settings.max_body_bytes)


def _count_sessions(server: MCPServer[Any], settings: HttpSettings, metrics: Metrics) -> None:
    if settings.transport == "streamable-http":
        from dodo_mcp.mcp_sdk import open_sessions

        metrics.count_sessions(lambda: open_sessions(server))


async def serve(
    server: MCPServer[Any],
    held: AbstractAsyncContextManager[Any],
    settings: HttpSettings,
    calls: InFlightCalls,
    metrics: Metrics | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then finish in-flight calls within the grace period.

    `held` (the server's DodoClient) is entered for the life of the process, so the per-connection
    lifespans of SSE share it rather than each opening and closing it.
    """
    import uvicorn
    from sse_starlette.sse import AppStatus

    check_settings(settings)
    sock = listening_socket(settings.host, settings.port)
    metrics_sock = None
    if metrics is not None and settings.metrics_port is not None:
        metrics_sock = listening_socket(settings.metrics_host, settings.metrics_port)
    drain = Drain()
    app = build_app(server, settings, drain, metrics)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.grace_s) + 1,
        timeout_keep_alive=settings.idle_timeout_s,  # type: ignore[arg-type]  # a float works: it goes to call_later
        http=head_deadline_protocol(settings.header_timeout_s),
        server_header=False,
    )
    where = f"http://{sock.getsockname()[0]}:{sock.getsockname()[1]}"
    path = STREAMABLE_HTTP_PATH if settings.transport == "streamable-http" else SSE_PATH
    logger.info(
        "serving MCP over %s at %s%s (%s, auth %s)",
        settings.transport,
        where,
        path,
        "stateless" if settings.stateless else "stateful" if settings.transport == "streamable-http" else "SSE",
        "OAuth" if settings.oauth else "on" if settings.auth_token else "off: loopback only",
    )
    # By default sse-starlette ends every SSE stream the moment a signal arrives, cutting off the
    # answers of calls still running. We end them ourselves, once those calls are done.
    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]
    http = _draining_server(config, drain)
    # uvicorn handles SIGTERM/SIGINT while serving (stop accepting, wait for connections), then re-raises
    # the signal so the default action kills the process. A handler of ours in the default's place
    # turns that into the normal exit 0 of a clean shutdown.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        async with held, anyio.create_task_group() as group:
            group.start_soon(_drain_on_exit, http, drain, calls, settings.grace_s)
            if metrics is not None and metrics_sock is not None:
                from dodo_mcp.metrics_http import serve_metrics

                group.start_soon(serve_metrics, metrics, metrics_sock)
                logger.info("serving metrics at http://%s:%d/metrics", *metrics_sock.getsockname()[:2])
            await http.serve(sockets=[sock])
            group.cancel_scope.cancel()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        if metrics_sock is not None:
            metrics_sock.close()


def _draining_server(config: Any, drain: Drain) -> Any:
    """A uvicorn server whose first SIGTERM or SIGINT starts the drain instead of its own shutdown.

    uvicorn's shutdown closes the listening socket first, so a client finishing a call (fetching
    tools/list after it, say) could no longer connect and lost the result. The drain task sets
    should_exit once the calls and requests in flight are done; a second signal stops at once.
    """
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if drain.started or self.should_exit:
                super().handle_exit(sig, frame)
            else:
                drain.signal = sig

    return DrainingServer(config)


async def _drain_on_exit(http: Any, drain: Drain, calls: InFlightCalls, grace_s: float) -> None:
    from sse_starlette.sse import AppStatus

    while not drain.started and not http.should_exit:
        await anyio.sleep(0.05)
    if drain.signal is not None:
        logger.info(
            "shutting down: %d tool call(s) in flight, waiting up to %g s; new sessions get 503",
            calls.count,
            grace_s,
        )
        with anyio.move_on_after(grace_s):
            # Done when nothing has been in flight for a moment: the answers are on the wire, and what
            # clients send right after an answer has been served too.
            quiet = 0.0
            while quiet < _DRAIN_QUIET_S:
                await anyio.sleep(0.05)
                quiet = quiet + 0.05 if calls.count == 0 and drain.requests == 0 else 0.0
        logger.info("stopped after %s", signal.Signals(drain.signal).name)
    drain.over = True
    http.should_exit = True
    AppStatus.should_exit = True


def _stopped(sig: int, frame: object) -> None:
    logger.info("stopped after %s", signal.Signals(sig).name)
