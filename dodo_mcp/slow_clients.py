"""A deadline for each request's head, which uvicorn does not have.

uvicorn times out an idle keep-alive connection, but not one that is still sending its request line
and headers: a client that sends a byte every few seconds (slowloris), or connects and sends nothing,
keeps its connection, and its file descriptor, forever. This is uvicorn's own httptools protocol with a
timer from the first byte of each request (or the connection's opening) until its head is read; a
head that has not arrived by then has its connection closed.
"""

from __future__ import annotations

import asyncio


def head_deadline_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, closing a connection whose request head takes longer than `timeout_s`.

    httptools (llhttp, C) rather than uvicorn's h11 protocol: uvicorn's own choice when httptools is
    installed, and a few percent less server CPU per stateless Streamable HTTP call."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeadDeadline(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._head_timer: asyncio.TimerHandle | None = None
            super().connection_made(transport)
            self._arm()

        # The parser's callbacks: the first byte of a request, and the end of its head.

        def on_message_begin(self) -> None:
            if self._head_timer is None:
                self._arm()  # the next request on a kept-alive connection
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

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
