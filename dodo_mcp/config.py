"""Settings from the environment and flags, with named defaults, and the name of every environment variable.

The API key is read from the environment only (never a flag, which would show
in process listings) and is held as a SecretStr so no repr or log can print it.
Each environment variable the server reads is named once, below; the CLI, the
HTTP transport, the bundle manifest's test and the docs use these constants.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from dodo_mcp.api.limits import MAX_EVENTS_PER_REQUEST, REQUESTS_PER_MINUTE

Environment = Literal["test_mode", "live_mode"]

ENVIRONMENT_URLS: dict[str, str] = {
    "test_mode": "https://test.dodopayments.com",
    "live_mode": "https://live.dodopayments.com",
}
# Dodo's live host: calls to it record real usage, whatever the environment setting says.
LIVE_HOST = "live.dodopayments.com"
# Safer than the official SDKs' silent live default: a forgotten setting cannot bill anyone.
DEFAULT_ENVIRONMENT: Environment = "test_mode"
# MCP clients give up on a call after about 60 s; every retry and wait must fit well inside that.
DEFAULT_DEADLINE_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_LOG_LEVEL = "INFO"
# Dodo suggests batches of about 100; larger ones spend less of the 100 requests/minute rate limit.
DEFAULT_INGEST_BATCH_SIZE = 500
DEFAULT_INGEST_CONCURRENCY = 4
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Whether ingest_events asks the user before sending to Dodo's live host: when the client can ask (auto),
# never (off, for unattended use), or always, refusing where the client cannot ask (required).
LiveIngestConfirmation = Literal["auto", "off", "required"]
LIVE_INGEST_CONFIRMATIONS: tuple[LiveIngestConfirmation, ...] = ("auto", "off", "required")
DEFAULT_LIVE_INGEST_CONFIRMATION: LiveIngestConfirmation = "auto"
# The network transports' defaults (dodo_mcp.http_transport): loopback only, a 4 MiB body limit, and
# 20 s for calls in flight to finish after SIGTERM.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_GRACE_S = 20.0
# Slow and idle clients: a request's head (request line and headers) must arrive within 10 s, an idle
# keep-alive connection is closed after 30 s, a Streamable HTTP session with no request for 30 minutes
# ends, and at most 1,000 sessions are open at once (more are refused with 503).
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_IDLE_TIMEOUT_S = 30.0
DEFAULT_SESSION_IDLE_S = 1800.0
DEFAULT_MAX_SESSIONS = 1000
# How HTTP clients authenticate: the shared bearer token (token), or OAuth 2.1 access tokens (oauth).
AUTH_MODES = ("token", "oauth")
DEFAULT_AUTH = "token"

# Resumable streams (dodo_mcp.event_store): the last 10,000 SSE events, none older than 5 minutes, are kept
# for clients that reconnect with Last-Event-ID; the priming event tells them to wait 1 s first.
DEFAULT_EVENT_STORE_EVENTS = 10_000
DEFAULT_EVENT_STORE_AGE_S = 300.0
DEFAULT_SSE_RETRY_MS = 1000

# The environment variables, one constant each. Dodo's own SDKs read the first three too.
API_KEY_ENV = "DODO_PAYMENTS_API_KEY"
ENVIRONMENT_ENV = "DODO_PAYMENTS_ENVIRONMENT"
BASE_URL_ENV = "DODO_PAYMENTS_BASE_URL"
DEADLINE_ENV = "DODO_MCP_DEADLINE_SECONDS"
MAX_RETRIES_ENV = "DODO_MCP_MAX_RETRIES"
LOG_LEVEL_ENV = "DODO_MCP_LOG_LEVEL"
INGEST_BATCH_SIZE_ENV = "DODO_MCP_INGEST_BATCH_SIZE"
INGEST_CONCURRENCY_ENV = "DODO_MCP_INGEST_CONCURRENCY"
READ_ONLY_ENV = "DODO_MCP_READ_ONLY"
TOOLS_ENV = "DODO_MCP_TOOLS"
LIVE_INGEST_CONFIRMATION_ENV = "DODO_MCP_LIVE_INGEST_CONFIRMATION"
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
HEADER_TIMEOUT_ENV = "DODO_MCP_HEADER_TIMEOUT_SECONDS"
IDLE_TIMEOUT_ENV = "DODO_MCP_IDLE_TIMEOUT_SECONDS"
SESSION_IDLE_ENV = "DODO_MCP_SESSION_IDLE_SECONDS"
MAX_SESSIONS_ENV = "DODO_MCP_MAX_SESSIONS"
PER_CLIENT_KEY_ENV = "DODO_MCP_PER_CLIENT_API_KEY"
AUTH_ENV = "DODO_MCP_AUTH"
OAUTH_ISSUER_ENV = "DODO_MCP_OAUTH_ISSUER"
OAUTH_AUDIENCE_ENV = "DODO_MCP_OAUTH_AUDIENCE"
OAUTH_JWKS_URL_ENV = "DODO_MCP_OAUTH_JWKS_URL"
METRICS_PORT_ENV = "DODO_MCP_METRICS_PORT"
METRICS_HOST_ENV = "DODO_MCP_METRICS_HOST"
EVENT_STORE_EVENTS_ENV = "DODO_MCP_EVENT_STORE_EVENTS"
EVENT_STORE_AGE_ENV = "DODO_MCP_EVENT_STORE_SECONDS"
SSE_RETRY_ENV = "DODO_MCP_SSE_RETRY_MS"
SANDBOX_DB_ENV = "DODO_MCP_SANDBOX_DB"
SANDBOX_API_KEY_ENV = "DODO_MCP_SANDBOX_API_KEY"
# The bundle's switch for --sandbox (read by bundle/main.py, which maps it onto the flag).
SANDBOX_ENV = "DODO_MCP_SANDBOX"

# The key the sandbox accepts unless told another (it guards nothing real: the sandbox holds no money).
DEFAULT_SANDBOX_API_KEY = "sk_sandbox_local"

# The README's placeholders for the key. Any value ending in "..." (or "…") or wrapped in angle brackets
# ("<your key>") is one too: a real key is never shaped so.
PLACEHOLDER_KEYS = ("sk_test_...", "sk_live_...")

# The header a client may send its own Dodo key in, when the operator opted in (--per-client-api-key).
PER_CLIENT_KEY_HEADER = "x-dodo-payments-api-key"


TRUE_VALUES = ("1", "true", "yes", "on")


def env_flag(raw: str | None) -> bool:
    """Whether an environment variable's text switches a flag on (1, true, yes or on, in any case)."""
    return (raw or "").strip().lower() in TRUE_VALUES


