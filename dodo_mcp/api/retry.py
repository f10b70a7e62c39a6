"""When to retry a request to Dodo, and how long to wait first.

Pure functions of their inputs (status, headers, attempt, a random draw, the
clock), so the maths is tested with a table and no sleeping. The numbers follow
Dodo's own SDKs: retry connection errors, timeouts, 408, 409, 429 and 5xx;
back off min(0.5 * 2**n, 8) s less up to 25% jitter; honour Retry-After and
retry-after-ms when they ask for more than 0 and at most 60 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 409, 429})
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_CAP_S = 8.0
DEFAULT_JITTER = 0.25
# A server asking for a longer pause than this is ignored in favour of our own backoff.
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to back off between tries."""

    max_retries: int = 2
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_cap_s: float = DEFAULT_BACKOFF_CAP_S
    jitter: float = DEFAULT_JITTER

    def backoff(self, retry_number: int, draw: float) -> float:
        """Seconds to wait before retry `retry_number` (0-based), given a uniform draw in [0, 1)."""
        delay: float = min(self.backoff_base_s * 2.0**retry_number, self.backoff_cap_s)
        return delay * (1 - self.jitter * draw)

    def wait(self, retry_number: int, draw: float, headers: Mapping[str, str], now: datetime | None = None) -> float:
        """Seconds to wait: the server's Retry-After when it is sensible, else our backoff."""
        asked = retry_after_seconds(headers, now)
        return asked if asked is not None else self.backoff(retry_number, draw)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The pause the server asked for, if it is within (0, 60] s; otherwise None."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            seconds = float(raw_ms) / 1000
        except ValueError:
            seconds = None
        if seconds is not None and 0 < seconds <= MAX_RETRY_AFTER_S:
            return seconds
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if 0 < seconds <= MAX_RETRY_AFTER_S:
        return seconds
    return None
