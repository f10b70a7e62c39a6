"""The exception family of the API layer. Each error carries facts; the words an agent reads are the tools'.

    DodoError                      anything that stopped a request to Dodo
    ├── ConfigurationError         no API key is configured, nor sent with the call
    ├── DodoAPIError               Dodo answered with an error status
    │   ├── AuthenticationError        401
    │   ├── NotFoundError              404: `missing` says whether the event, the meter or the subscription
    │   └── RateLimitError             429: `retry_after`
    ├── DodoTransportError         no usable answer: the connection failed, was refused or dropped
    │   └── DodoTimeout                no answer in time (the per-call deadline, or a request timeout)
    │       └── ScanTimeout                not even the first page of a scan came back in its time share
    └── DodoResponseError          a success status with a body that is not the documented shape

Every error knows the request it came from (`request`: the operation, the environment, the ids it
named), how many `attempts` were made, and, when a retry was due but would have passed the
deadline, how long it was due in (`retry_in`). `unconfirmed` is True when the request was a write
whose outcome is unknown: this attempt's, or an earlier attempt's that may have been stored (a 503
then a 429 leaves the events' fate unknown, though the 429 alone would not). `str(error)` says what happened, in facts only, and never holds the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from dodo_mcp.api.retry import is_retryable_status


class Operation(Enum):
    """The API operations dodo-mcp makes, by method and route."""

    RETRIEVE_EVENT = "GET /events/{event_id}"
    LIST_EVENTS = "GET /events"
    INGEST_EVENTS = "POST /events/ingest"
    RETRIEVE_METER = "GET /meters/{meter_id}"
    LIST_METERS = "GET /meters"
    USAGE_HISTORY = "GET /subscriptions/{subscription_id}/usage-history"
    LIST_SUBSCRIPTIONS = "GET /subscriptions"

    @property
    def method(self) -> str:
        return self.value.split(" ", 1)[0]

    @property
    def writes(self) -> bool:
        return self.method != "GET"


@dataclass(frozen=True)
class RequestInfo:
    """What an error needs to know of the request it ended: no credentials, ever."""

    operation: Operation
    environment: str
    base_url: str
    deadline_s: float
    event_id: str | None = None
    meter_id: str | None = None
    subscription_id: str | None = None


class DodoError(Exception):
    """Base class: `message` says what happened."""

    def __init__(self, message: str, request: RequestInfo | None = None, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        # Whether the same request may succeed if sent again (a policy of retry.py, decided here once).
        self.retryable = retryable
        # Requests made before giving up.
        self.attempts = 0
        # Set when the next retry was due in this many seconds, past the deadline, so it was not made.
        self.retry_in: float | None = None
        # Set when an earlier attempt of the same write ended with its outcome unknown.
        self.earlier_attempt_unconfirmed = False

    def __str__(self) -> str:
        return self.message

    @property
    def operation(self) -> Operation | None:
        return None if self.request is None else self.request.operation

    @property
    def unconfirmed(self) -> bool:
        """True when the request was a write and whether it took effect is unknown."""
        return self.earlier_attempt_unconfirmed or self._outcome_unknown()

    def _outcome_unknown(self) -> bool:
        """Whether this attempt alone leaves a write's outcome unknown."""
        return False


class ConfigurationError(DodoError):
    """No API key: the server cannot make the call until its operator sets one."""

    def __init__(self, environment: str) -> None:
        super().__init__(f"No Dodo API key is configured for {environment}.")
        self.environment = environment


class DodoAPIError(DodoError):
    """Dodo answered with an error status. `code` and `detail` are Dodo's own, when it sent them."""

    def __init__(self, status: int, code: str | None, detail: str | None, request: RequestInfo | None = None) -> None:
        parts = [f"Dodo API error {status}"]
        if code:
            parts.append(f" {code}")
        if detail:
            parts.append(f": {detail}")
        super().__init__("".join(parts) + ".", request, retryable=is_retryable_status(status))
        self.status = status
        self.code = code
        self.detail = detail

    def _outcome_unknown(self) -> bool:
        return self.operation is not None and self.operation.writes and self.status >= 500


class AuthenticationError(DodoAPIError):
    """401: the key is missing, wrong, revoked, or belongs to the other environment."""


class NotFoundError(DodoAPIError):
    """404: no such event, meter or subscription."""

    @property
    def missing(self) -> str | None:
        """ "event", "meter" or "subscription": what the request named that Dodo does not have (None when not known).

        A usage history's 404 is the subscription's: the tools look the meter up themselves when one was named."""
        if self.operation is Operation.RETRIEVE_EVENT:
            return "event"
        if self.operation is Operation.USAGE_HISTORY:
            return "subscription"
        if self.operation is Operation.RETRIEVE_METER or (self.request is not None and self.request.meter_id):
            return "meter"
        return None


class RateLimitError(DodoAPIError):
    """429: over Dodo's rate limit. `retry_after` is the pause Dodo asked for, when it asked for a sensible one."""

    def __init__(
        self,
        status: int,
        code: str | None,
        detail: str | None,
        request: RequestInfo | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, code, detail, request)
        self.retry_after = retry_after


class DodoTransportError(DodoError):
    """The request got no usable answer: the connection failed, was refused or dropped."""

    def _outcome_unknown(self) -> bool:
        return self.operation is not None and self.operation.writes


class DodoTimeout(DodoTransportError):
    """No answer in time: the per-call deadline passed, or one request timed out."""


class ScanTimeout(DodoTimeout):
    """A scan of pages got not even its first page within its share of the deadline."""


class DodoResponseError(DodoError):
    """Dodo answered with a success status but a body that is not the documented shape."""

    def _outcome_unknown(self) -> bool:
        # It answered success, but not what: a write may or may not have been taken.
        return self.operation is not None and self.operation.writes


_HTML_MARKERS = (b"<!doctype", b"<html", b"<head", b"<body")
_STATUS_ERRORS: dict[int, type[DodoAPIError]] = {401: AuthenticationError, 404: NotFoundError}


def read_error_body(body: bytes) -> tuple[str | None, str | None]:
    """Dodo's `code` and `message` from an error body, tolerating empty, non-JSON and HTML bodies."""
    stripped = body.strip()
    if not stripped:
        return None, None
    if stripped[:20].lower().startswith(_HTML_MARKERS):
        return None, "the server sent an HTML page instead of a JSON error (often a proxy or gateway error)"
    try:
        data = json.loads(stripped)
    except (ValueError, RecursionError):
        return None, _clean(stripped.decode("utf-8", "replace"))
    if isinstance(data, dict):
        code = data.get("code")
        message = data.get("message") or data.get("error") or data.get("detail")
        return (
            _clean(str(code)) if code is not None else None,
            _clean(message if isinstance(message, str) else json.dumps(message)) if message is not None else None,
        )
    return None, _clean(json.dumps(data))


def _clean(text: str, limit: int = 300) -> str:
    # Upstream text reaches the agent: one line, no control characters, bounded.
    text = " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def api_error(status: int, body: bytes, request: RequestInfo, retry_after: float | None = None) -> DodoAPIError:
    """The exception for an error status: its class by status, Dodo's code and message from the body."""
    code, detail = read_error_body(body)
    if status == 429:
        return RateLimitError(status, code, detail, request, retry_after)
    return _STATUS_ERRORS.get(status, DodoAPIError)(status, code, detail, request)
