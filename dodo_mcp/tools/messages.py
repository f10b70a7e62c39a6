"""The words an agent reads when a call failed: what happened (the error's own facts), then what to do next.

The API layer raises facts: the status, Dodo's code and message, the operation, whether a write is
unconfirmed, when to retry. This module is the one place that turns them into advice, so every
hint is written once and the API layer names no tool and no setting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dodo_mcp.api.errors import (
    ConfigurationError,
    DodoAPIError,
    DodoError,
    DodoResponseError,
    DodoTransportError,
    NotFoundError,
    Operation,
    RateLimitError,
    ScanTimeout,
)
from dodo_mcp.api.limits import REQUESTS_PER_MINUTE
from dodo_mcp.api.notices import RetryNotice
from dodo_mcp.config import API_KEY_ENV, BASE_URL_ENV, ENVIRONMENT_ENV, LIVE_INGEST_CONFIRMATION_ENV

if TYPE_CHECKING:
    # For an annotation only: the scans' module brings DodoClient and the models, and the handshake's
    # instructions (server.py) read IDEMPOTENT from here.
    from dodo_mcp.api.paging import ScanStop

# Why re-sending events is always safe; every hint that says so says it in these words.
IDEMPOTENT = "Dodo ignores event_ids it already has"
UNCONFIRMED_INGEST = (
    "Whether these events were stored is unconfirmed. It is safe to call ingest_events again with the same "
    f"events: {IDEMPOTENT}, so nothing is double-counted."
)
_RETRY_SOON = "Try the call again in a few seconds."
_REJECTED = "Dodo rejected the request. Fix what the message names and call again."
_FIXED_HINTS = {
    403: "The API key is not allowed to do this. Ask the user to check the key's permissions.",
    413: "The request was too large. Send fewer events per call.",
}


def error_text(error: DodoError) -> str:
    """The whole text for a failed call: the error's message, then the hint that fits it."""
    if isinstance(error, ConfigurationError):
        return missing_key_text(error.environment)
    return f"{error.message} {hint(error)}"


def hint(error: DodoError) -> str:
    """What to do about `error`, in one or two sentences."""
    if error.retry_in is not None:
        return _not_retried(error, error.retry_in)
    if isinstance(error, DodoAPIError):
        return _status_hint(error)
    if isinstance(error, ScanTimeout):
        return "Try again in a minute, or narrow the query."
    if isinstance(error, DodoTransportError):
        return UNCONFIRMED_INGEST if error.unconfirmed else _RETRY_SOON
    if isinstance(error, DodoResponseError):
        return (
            "This is a problem on Dodo's side or in the base URL setting, not in your call. "
            f"Try again in a minute; if it persists, check {BASE_URL_ENV}."
        )
    return _RETRY_SOON


def missing_key_text(environment: str) -> str:
    return (
        f"The server has no Dodo API key: {API_KEY_ENV} is not set. Ask the user to set {API_KEY_ENV} in this MCP "
        f"server's configuration (a {environment} key from the Dodo dashboard, Developer > API Keys), or to start "
        "the server with --sandbox to try it without an account. Retrying will not help until then."
    )


def _not_retried(error: DodoError, wait: float) -> str:
    deadline = error.request.deadline_s if error.request is not None else 0
    text = (
        f"Not retried: the next try was due in {wait:.1f} s, past this call's {deadline:g} s deadline. "
        f"Wait about {max(wait, 1):.0f} s and call again."
    )
    return f"{text} {UNCONFIRMED_INGEST}" if error.unconfirmed else text


def _status_hint(error: DodoAPIError) -> str:
    fixed = _FIXED_HINTS.get(error.status)
    if fixed is not None:
        return fixed
    for matches, words in _STATUS_HINTS:
        if matches(error):
            return words(error)
    return "Check the call's arguments and try again."


def _is_ingest(error: DodoError) -> bool:
    return error.operation is Operation.INGEST_EVENTS


def _environment(error: DodoError) -> str:
    return error.request.environment if error.request is not None else "this environment"


def _unauthorized(error: DodoAPIError) -> str:
    environment = _environment(error)
    other = "live_mode" if environment == "test_mode" else "test_mode"
    return (
        f"The API key was refused. Keys are per environment: this server uses {environment}, and a {other} key "
        f"answers 401 here. Ask the user to check {API_KEY_ENV} and {ENVIRONMENT_ENV} in the server's "
        "configuration; retrying will not help."
    )


def _not_found(error: DodoAPIError) -> str:
    environment = _environment(error)
    missing = error.missing if isinstance(error, NotFoundError) else None
    meter_id = error.request.meter_id if error.request is not None else None
    if missing == "event":
        return (
            f"No event with this event_id exists in {environment}. Event IDs are case-sensitive and must match "
            "exactly; check the id, or find it with list_events."
        )
    if missing == "meter" and error.operation is Operation.RETRIEVE_METER:
        return (
            f"No meter with meter_id {meter_id!r} exists in {environment}. Meter ids are case-sensitive: check the "
            "id in the Dodo dashboard (Meters), and that the key's environment is the meter's."
        )
    if missing == "subscription":
        subscription_id = error.request.subscription_id if error.request is not None else None
        return (
            f"No subscription with subscription_id {subscription_id!r} exists in {environment}. Subscription ids are "
            "case-sensitive: check the id in the Dodo dashboard (Subscriptions), and that the key's environment is "
            "the subscription's."
        )
    if missing == "meter":
        return f"No meter with meter_id {meter_id!r} exists in {environment}. Check the id, or call again without meter_id."
    return f"Dodo has no such resource in {environment}. Check the ids in the call."


