"""From parsed flags and the environment to what the server needs: the tools to serve and the HTTP settings.

A flag wins over its environment variable, which wins over the named default. A bad value is a
SettingsError whose text names the setting: the CLI prints it on one line and exits 2.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING, Any

from dodo_mcp.cli.parser import TRANSPORTS
from dodo_mcp.config import (
    ALLOWED_HOSTS_ENV,
    ALLOWED_ORIGINS_ENV,
    AUTH_ENV,
    AUTH_MODES,
    AUTH_TOKEN_ENV,
    AUTH_TOKEN_FILE_ENV,
    DEFAULT_AUTH,
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
    EVENT_STORE_AGE_ENV,
    EVENT_STORE_EVENTS_ENV,
    GRACE_ENV,
    HEADER_TIMEOUT_ENV,
    HOST_ENV,
    IDLE_TIMEOUT_ENV,
    MAX_BODY_ENV,
    MAX_SESSIONS_ENV,
    METRICS_HOST_ENV,
    METRICS_PORT_ENV,
    OAUTH_AUDIENCE_ENV,
    OAUTH_ISSUER_ENV,
    OAUTH_JWKS_URL_ENV,
    PER_CLIENT_KEY_ENV,
    PORT_ENV,
    READ_ONLY_ENV,
    SESSION_IDLE_ENV,
    SSE_RETRY_ENV,
    STATELESS_ENV,
    TOOLS_ENV,
    TRANSPORT_ENV,
    SettingsError,
    env_flag,
)
from dodo_mcp.tools.names import TOOL_NAMES, WRITE_TOOLS, ToolSelectionError, select_tools

if TYPE_CHECKING:
    from dodo_mcp.http_transport import HttpSettings
    from dodo_mcp.oauth import OAuthSettings


def tool_selection(args: argparse.Namespace) -> tuple[list[str] | None, list[str]]:
    """The tools to serve from --tools/--read-only (or their environment variables), None for all of them,
    and the named tools that read-only hides.

    An unknown name is a startup error (exit 2), not a silently smaller server: a typo in a client's
    configuration should be seen at once, with the valid names.
    """
    raw = args.tools if args.tools is not None else os.environ.get(TOOLS_ENV, "")
    names = listed(raw) or None
    read_only = args.read_only or env_flag(os.environ.get(READ_ONLY_ENV))
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


def oauth_settings(args: argparse.Namespace) -> OAuthSettings | None:
    """--auth oauth's settings (None for the bearer token), from flags, then the environment."""
    from dodo_mcp.oauth import OAuthSettings

    env = os.environ
    mode = str(args.auth or env.get(AUTH_ENV) or DEFAULT_AUTH).strip().lower()
    if mode not in AUTH_MODES:
        raise SettingsError(f"{AUTH_ENV} must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
    if mode != "oauth":
        return None
    issuer = (args.oauth_issuer or env.get(OAUTH_ISSUER_ENV) or "").strip()
    audience = (args.oauth_audience or env.get(OAUTH_AUDIENCE_ENV) or "").strip()
    if not issuer or not audience:
        raise SettingsError(
            f"--auth oauth needs the issuer and the audience: --oauth-issuer URL (or {OAUTH_ISSUER_ENV}) and "
            f"--oauth-audience URL (or {OAUTH_AUDIENCE_ENV}), this server's public MCP URL"
        )
    jwks_url = (args.oauth_jwks_url or env.get(OAUTH_JWKS_URL_ENV) or "").strip() or None
    return OAuthSettings(issuer=issuer, audience=audience, jwks_url=jwks_url, write_tools=frozenset(WRITE_TOOLS))


def http_settings(args: argparse.Namespace) -> HttpSettings:
    """The HTTP transport's settings from flags, then the environment, then the defaults."""
    from dodo_mcp.http_transport import HttpSettings

    env = os.environ
    try:
        port = int(args.port if args.port is not None else env.get(PORT_ENV) or DEFAULT_PORT)
        max_body = int(args.max_body_bytes or env.get(MAX_BODY_ENV) or DEFAULT_MAX_BODY_BYTES)
        grace = float(args.grace_period or env.get(GRACE_ENV) or DEFAULT_GRACE_S)
        header_s = float(args.header_timeout or env.get(HEADER_TIMEOUT_ENV) or DEFAULT_HEADER_TIMEOUT_S)
        idle_s = float(args.idle_timeout or env.get(IDLE_TIMEOUT_ENV) or DEFAULT_IDLE_TIMEOUT_S)
        session_idle_s = float(args.session_idle_timeout or env.get(SESSION_IDLE_ENV) or DEFAULT_SESSION_IDLE_S)
        max_sessions = int(args.max_sessions or env.get(MAX_SESSIONS_ENV) or DEFAULT_MAX_SESSIONS)
        raw_metrics_port = args.metrics_port if args.metrics_port is not None else env.get(METRICS_PORT_ENV)
        metrics_port = int(raw_metrics_port) if raw_metrics_port not in (None, "") else None
    except ValueError as exc:
        raise SettingsError(f"a number setting is not a number: {exc}") from None
    for name, value in (
        ("--header-timeout", header_s),
        ("--idle-timeout", idle_s),
        ("--session-idle-timeout", session_idle_s),
        ("--max-sessions", max_sessions),
    ):
        if not (value > 0 and math.isfinite(value)):
            raise SettingsError(f"{name} must be a positive number, not {value:g}")
    if not 0 <= port <= 65535:
        raise SettingsError(f"the port must be between 0 and 65535, not {port}")
    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        raise SettingsError(f"--metrics-port must be between 0 and 65535, not {metrics_port}")
    return HttpSettings(
        transport=transport_of(args),  # type: ignore[arg-type]  # checked by transport_of
        host=args.host or env.get(HOST_ENV) or DEFAULT_HOST,
        port=port,
        auth_token=_auth_token(args.auth_token_file or env.get(AUTH_TOKEN_FILE_ENV)),
        stateless=args.stateless or env_flag(env.get(STATELESS_ENV)),
        allowed_hosts=tuple(args.allowed_host or listed(env.get(ALLOWED_HOSTS_ENV))),
        allowed_origins=tuple(args.allowed_origin or listed(env.get(ALLOWED_ORIGINS_ENV))),
        max_body_bytes=max_body,
        grace_s=grace,
        header_timeout_s=header_s,
        idle_timeout_s=idle_s,
        session_idle_s=session_idle_s,
        max_sessions=max_sessions,
        per_client_api_key=args.per_client_api_key or env_flag(env.get(PER_CLIENT_KEY_ENV)),
        oauth=oauth_settings(args),
        metrics_port=metrics_port,
        metrics_host=args.metrics_host or env.get(METRICS_HOST_ENV) or DEFAULT_HOST,
        **resumption_settings(args),
    )


def resumption_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The event store's bounds and the SSE retry interval, for HttpSettings."""
    env = os.environ
    try:
        events = int(_given(args.event_store_events, env.get(EVENT_STORE_EVENTS_ENV), DEFAULT_EVENT_STORE_EVENTS))
        age_s = float(_given(args.event_store_seconds, env.get(EVENT_STORE_AGE_ENV), DEFAULT_EVENT_STORE_AGE_S))
        retry_ms = int(_given(args.sse_retry, env.get(SSE_RETRY_ENV), DEFAULT_SSE_RETRY_MS))
    except ValueError as exc:
        raise SettingsError(f"a number setting is not a number: {exc}") from None
    if events < 0:
        raise SettingsError(f"--event-store-events must be 0 (no resumable streams) or more, not {events}")
    if not (age_s > 0 and math.isfinite(age_s)):
        raise SettingsError(f"--event-store-seconds must be a positive number, not {age_s:g}")
    if retry_ms < 0:
        raise SettingsError(f"--sse-retry must be 0 or more milliseconds, not {retry_ms}")
    return {"event_store_events": events, "event_store_age_s": age_s, "sse_retry_ms": retry_ms}


def _given(flag: float | None, environment: str | None, default: float) -> str | float:
    """The flag's value when given (0 included), else the environment's when set, else the default."""
    if flag is not None:
        return flag
    return environment.strip() if environment and environment.strip() else default


def _auth_token(token_file: str | None) -> str | None:
    """The bearer token: from the file when one is named, else from its environment variable."""
    if not token_file:
        return os.environ.get(AUTH_TOKEN_ENV, "").strip() or None
    try:
        with open(token_file, encoding="utf-8") as file:
            token = file.read().strip()
    except OSError as exc:
        raise SettingsError(f"cannot read the auth token file {token_file}: {exc.strerror or exc}") from None
    if not token:
        raise SettingsError(f"the auth token file {token_file} is empty")
    return token


def listed(raw: str | None) -> list[str]:
    """A comma-separated setting's items, trimmed, empty ones dropped."""
    return [item.strip() for item in (raw or "").split(",") if item.strip()]
