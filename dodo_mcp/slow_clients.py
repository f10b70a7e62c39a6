"""A deadline for each request's head, which uvicorn does not have.

uvicorn times out an idle keep-alive connection, but not one that is still sending its request line
and headers: a client that sends a byte every few seconds (slowloris), or connects and sends nothing,
keeps its connection, and its file descriptor, forever. This is uvicorn's own h11 protocol with a
timer from the first byte of each request (or the connection's opening) until its head is read; a
head that has not arrived by then has its connection closed.
"""

from __future__ import annotations

import asyncio
from typing import Any


def head_deadline_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request head takes longer than `timeout_s`."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadDeadline(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_timer: asyncio.TimerHandle | None = None
            self._served_cycle: Any = None
            self._awaiting_head = True
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._awaiting_head and self._head_timer is None:
                self._arm()  # the first byte of the next request on a kept-alive connection
            super().data_received(data)

        def handle_events(self) -> None:
            super().handle_events()
            if self._awaiting_head and self.cycle is not None and self.cycle is not self._served_cycle:
                self._awaiting_head = False  # a new request's head was read
                self._disarm()

        def on_response_complete(self) -> None:
            self._served_cycle, self._awaiting_head = self.cycle, True
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._head_timer = self.loop.call_later(timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _too_slow(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeadDeadline
