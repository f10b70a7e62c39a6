"""The exception family, each with a message an agent can act on.

    DodoError                      anything that stopped a call
    ├── ConfigurationError         the server is missing a setting (e.g. the API key)
    ├── InvalidArgumentsError      the call's arguments break a rule; nothing was sent
    ├── DodoAPIError               Dodo answered with an error status
    │   ├── AuthenticationError        401
    │   ├── NotFoundError              404
    │   └── RateLimitError             429
    ├── DodoTransportError         no usable answer: connection failed or dropped
    │   └── DodoTimeout                the per-call deadline passed
    └── DodoResponseError          Dodo answered 2xx with a body we cannot read

`str(error)` is the whole text an agent sees: what happened, then what to do.
Nothing here ever holds the API key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dodo_mcp.retry import retry_after_seconds


class DodoError(Exception):
    """Base class: `message` says what happened, `hint` what to do next."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Requests made before giving up, when the error came from talking to Dodo.
        self.attempts = 0

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ConfigurationError(DodoError):
    """The server cannot make the call until its operator changes a setting."""


class InvalidArgumentsError(DodoError):
    """The tool's arguments break a documented rule. Nothing was sent to Dodo."""

    def __init__(self, problems: list[str], hint: str, total: int | None = None) -> None:
        self.problems = problems
        lines = "\n".join(f"- {problem}" for problem in problems)
        total = len(problems) if total is None else total
        count = f"{total} problem{'s' if total != 1 else ''}"
        super().__init__(f"Invalid arguments ({count}):\n{lines}", hint)

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}"


class DodoAPIError(DodoError):
    """Dodo answered with an error status. `code` and `detail` are Dodo's own, when it sent them."""

    def __init__(self, status: int, code: str | None, detail: str | None, hint: str = "") -> None:
        self.status = status
        self.code = code
        self.detail = detail
        parts = [f"Dodo API error {status}"]
        if code:
            parts.append(f" {code}")
        if detail:
            parts.append(f": {detail}")
        super().__init__("".join(parts) + ".", hint)


class AuthenticationError(DodoAPIError):
    """401: the key is missing, wrong, revoked, or belongs to the other environment."""


class NotFoundError(DodoAPIError):
    """404: no such event or meter."""


class RateLimitError(DodoAPIError):
    """429: over Dodo's rate limit (100 requests a minute per key)."""

    def __init__(
        self, status: int, code: str | None, detail: str | None, hint: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(status, code, detail, hint)
        self.retry_after = retry_after


class DodoTransportError(DodoError):
    """The request got no usable answer: the connection failed, was refused or dropped."""


class DodoTimeout(DodoTransportError):
    """The per-call deadline passed before Dodo answered."""


class DodoResponseError(DodoError):
    """Dodo answered with a success status but a body that is not the documented shape."""


_HTML_MARKERS = (b"<!doctype", b"<html", b"<head", b"<body")


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


def api_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    operation: str,
    environment: str,
    meter_id: str | None = None,
) -> DodoAPIError:
    """The exception for an error status, with the hint that fits the operation."""
    code, detail = read_error_body(body)
    other = "live_mode" if environment == "test_mode" else "test_mode"
    if status == 401:
        return AuthenticationError(
            status,
            code,
            detail,
            f"The API key was refused. Keys are per environment: this server uses {environment}, and a "
            f"{other} key answers 401 here. Ask the user to check DODO_PAYMENTS_API_KEY and "
            "DODO_PAYMENTS_ENVIRONMENT in the server's configuration; retrying will not help.",
        )
    if status == 403:
        return DodoAPIError(
            status, code, detail, "The API key is not allowed to do this. Ask the user to check the key's permissions."
        )
    if status == 404:
        if operation == "retrieve_event":
            hint = (
                f"No event with this event_id exists in {environment}. Event IDs are case-sensitive and must "
                "match exactly; check the id, or find it with list_events."
            )
        elif meter_id is not None:
            hint = (
                f"No meter with meter_id {meter_id!r} exists in {environment}. "
                "Check the id, or call again without meter_id."
            )
        else:
            hint = f"Dodo has no such resource in {environment}. Check the ids in the call."
        return NotFoundError(status, code, detail, hint)
    if status == 429:
        wait = retry_after_seconds(headers)
        when = f"about {wait:.0f} s" if wait is not None else "a minute"
        return RateLimitError(
            status,
            code,
            detail,
            f"Dodo's rate limit is 100 requests a minute per key. Wait {when} and call again"
            + (" with the same events (ingest is idempotent by event_id)." if operation == "ingest_events" else "."),
            retry_after=wait,
        )
    if status == 413:
        return DodoAPIError(status, code, detail, "The request was too large. Send fewer events per call.")
    if status in (400, 422):
        hint = "Dodo rejected the request. Fix what the message names and call again."
        if operation == "list_events" and meter_id is not None:
            hint = (
                "Dodo rejected the query. With meter_id, an event_name must equal the meter's own event_name "
                "(or be left out); also check start and end."
            )
        if operation == "ingest_events":
            hint += " Nothing from this request was stored."
        return DodoAPIError(status, code, detail, hint)
    if status >= 500:
        hint = "Dodo had a server error; it was retried within this call's deadline. Try again in a minute."
        if operation == "ingest_events":
            hint = (
                "Dodo had a server error; whether these events were stored is unconfirmed. It is safe to call "
                "ingest_events again with the same events: Dodo ignores event_ids it already has."
            )
        return DodoAPIError(status, code, detail, hint)
    return DodoAPIError(status, code, detail, "Check the call's arguments and try again.")
