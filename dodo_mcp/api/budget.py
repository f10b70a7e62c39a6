"""One client-side request budget under Dodo's rate limit, shared by everything that pages.

Dodo allows REQUESTS_PER_MINUTE requests a minute per key. A scan that pages (over events or meters)
takes at most half of what the trailing minute has left, so one call can't starve the next: a second
scan in the same minute gets half of the rest, and single requests still get through.
Every request (retries included) is counted, per key.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


def key_digest(key: str) -> str:
    """A short digest that tells keys apart, for what is kept per key: no key is kept in the clear."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class RequestBudget:
    """Requests made in the trailing minute, per key, and what a scan may still spend."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    def record(self, key: str) -> None:
        """One request sent with `key`."""
        self._window(key).append(self._clock())

    def remaining(self, key: str) -> int:
        """Requests `key` may still make in the trailing minute."""
        return max(self.per_minute - len(self._window(key)), 0)

    def share(self, key: str, most: int) -> int:
        """How many pages a scan may request now: half of what remains (at least 1, at most `most`)."""
        return max(1, min(most, self.remaining(key) // 2))

    def _window(self, key: str) -> deque[float]:
        sent = self._sent.setdefault(key_digest(key), deque())
        horizon = self._clock() - WINDOW_S
        while sent and sent[0] <= horizon:
            sent.popleft()
        return sent
