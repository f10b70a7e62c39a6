"""Fault injection for the sandbox: make it fail the way a real service does, on purpose.

Wraps the sandbox's ASGI app. Each request, with probability `rate`, suffers one
of the chosen kinds of fault (seeded, so a run can be repeated):

    503              answer 503 without touching the store
    429              answer 429 with a short retry-after-ms
    reset            start a response and drop the connection mid-body
    slow             answer correctly, but only after `slow_s` seconds
    commit-then-503  let the request commit, then answer 503 anyway

`commit-then-503` is the fault that makes retries dangerous for APIs without
idempotency keys; ingest survives it because Dodo deduplicates by event_id.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FAULT_KINDS = ("503", "429", "reset", "slow", "commit-then-503")
DEFAULT_SLOW_S = 2.0
RETRY_AFTER_MS = "50"


class FaultInjector:
    """ASGI middleware that injects faults into a share of HTTP requests."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        kinds: Sequence[str] = FAULT_KINDS,
        seed: int | None = None,
        slow_s: float = DEFAULT_SLOW_S,
    ) -> None:
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; choose from {', '.join(FAULT_KINDS)}")
        if not 0 <= rate <= 1:
            raise ValueError(f"the fault rate must be between 0 and 1, not {rate}")
        self.app = app
        self.rate = rate
        self.kinds = tuple(kinds)
        self.slow_s = slow_s
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def _draw(self) -> str | None:
        with self._lock:
            if not self.kinds or self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            self.injected[kind] += 1
            return kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Housekeeping routes stay reliable so tests can inspect the store.
        if scope["type"] != "http" or scope["path"].startswith("/sandbox/"):
            await self.app(scope, receive, send)
            return
        kind = self._draw()
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "503":
            await _answer(send, 503, {"code": "SERVICE_UNAVAILABLE", "message": "Injected fault"})
        elif kind == "429":
            await _answer(
                send,
                429,
                {"code": "TOO_MANY_REQUESTS", "message": "Injected fault"},
                [(b"retry-after-ms", RETRY_AFTER_MS.encode())],
            )
        elif kind == "reset":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b'{"items": [', "more_body": True})
            # Raising mid-body makes the server drop the connection: the client sees a truncated answer.
            raise ConnectionResetError("injected fault: connection dropped mid-response")
        elif kind == "slow":
            await asyncio.sleep(self.slow_s)
            await self.app(scope, receive, send)
        else:  # commit-then-503
            await self.app(scope, receive, _discard)
            await _answer(send, 503, {"code": "SERVICE_UNAVAILABLE", "message": "Injected fault after commit"})


async def _discard(message: Message) -> None:
    return None


async def _answer(send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": payload})
