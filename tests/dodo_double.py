"""A small test double of Dodo's usage-events API, served over real HTTP on 127.0.0.1.

It records every request exactly as it arrived (method, raw path, query,
headers, body) and answers from a script: a queue of canned responses, falling
back to plausible defaults. Tests assert on what dodo-mcp actually put on the wire.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

EVENT = {
    "business_id": "bus_double",
    "customer_id": "cus_1",
    "event_id": "evt_1",
    "event_name": "api_request",
    "timestamp": "2026-01-15T10:30:00Z",
    "metadata": {"tokens": 150, "model": "small", "cached": False, "cost": 0.25},
}


@dataclass
class Recorded:
    method: str
    raw_path: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    # The TCP port the request came from: one keep-alive connection keeps one port.
    client_port: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # Close the connection without answering, as a dropped connection does.
    drop: bool = False


class DodoDouble:
    """Start with `with DodoDouble() as dodo:`; `dodo.url` is its base URL."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    raw_path=split.path,
                    path=split.path,
                    query=parse_qsl(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    client_port=self.client_address[1],
                )
                with double._lock:
                    double.requests.append(recorded)
                    reply = double.replies.popleft() if double.replies else double.default_reply(recorded)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = reply.body
                content_type = "application/json"
                if isinstance(payload, dict | list):
                    payload = json.dumps(payload).encode()
                elif isinstance(payload, str):
                    payload = payload.encode()
                    content_type = "text/html; charset=utf-8"
                # A careless upstream echoes credentials: "{authorization}" in a body becomes the header sent.
                payload = payload.replace(b"{authorization}", self.headers.get("Authorization", "").encode())
                self.send_response(reply.status)
                headers = {"Content-Type": content_type, **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def default_reply(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path.startswith("/events/"):
            return Reply(body=EVENT)
        if request.method == "GET" and request.path == "/events":
            return Reply(body={"items": [EVENT]})
        if request.method == "POST" and request.path == "/events/ingest":
            return Reply(body={"ingested_count": len(json.loads(request.body)["events"])})
        return Reply(status=404, body={"code": "NOT_FOUND", "message": "Not found"})

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.replies.clear()

    def __enter__(self) -> DodoDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