def is_placeholder_key(key: str) -> bool:
    """Whether `key` is a placeholder copied from docs rather than a key (see PLACEHOLDER_KEYS)."""
    return (
        key in PLACEHOLDER_KEYS
        or key.endswith(("...", "\u2026"))
        or (len(key) > 2 and key.startswith("<") and key.endswith(">"))
    )


class SettingsError(ValueError):
    """A setting has a value the server cannot start with. The text names the setting."""


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to reach Dodo."""

    api_key: SecretStr | None = None
    environment: Environment = DEFAULT_ENVIRONMENT
    base_url_override: str | None = None
    deadline_s: float = DEFAULT_DEADLINE_S
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    log_level: str = DEFAULT_LOG_LEVEL
    ingest_batch_size: int = DEFAULT_INGEST_BATCH_SIZE
    ingest_concurrency: int = DEFAULT_INGEST_CONCURRENCY
    # Dodo's rate limit per key (its documented 100 a minute), which paging scans share (api/budget.py).
    requests_per_minute: int = REQUESTS_PER_MINUTE
    live_ingest_confirmation: LiveIngestConfirmation = DEFAULT_LIVE_INGEST_CONFIRMATION
    # Set by the sandbox: the API is served in-process rather than over the network.
    sandbox: bool = field(default=False)

    @property
    def base_url(self) -> str:
        return (self.base_url_override or ENVIRONMENT_URLS[self.environment]).rstrip("/")

    @property
    def sends_to_live(self) -> bool:
        """Whether calls reach Dodo's live host: live_mode, or a base URL override on that host (never the sandbox)."""
        return not self.sandbox and (urlsplit(self.base_url).hostname or "") == LIVE_HOST

    @property
    def target(self) -> str:
        """Where calls go, in words fit for a startup notice or the agent's instructions."""
        if self.sandbox:
            return "the local dodo-mcp sandbox (no real Dodo account or money involved)"
        if self.base_url_override:
            return f"{self.base_url} (custom base URL, {self.environment})"
        return f"Dodo Payments {self.environment} at {self.base_url}"


