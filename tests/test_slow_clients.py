"""Limits on slow and idle clients (issue 13, item 6): a request head has a deadline, idle connections and
sessions end, and open sessions are capped, while a normal client is served. Real uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time

import httpx2

from tests.probe_stdio import initialize_request
from tests.test_http import TOKEN, serving

SANDBOX = ("--sandbox", "--sandbox-db", ":memory:")
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the server closes `sock` within `within_s` (it reads b"" or a reset)."""
    sock.settimeout(within_s)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_a_normal_client_is_served_while_100_slow_connections_are_cut() -> None:
    """Before: 50 slowloris connections and one with half a request line were still open after 55 s."""
    with serving("--transport", "streamable-http", *SANDBOX, "--header-timeout", "1", "--idle-timeout", "2") as served:
        host, port = served.url.removeprefix("http://").split(":")
        slow = []
        for i in range(100):
            sock = socket.create_connection((host, int(port)))
            if i % 2:  # half a request line; the rest connect and say nothing
                sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(sock)
        started = time.monotonic()
        with httpx2.Client(base_url=served.url, headers=HEADERS, timeout=10) as http:
            opened = http.post("/mcp", content=json.dumps(initialize_request("normal")).encode())
            assert opened.status_code == 200 and "mcp-session-id" in opened.headers
            # A slow client that keeps dribbling is cut too: the deadline is for the whole head.
            dribbler = slow[1]
            for _ in range(4):
                time.sleep(0.4)
                try:
                    dribbler.sendall(b"x")
                except OSError:
                    break
        # Generous bounds (a loaded machine): the deadline is 1 s; nothing is cut before it either.
        assert all(closed_by_server(sock, within_s=10) for sock in slow)
        assert time.monotonic() - started >= 1.0
        for sock in slow:
            sock.close()

        # An idle keep-alive connection is closed after --idle-timeout; one in use is not.
        idle = socket.create_connection((host, int(port)))
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200")
        assert closed_by_server(idle, within_s=10)
        idle.close()


def test_sessions_end_when_idle_and_are_capped() -> None:
    args = ("--transport", "streamable-http", *SANDBOX, "--session-idle-timeout", "1", "--max-sessions", "2")
    with serving(*args) as served, httpx2.Client(base_url=served.url, headers=HEADERS, timeout=10) as http:
        opening = json.dumps(initialize_request("capped")).encode()
        first, second = (http.post("/mcp", content=opening) for _ in range(2))
        assert first.status_code == second.status_code == 200
        refused = http.post("/mcp", content=opening)
        assert (refused.status_code, refused.json()["error"]["message"]) == (503, "Too many open sessions")
        # A second with no request ends a session (asking meanwhile would keep it alive): its id then
        # answers 404, and a new session can open. Waited generously for a loaded machine.
        time.sleep(3)
        ping = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode()
        session = {"mcp-session-id": first.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
        assert http.post("/mcp", content=ping, headers=session).status_code == 404
        assert http.post("/mcp", content=opening).status_code == 200
