"""A constant-cost stand-in for the Dodo API on 127.0.0.1, for measuring each MCP server's own cost.

    python bench/constant_backend.py [--port 0]     # prints "listening on http://127.0.0.1:PORT" on stderr

The sandbox (`dodo-mcp sandbox serve`) answers from SQLite, so its cost varies with the query and the
database; this backend answers every request from bytes prepared at start-up, so a call costs the
backend the same whichever server sends it and the difference between servers is their own:

- GET /events?...          -> {"items": [10 events]} (the same page whatever the query);
- GET /events/{event_id}   -> that event (the id echoed, every other field fixed);
- POST /events/ingest      -> {"ingested_count": N}, N the number of "event_id" keys in the body (a byte
                              count, not a parse: the body is read, never decoded);
- anything else            -> 404 with a Dodo-shaped error body.

HTTP/1.1 with keep-alive on one asyncio loop; TCP_NODELAY on every accepted connection, so a small
response is never held back by Nagle's algorithm waiting for the client's delayed ACK.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
from typing import Any

EVENT_FIELDS: dict[str, Any] = {
    "business_id": "bus_bench",
    "customer_id": "cus_3",
    "event_name": "api_request",
    "timestamp": "2026-01-01T00:00:00Z",
    "metadata": {"tokens_used": 103, "model": "small", "region": "eu-west-1", "cached": False},
}


def event(event_id: str) -> dict[str, Any]:
    return {**EVENT_FIELDS, "event_id": event_id}


def response(status: int, reason: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("ascii") + body


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


PAGE = response(200, "OK", dumps({"items": [event(f"evt_{n:05d}") for n in range(10)]}))
NOT_FOUND = response(404, "Not Found", dumps({"code": "NOT_FOUND", "message": "no such route on the bench backend"}))
# The event body around its id, so GET /events/{id} costs one concatenation.
_EVENT_PREFIX, _EVENT_SUFFIX = dumps(event("<id>")).split(b"<id>")


def answer(method: bytes, target: bytes, body: bytes) -> bytes:
    path = target.split(b"?", 1)[0]
    if method == b"GET" and path == b"/events":
        return PAGE
    if method == b"GET" and path.startswith(b"/events/") and path.count(b"/") == 2:
        # Ids in the bench are URL-safe and JSON-safe, so the id needs neither unquoting nor escaping.
        return response(200, "OK", _EVENT_PREFIX + path[len(b"/events/") :] + _EVENT_SUFFIX)
    if method == b"POST" and path == b"/events/ingest":
        return response(200, "OK", b'{"ingested_count":%d}' % body.count(b'"event_id"'))
    return NOT_FOUND


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request_line, *header_lines = head.split(b"\r\n")
            method, target, _ = request_line.split(b" ", 2)
            length = 0
            for line in header_lines:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            writer.write(answer(method, target, body))
            await writer.drain()
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve_connection, "127.0.0.1", port, limit=16 * 1024 * 1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"bench constant backend listening on http://127.0.0.1:{bound}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().port))
