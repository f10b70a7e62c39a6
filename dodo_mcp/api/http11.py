"""Http11Transport: httpx2's transport seam, served by asyncio and httptools' C parser.

Why: a request through httpx2's own transport (httpcore2's pool and h11, pure Python) costs about
400 µs of process CPU on loopback, the kernel's share of the socket calls included; through this one
about 250 µs, of which the Python and C work is the smaller part (an in-process loop against
bench/constant_backend.py; issue 15's closing note has the figures). Per tool call that was a third to
a half of the server's CPU. DodoClient builds the httpx2.Request and reads the httpx2.Response as
before, so every test transport and the sandbox's ASGI one work unchanged; only the bytes on the wire
go through here.

What it does, and no more, since it only ever talks to Dodo's API (or a base URL standing in for it):
- HTTP/1.1 to http and https origins, keep-alive connections pooled per origin (at most
  `max_keepalive` idle ones per origin, each for `keepalive_expiry` seconds), one request at a time
  on a connection;
- request bodies sent whole; responses read whole (Content-Length, chunked, or to the close);
- httpx2's timeouts (connect, and read as the wait for the whole answer) and httpx2's exceptions
  (ConnectError, ConnectTimeout, ReadTimeout, ReadError, WriteError, RemoteProtocolError,
  LocalProtocolError), so DodoClient maps failures exactly as before;
- no proxies: DodoClient keeps httpx2's own transport when the environment names one
  (`uses_proxy`), so HTTPS_PROXY and NO_PROXY behave as they always have.

asyncio only: anyio's asyncio backend is what dodo-mcp runs on.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import urllib.request
from collections import deque
from typing import cast

import httptools
import httpx2

DEFAULT_MAX_KEEPALIVE = 20
DEFAULT_KEEPALIVE_EXPIRY_S = 30.0
_UNSAFE_IN_HEAD = (b"\r", b"\n", b"\0")


def uses_proxy() -> bool:
    """Whether the environment names an HTTP(S) proxy, which httpx2's own transport then honours."""
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


class Http11Transport(httpx2.AsyncBaseTransport):
    """An httpx2 transport for HTTP/1.1 on asyncio, parsing answers with httptools (llhttp)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_keepalive: int = DEFAULT_MAX_KEEPALIVE,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY_S,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_keepalive = max_keepalive
        self._keepalive_expiry = keepalive_expiry
        # Idle connections per (scheme, host, port), the most recently used last.
        self._idle: dict[tuple[bytes, bytes, int], deque[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.raw_scheme == b"https" else 80))
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        head = _request_head(request)
        body = await request.aread()
        connection = self._reusable(origin) or await self._connect(origin, timeouts.get("connect"))
        try:
            answer = await connection.exchange(head + body, timeouts.get("read"))
        except BaseException:
            connection.close()
            raise
        if answer.keep_alive and not self._closed:
            self._release(origin, connection)
        else:
            connection.close()
        return httpx2.Response(
            answer.status,
            headers=answer.headers,
            stream=httpx2.ByteStream(answer.body),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason},
            request=request,
        )

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _reusable(self, origin: tuple[bytes, bytes, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            # The server may have closed it while it sat idle (its own keep-alive timeout): asyncio has
            # then already told the protocol, so a closed connection is never written to.
            if connection.usable and now - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.close()
        return None

    def _release(self, origin: tuple[bytes, bytes, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, deque())
        connection.idle_since = time.monotonic()
        idle.append(connection)
        while len(idle) > self._max_keepalive:
            idle.popleft().close()

    async def _connect(self, origin: tuple[bytes, bytes, int], timeout: float | None) -> _Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        secure = scheme == b"https"
        if secure and self._ssl_context is None:
            self._ssl_context = httpx2.create_ssl_context()
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(loop),
                    host,
                    port,
                    ssl=self._ssl_context if secure else None,
                    server_hostname=host if secure else None,
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            raise httpx2.ConnectTimeout(f"no connection to {host}:{port} within {timeout:g} s") from None
        except OSError as exc:  # ssl.SSLError included
            raise httpx2.ConnectError(_connect_failure(host, port, exc)) from exc
        return connection


def _connect_failure(host: str, port: int, exc: OSError) -> str:
    """Why a connection failed, in words (errno's, not Python's repr of the address)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {host} was not accepted ({exc.verify_message or exc.reason})"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake with {host} failed ({exc.reason or exc})"
    if isinstance(exc, socket.gaierror):
        return f"the host name {host} could not be resolved"
    if isinstance(exc, ConnectionRefusedError):
        return f"{host}:{port} refused the connection"
    return f"{host}:{port}: {exc.strerror or exc}"


def _request_head(request: httpx2.Request) -> bytes:
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        # A CR or LF would end the header and start another: refuse rather than send it.
        if any(bad in name or bad in value for bad in _UNSAFE_IN_HEAD):
            raise httpx2.LocalProtocolError(f"illegal character in the {name.decode('latin-1')!r} header")
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class _Answer:
    __slots__ = ("body", "headers", "keep_alive", "reason", "status")

    def __init__(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool):
        self.status, self.reason, self.headers, self.body, self.keep_alive = status, reason, headers, body, keep_alive


class _Connection(asyncio.Protocol):
    """One connection: asyncio's transport for the bytes, httptools' parser for each answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[_Answer] | None = None
        self._reset()
        self.usable = True
        self.idle_since = 0.0

    # asyncio's side.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: uvloop's transports are not asyncio.Transport subclasses.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # A request is one write: nothing for Nagle's algorithm to gain, a delayed ACK to lose.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes nobody asked for: the server is not speaking HTTP/1.1 as expected. Never reuse it.
            self.close()
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx2.RemoteProtocolError(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool | None:
        self._ended(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    # httptools' side (its callbacks, by name).

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._finish(self._parser.should_keep_alive())

    # The exchange.

    @property
    def _closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    async def exchange(self, request: bytes, timeout: float | None) -> _Answer:
        """Send the request, head and body in one write, and wait for its answer."""
        if self._closing or not self.usable:
            raise httpx2.WriteError("the connection closed before the request was sent")
        assert self._transport is not None
        self.usable = False  # until its answer is read in full
        self._reset()
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(timeout, self._time_out, timeout) if timeout is not None else None
        try:
            self._transport.write(request)
            answer: _Answer = await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None
        self.usable = answer.keep_alive
        return answer

    def close(self) -> None:
        self.usable = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def _reset(self) -> None:
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._headers_done = False
        self._framed = False
        self._received = False

    def _finish(self, keep_alive: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            status = self._parser.get_status_code()
            waiter.set_result(_Answer(status, self._reason, self._headers, b"".join(self._body), keep_alive))

    def _fail(self, error: Exception) -> None:
        self.close()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _time_out(self, timeout: float) -> None:
        self._fail(httpx2.ReadTimeout(f"no complete answer within {timeout:g} s"))

    def _ended(self, exc: Exception | None) -> None:
        self.usable = False
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._framed:
            # No Content-Length and not chunked: the body runs to the close, which this is.
            self._finish(False)
        elif not self._received:
            self._fail(httpx2.RemoteProtocolError("Server disconnected without sending a response."))
        else:
            why = f": {exc}" if exc else ""
            self._fail(httpx2.ReadError(f"the connection closed in the middle of the answer{why}"))

    def __repr__(self) -> str:  # pragma: no cover - for debugging
        return f"<_Connection usable={self.usable} closing={self._closing}>"
