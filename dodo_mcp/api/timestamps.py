"""RFC 3339 date-times as Dodo takes them, and the window an ingested timestamp must fall in."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from dodo_mcp.api.limits import MAX_TIMESTAMP_AGE, MAX_TIMESTAMP_LEAD

# A full date, a time and a mandatory offset ("Z" or ±hh:mm).
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
# RFC3339 with ASCII digits only, as a pydantic-core pattern (narrower than \d: other digits take
# the reference path of fast_events).
RFC3339_ASCII = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 date-time into an aware datetime, or raise ValueError."""
    if not RFC3339.match(value):
        raise ValueError(f"{value[:40]!r} is not an RFC 3339 date-time; use a form like 2026-01-15T10:30:00Z")
    try:
        return parse_rfc3339_shaped(value)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not a valid date-time (check the day and time)") from None


def parse_rfc3339_shaped(value: str) -> datetime:
    """datetime.fromisoformat of a string with RFC3339's shape, normalised for it (ValueError if no such moment).

    fromisoformat on 3.10 accepts neither "Z" nor more than 6 fractional digits, so the separator
    becomes "T", a Z "+00:00" and the fraction is cut to microseconds. In a string of that shape only
    those three can need it, and each sits at a known place: after the Z normalisation the string is
    19 characters of date and time, an optional "." and digits, then a 6-character offset.
    """
    text = value
    if text[10] != "T":
        text = f"{text[:10]}T{text[11:]}"
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    if len(text) > 32:  # 19 + "." + 6 digits + 6: more than microseconds
        text = text[:26] + text[-6:]
    return datetime.fromisoformat(text)


def end_not_before_start(start: str | None, end: str | None, start_name: str = "start") -> None:
    """Raise ValueError when both are given and `end` is earlier than `start` (the field named `start_name`)."""
    if end is not None and start is not None and parse_rfc3339(end) < parse_rfc3339(start):
        raise ValueError(f"must not be before {start_name} ({start})")


def in_ingest_window(moment: datetime, now: datetime) -> bool:
    return now - MAX_TIMESTAMP_AGE <= moment <= now + MAX_TIMESTAMP_LEAD


def check_timestamp_window(moment: datetime, now: datetime) -> None:
    """Raise ValueError unless `moment` lies within Dodo's accepted ingest window around `now`."""
    if moment < now - MAX_TIMESTAMP_AGE:
        raise ValueError(
            f"is more than 1 hour in the past (now is {format_timestamp(now)}); Dodo rejects it. "
            "Send a recent timestamp or omit it to use the current time"
        )
    if moment > now + MAX_TIMESTAMP_LEAD:
        raise ValueError(f"is more than 5 minutes in the future (now is {format_timestamp(now)}); Dodo rejects it")


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a Z suffix."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
