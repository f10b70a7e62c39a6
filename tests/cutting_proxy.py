"""An HTTP proxy on 127.0.0.1 that cuts the SSE stream of every tools/call after its first event.

It stands for what dodo-mcp's users put in front of it (a proxy that ends idle streams, a flaky
network): everything else passes through untouched, so the client's reconnect (GET with
Last-Event-ID) reaches the server. It records what went through, to assert on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx2
from starlette.types import Receive, Scope, Send

# Hop-by-hop and framing headers: the proxy frames its own answer.
_NOT_FORWARDED = {b"host", b"content-length", b"transfer-encoding", b"connection"}


@dataclass(frozen=True)
class Passed:
    """One request that went through, and whether its answer was cut."""

    method: str
    last_event_id: str | None
    rpc_id: Any
    rpc_method: str | None
    cut: bool
    # The ids of the SSE events the client got on this response (a priming event has empty data).
    event_ids: tuple[str, ...]


class CuttingProxy:
    """ASGI app: forward to `upstream`; end each tools/call's SSE answer right after its first event."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.passed: list[Passed] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        rpc = json.loads(body) if body.startswith(b"{") else {}
        cut = scope["method"] == "POST" and rpc.get("method") == "tools/call"
        headers = [(name, value) for name, value in scope["headers"] if name not in _NOT_FORWARDED]
        sent = b""
        async with (
            httpx2.AsyncClient(timeout=30) as http,
            http.stream(scope["method"], self.upstream + scope["path"], headers=headers, content=body) as answer,
        ):
            forwarded = [
                (k.encode(), v.encode()) for k, v in answer.headers.items() if k.encode() not in _NOT_FORWARDED
            ]
            await send({"type": "http.response.start", "status": answer.status_code, "headers": forwarded})
            async for chunk in answer.aiter_raw():
                if cut:
                    # Up to the end of the first event, then the stream ends: the client saw the priming event only.
                    chunk = (sent + chunk).replace(b"\r\n", b"\n")
                    end = chunk.find(b"\n\n")
                    if end < 0:
                        sent = chunk
                        continue
                    sent = chunk[: end + 2]
                    await send({"type": "http.response.body", "body": sent, "more_body": True})
                    break
                sent += chunk
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        event_ids = tuple(
            line[3:].strip() for line in sent.decode().replace("\r\n", "\n").splitlines() if line.startswith("id:")
        )
        last_event_id = dict(scope["headers"]).get(b"last-event-id")
        self.passed.append(
            Passed(
                scope["method"],
                last_event_id.decode() if last_event_id else None,
                rpc.get("id"),
                rpc.get("method"),
                cut,
                event_ids,
            )
        )
