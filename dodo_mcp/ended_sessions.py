"""A request for a Streamable HTTP session that no longer exists is told what happened and what to do.

The SDK answers such a request 404 "Session not found", which reads like a wrong id. After a rolling
restart, an idle timeout or a DELETE, the id was right and the session is over: the client has to
initialize a new one and send its request again. The status (404, which the spec asks for and
clients act on) and the error code stay the SDK's; only the message says so. A caller asking for a
session another caller opened gets the same answer, as the SDK intends: nothing tells it the session exists.
"""

from __future__ import annotations

import json

from mcp_types import INVALID_REQUEST
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_ENDED = (
    "Session not found: there is no such session here (it may have ended: the server restarted, it was idle "
    "too long, or it was closed). Initialize a new session and send the request again."
)
_SESSION_HEADER = b"mcp-session-id"


class EndedSessions:
    """Rewrite the message of a 404 to a request that named a session on one of `paths`."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...]) -> None:
        self.app = app
        self._paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self._paths:
            await self.app(scope, receive, send)
            return
        if not any(name == _SESSION_HEADER for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = b""

        async def rewriting(message: Message) -> None:
            nonlocal held, body
            if message["type"] == "http.response.start" and message["status"] == 404:
                held = message
                return
            if held is None:
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body"):
                return
            answer = _ended(body)
            headers = [(k, v) for k, v in held["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(answer)).encode()))
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": answer})

        await self.app(scope, receive, rewriting)


def _ended(body: bytes) -> bytes:
    """The SDK's JSON-RPC error with our message; any other body is left as it was."""
    try:
        message = json.loads(body)
    except ValueError:
        return body
    error = message.get("error") if isinstance(message, dict) else None
    if not isinstance(error, dict) or error.get("message") != "Session not found":
        return body
    return json.dumps({**message, "error": {**error, "message": SESSION_ENDED}}).encode()


async def answer_session_ended(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer as the SDK does for a session that is gone (404), with our words: for a session ending now."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": SESSION_ENDED}}
    await JSONResponse(body, status_code=404)(scope, receive, send)
