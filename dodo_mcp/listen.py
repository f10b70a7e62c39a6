"""Bind a listening TCP socket before serving, so a busy port is a one-line error, not a traceback."""

from __future__ import annotations

import socket


class ListenError(OSError):
    """The socket could not be bound; the text is the one-line reason for the operator."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn's `sockets=`.

    Created with proto=IPPROTO_TCP on purpose: asyncio sets TCP_NODELAY only on such sockets, and
    without it every response waits ~40 ms for a delayed ACK (Nagle).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None
    # Listening from here on: a client that connects before the server loop starts waits in the backlog
    # instead of being refused.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
