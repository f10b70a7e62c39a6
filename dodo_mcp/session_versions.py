"""A stateful session's requests are served in the protocol version the session negotiated.

The SDK decides per request, from its MCP-Protocol-Version header, whether the client can resume a
stream: only from 2025-11-25 does a POST's SSE answer start with a priming event (an id, empty data,
`retry`), since older clients cannot parse it. A client that negotiated 2025-11-25 at initialize but
sends an older header, or none (the spec's default is then 2025-03-26), would get no priming event
and could not resume a cut stream. So the version a session's initialize answer named (read from
that answer as it goes by) is the one its requests carry on to the SDK, when their header names an
older one or none. A newer header, or one that is not a version, is left alone: the SDK answers it as it does.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"
_NEGOTIATED = re.compile(rb'"protocolVersion"\s*:\s*"(\d{4}-\d{2}-\d{2})"')
# Only a version-shaped header is compared; anything else is the SDK's to refuse (400).
_DATE = re.compile(rb"\d{4}-\d{2}-\d{2}")
# An initialize answer is small; the version is read from its first bytes only.
_READ_AT_MOST = 64 * 1024


class SessionVersions:
    """Remember each session's negotiated version; give it to that session's requests with an older header."""

    def __init__(self, app: ASGIApp, path: str, max_sessions: int) -> None:
        self.app = app
        self._path = path
        # Bounded like the sessions themselves: the oldest are forgotten first.
        self._max = max_sessions
        self._versions: OrderedDict[bytes, bytes] = OrderedDict()

    def version_of(self, session_id: bytes) -> bytes | None:
        return self._versions.get(session_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self._path or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        session_id = headers.get(_SESSION_HEADER)
        if session_id is None:
            await self.app(scope, receive, self._reading_the_answer(send))
            return
        negotiated = self._versions.get(session_id)
        sent = headers.get(_VERSION_HEADER)
        if negotiated is not None and (sent is None or (_DATE.fullmatch(sent) is not None and sent < negotiated)):
            kept = [(name, value) for name, value in scope["headers"] if name != _VERSION_HEADER]
            scope = {**scope, "headers": [*kept, (_VERSION_HEADER, negotiated)]}
        await self.app(scope, receive, send)

    def _reading_the_answer(self, send: Send) -> Send:
        """`send`, noting the session id and the protocol version of an answer that opened a session."""
        session_id: bytes | None = None
        read = b""

        async def reading(message: Message) -> None:
            nonlocal session_id, read
            if message["type"] == "http.response.start" and message["status"] == 200:
                session_id = next((v for k, v in message.get("headers", []) if k.lower() == _SESSION_HEADER), None)
            elif message["type"] == "http.response.body" and session_id is not None and len(read) < _READ_AT_MOST:
                read += message.get("body", b"")
                found = _NEGOTIATED.search(read)
                if found:
                    self._remember(session_id, found.group(1))
                    read = b"\0" * _READ_AT_MOST  # done: read no further
            await send(message)

        return reading

    def _remember(self, session_id: bytes, version: bytes) -> None:
        self._versions[session_id] = version
        while len(self._versions) > self._max:
            self._versions.popitem(last=False)
