"""Sessions belong to their creator (issue 13, item 5): with one shared token and each client's own Dodo
key, a client that learns another's session id gets 404 for POST, GET and DELETE, as if the session did
not exist, and the owner's session carries on. Over real Streamable HTTP and SSE."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import httpx2

from dodo_mcp.ended_sessions import SESSION_ENDED
from tests.probe_stdio import initialize_request
from tests.test_http import TOKEN, serving

OWNER_KEY = "sk_test_owner_key_1111"
INTRUDER_KEY = "sk_test_intruder_key_2222"
# The answer for a session that does not exist, or is not the caller's: the same words (dodo_mcp.ended_sessions).
SESSION_NOT_FOUND = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": SESSION_ENDED}}


def headers(own_key: str, session: str | None = None) -> dict[str, str]:
    sent = {
        "Authorization": f"Bearer {TOKEN}",
        "x-dodo-payments-api-key": own_key,
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }
    return {**sent, "mcp-session-id": session} if session else sent


def ping(request_id: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"}).encode()


def events(response: httpx2.Response) -> list[Any]:
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


def test_a_streamable_http_session_answers_only_its_creator() -> None:
    with (
        serving(
            "--transport", "streamable-http", "--per-client-api-key", "--sandbox", "--sandbox-db", ":memory:"
        ) as served,
        httpx2.Client(base_url=served.url, timeout=10) as http,
    ):
        opened = http.post("/mcp", content=json.dumps(initialize_request("owner")).encode(), headers=headers(OWNER_KEY))
        session = opened.headers["mcp-session-id"]
        initialized = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
        assert http.post("/mcp", content=initialized, headers=headers(OWNER_KEY, session)).status_code == 202
        # Another caller, with the session id: every method answers as if there were no such session.
        intruder = headers(INTRUDER_KEY, session)
        for method in ("POST", "GET", "DELETE"):
            response = http.request(method, "/mcp", content=ping(2) if method == "POST" else None, headers=intruder)
            assert (response.status_code, response.json()) == (404, SESSION_NOT_FOUND), method
        # The owner's session is whole: its calls are answered, and its own DELETE ends it.
        answered = http.post("/mcp", content=ping(3), headers=headers(OWNER_KEY, session))
        assert events(answered) == [{"jsonrpc": "2.0", "id": 3, "result": {}}]
        assert http.delete("/mcp", headers=headers(OWNER_KEY, session)).status_code == 200
        assert http.post("/mcp", content=ping(4), headers=headers(OWNER_KEY, session)).status_code == 404


def test_an_sse_session_answers_only_its_creator() -> None:
    with serving("--transport", "sse", "--per-client-api-key", "--sandbox", "--sandbox-db", ":memory:") as served:
        found: dict[str, str] = {}
        ready = threading.Event()
        seen: list[str] = []

        def listen() -> None:
            with (
                httpx2.Client(base_url=served.url, timeout=10) as stream_http,
                stream_http.stream("GET", "/sse", headers=headers(OWNER_KEY)) as stream,
            ):
                for line in stream.iter_lines():
                    seen.append(line)
                    match = re.search(r"session_id=([0-9a-f]+)", line)
                    if match and not found:
                        found["id"] = match.group(1)
                        ready.set()
                    if '"id":9' in line.replace(" ", ""):
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert ready.wait(10)
        path = f"/messages/?session_id={found['id']}"
        with httpx2.Client(base_url=served.url, timeout=10) as http:
            stolen = http.post(path, content=ping(8), headers=headers(INTRUDER_KEY))
            assert (stolen.status_code, stolen.text) == (404, "Could not find session")
            opened = http.post(
                path, content=json.dumps(initialize_request("owner", 9)).encode(), headers=headers(OWNER_KEY)
            )
            assert opened.status_code == 202
        listener.join(10)
        # The intruder's ping was never answered on the owner's stream; the owner's initialize was.
        assert any('"id":9' in line.replace(" ", "") for line in seen)
        assert not any('"id":8' in line.replace(" ", "") for line in seen)