def _rate_limited(error: DodoAPIError) -> str:
    wait = error.retry_after if isinstance(error, RateLimitError) else None
    when = f"about {wait:.0f} s" if wait is not None else "a minute"
    again = " with the same events (ingest is idempotent by event_id)." if _is_ingest(error) else "."
    return f"Dodo's rate limit is {REQUESTS_PER_MINUTE} requests a minute per key. Wait {when} and call again{again}"


def _rejected(error: DodoAPIError) -> str:
    if error.operation is Operation.LIST_EVENTS and error.request is not None and error.request.meter_id:
        return (
            "Dodo rejected the query. With meter_id, an event_name must equal the meter's own event_name "
            "(or be left out); also check start and end."
        )
    if not _is_ingest(error):
        return _REJECTED
    return (
        f"{_REJECTED} {UNCONFIRMED_INGEST}"
        if error.unconfirmed
        else f"{_REJECTED} Nothing from this request was stored."
    )


def _server_error(error: DodoAPIError) -> str:
    if error.unconfirmed:
        return (
            "Dodo had a server error; whether these events were stored is unconfirmed. It is safe to call "
            f"ingest_events again with the same events: {IDEMPOTENT}."
        )
    return "Dodo had a server error; it was retried within this call's deadline. Try again in a minute."


_STATUS_HINTS: tuple[tuple[Callable[[DodoAPIError], bool], Callable[[DodoAPIError], str]], ...] = (
    (lambda error: error.status == 401, _unauthorized),
    (lambda error: error.status == 404, _not_found),
    (lambda error: error.status == 429, _rate_limited),
    (lambda error: error.status in (400, 422), _rejected),
    (lambda error: error.status >= 500, _server_error),
)


def stop_reason(stop: ScanStop) -> str:
    """Why a scan ended early, as the rest of "the scan stopped because ..."."""
    if stop.reason == "page_limit":
        return f"it reached the limit of {stop.page_number} pages per call (Dodo allows {REQUESTS_PER_MINUTE} requests a minute)"
    if stop.reason == "request_budget":
        return (
            f"it used its share ({stop.page_number} pages) of the requests Dodo's rate limit leaves this minute "
            f"({REQUESTS_PER_MINUTE} a minute, shared by every call)"
        )
    if stop.reason == "time_limit":
        return "it reached this call's time limit"
    assert stop.error is not None
    return f"page {stop.page_number} failed: {stop.error.message}"


# What the client hears while a call runs (MCP log notifications), and the words of the live-ingest confirmation.


def retry_notice(notice: RetryNotice) -> str:
    """A retry about to happen, for the client's log: which request, which attempt, why, and how long the wait."""
    operation, wait = notice.operation.value, _seconds(notice.wait_s)
    attempt = f"attempt {notice.attempt} of {notice.attempts}"
    if isinstance(notice.error, RateLimitError) and notice.asked_by_dodo:
        return f"{operation} hit Dodo's rate limit (429, {attempt}): waiting {wait} s, as Dodo's Retry-After asks, then retrying."
    asked = ", as Dodo's Retry-After asks" if notice.asked_by_dodo else ""
    return f"{operation} failed ({attempt}: {notice.error.message.rstrip('.')}); retrying in {wait} s{asked}."


def unconfirmed_batch_notice(number: int, batches: int, first_index: int, count: int, error: DodoError) -> str:
    """One ingest batch Dodo never confirmed, for the client's log: which events, and why."""
    attempts = f"{error.attempts} attempt{'s' if error.attempts != 1 else ''}"
    return (
        f"ingest_events batch {number} of {batches}, events[{first_index}..{first_index + count - 1}] "
        f"({count} event{'s' if count != 1 else ''}), was not confirmed after {attempts}: {error.message}"
    )


def _seconds(seconds: float) -> str:
    return f"{round(seconds, 2):g}"


def _live(base_url: str) -> str:
    return f"Dodo Payments live_mode at {base_url}"


def _events(count: int) -> str:
    return f"{count} usage event{'s' if count != 1 else ''}"


_NOTHING_SENT = "Nothing was sent, and no event from this call was recorded."


def live_ingest_question(events: int, customers: int, base_url: str) -> str:
    """What the user is asked before an ingest to Dodo's live host."""
    return (
        f"Send {_events(events)} for {customers} customer{'s' if customers != 1 else ''} to {_live(base_url)}? "
        "Live events count toward your customers' usage-based billing, and Dodo's API cannot delete them."
    )


def live_ingest_declined(events: int, base_url: str) -> str:
    return (
        f"The user declined to send these {_events(events)} to {_live(base_url)}. {_NOTHING_SENT} "
        "Do not send them again unless the user asks you to."
    )


def live_ingest_dismissed(events: int, base_url: str) -> str:
    return (
        f"The user dismissed the confirmation to send these {_events(events)} to {_live(base_url)} without "
        f"answering. {_NOTHING_SENT} Ask the user whether to send them before calling ingest_events again."
    )


def live_ingest_unconfirmable(events: int, base_url: str) -> str:
    """An ingest to the live host refused because confirmation is required and this client cannot ask."""
    return (
        f"Not sent: this server requires the user's confirmation before any ingest to {_live(base_url)} "
        f"(--live-ingest-confirmation required, or {LIVE_INGEST_CONFIRMATION_ENV}=required), and this client cannot "
        f"ask the user (it does not support MCP elicitation). {_NOTHING_SENT} To allow these "
        f"{_events(events)}, use a client that supports elicitation, or have the server's operator set "
        "--live-ingest-confirmation auto (ask only when the client can) or off (never ask)."
    )