def settings_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    environment: str | None = None,
    base_url: str | None = None,
    deadline_s: float | None = None,
    max_retries: int | None = None,
    log_level: str | None = None,
    ingest_batch_size: int | None = None,
    ingest_concurrency: int | None = None,
    live_ingest_confirmation: str | None = None,
) -> Settings:
    """Build Settings from the environment; keyword arguments (from flags) win over it."""
    env = os.environ if environ is None else environ
    key = env.get(API_KEY_ENV, "").strip()

    chosen_environment = (environment or env.get(ENVIRONMENT_ENV) or DEFAULT_ENVIRONMENT).strip()
    if chosen_environment not in ENVIRONMENT_URLS:
        raise SettingsError(f"{ENVIRONMENT_ENV} must be test_mode or live_mode, not {chosen_environment!r}")

    chosen_base_url = (base_url or env.get(BASE_URL_ENV) or "").strip() or None
    if chosen_base_url is not None and not chosen_base_url.startswith(("http://", "https://")):
        raise SettingsError(f"{BASE_URL_ENV} must start with http:// or https://, not {chosen_base_url!r}")

    chosen_deadline = deadline_s if deadline_s is not None else _number(env, DEADLINE_ENV, DEFAULT_DEADLINE_S)
    if not 1 <= chosen_deadline <= 300:
        raise SettingsError(f"the deadline must be between 1 and 300 seconds, not {chosen_deadline}")

    chosen_retries = max_retries if max_retries is not None else int(_number(env, MAX_RETRIES_ENV, DEFAULT_MAX_RETRIES))
    if not 0 <= chosen_retries <= 10:
        raise SettingsError(f"the maximum number of retries must be between 0 and 10, not {chosen_retries}")

    chosen_level = (log_level or env.get(LOG_LEVEL_ENV) or DEFAULT_LOG_LEVEL).upper()
    if chosen_level not in LOG_LEVELS:
        raise SettingsError(f"the log level must be one of {', '.join(LOG_LEVELS)}, not {chosen_level!r}")

    batch_size = ingest_batch_size or int(_number(env, INGEST_BATCH_SIZE_ENV, DEFAULT_INGEST_BATCH_SIZE))
    if not 1 <= batch_size <= MAX_EVENTS_PER_REQUEST:
        raise SettingsError(f"the ingest batch size must be between 1 and {MAX_EVENTS_PER_REQUEST}, not {batch_size}")
    concurrency = ingest_concurrency or int(_number(env, INGEST_CONCURRENCY_ENV, DEFAULT_INGEST_CONCURRENCY))
    if not 1 <= concurrency <= 16:
        raise SettingsError(f"the ingest concurrency must be between 1 and 16, not {concurrency}")

    confirmation = (
        (live_ingest_confirmation or env.get(LIVE_INGEST_CONFIRMATION_ENV) or DEFAULT_LIVE_INGEST_CONFIRMATION)
        .strip()
        .lower()
    )
    if confirmation not in LIVE_INGEST_CONFIRMATIONS:
        raise SettingsError(
            f"{LIVE_INGEST_CONFIRMATION_ENV} must be one of {', '.join(LIVE_INGEST_CONFIRMATIONS)}, not {confirmation!r}"
        )

    return Settings(
        api_key=SecretStr(key) if key else None,
        environment=chosen_environment,  # type: ignore[arg-type]  # checked above
        base_url_override=chosen_base_url,
        deadline_s=chosen_deadline,
        max_retries=chosen_retries,
        log_level=chosen_level,
        ingest_batch_size=batch_size,
        ingest_concurrency=concurrency,
        live_ingest_confirmation=confirmation,  # type: ignore[arg-type]  # checked above
    )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
