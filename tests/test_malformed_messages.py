"""Every malformed JSON-RPC line gets the answer JSON-RPC prescribes, over real stdio, and nothing is lost
or altered: the server stays up and answers the next valid call."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx2
import pytest

from tests.conftest import CAPTURED, server_env
from tests.probe_stdio import initialize_request
from tests.test_http import TOKEN, serving

INVALID = "Invalid request: not a JSON-RPC 2.0 request, notification or response"


def parse_error(reason: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": f"Parse error: {reason}"}}


def invalid(request_id: str | int | None = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32600, "message": INVALID}}


def canonical(message: dict[str, Any]) -> str:
    return json.dumps(message, sort_keys=True)


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def ping(request_id: int) -> bytes:
    return line({"jsonrpc": "2.0", "id": request_id, "method": "ping"})


def ingest(request_id: int, event_id: str) -> dict[str, Any]:
    event = {"event_id": event_id, "customer_id": "cus_1", "event_name": "api_request"}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "ingest_events", "arguments": {"events": [event]}},
    }


# (the bytes of one line, without its newline; the one answer it must get)
BAD_LINES: list[tuple[bytes, dict[str, Any]]] = [
    (b"not json", parse_error("the line is not valid JSON (expected ident at line 1 column 2)")),
    (b"{", parse_error("the line is not valid JSON (EOF while parsing an object at line 1 column 1)")),
    (
        b'{"jsonrpc":"2.0","id":1,',
        parse_error("the line is not valid JSON (EOF while parsing a value at line 1 column 24)"),
    ),
    (b"\xff\xfe", parse_error("the line is not valid UTF-8 (byte 0xff at offset 0)")),
    (b"[]", invalid()),
    (b"[1, 2]", invalid()),
    (b'"ping"', invalid()),
    (b"42", invalid()),
    (b"null", invalid()),
    (b"{}", invalid()),
    (b'{"id": 5}', invalid(5)),
    (b'{"jsonrpc": "1.0", "id": 6, "method": "ping"}', invalid(6)),
    (b'{"jsonrpc": "2.0", "id": 7, "method": 5}', invalid(7)),
    (b'{"jsonrpc": "2.0", "id": "eight", "method": "tools/list", "params": "all"}', invalid("eight")),
    (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', invalid()),
    (b'{"jsonrpc": "2.0", "id": 9.5, "method": "ping"}', invalid()),
    (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', invalid()),
]


def test_every_malformed_line_is_answered_and_the_server_stays_up() -> None:
    # The event_id that was stored as 'utf8_\ufffd\ufffd_id' while invalid UTF-8 was replaced.
    utf8_ingest = line(ingest(40, "x"))[:-1].replace(b'"x"', b'"utf8_\xff\xfe_id"')
    offset = utf8_ingest.index(b"\xff")
    lines = [(utf8_ingest, parse_error(f"the line is not valid UTF-8 (byte 0xff at offset {offset})"))]
    lines += BAD_LINES
    wire = line(initialize_request("malformed-test")) + line({"jsonrpc": "2.0", "method": "notifications/initialized"})
    expected: list[dict[str, Any]] = []
    for index, (raw, answer) in enumerate(lines):
        wire += raw + b"\n" + ping(100 + index)
        expected += [answer, {"jsonrpc": "2.0", "id": 100 + index, "result": {}}]
    # A client's response (to an elicitation, say) and a notification are accepted, and answered by nothing.
    wire += line({"jsonrpc": "2.0", "id": 999, "result": {}}) + line(
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 12345}}
    )
    wire += line(ingest(50, "utf8_ok_id"))
    process = subprocess.run(
        [sys.executable, "-m", "dodo_mcp", "--sandbox", "--sandbox-db", ":memory:"],
        input=wire,
        capture_output=True,
        env=server_env(),
        timeout=60,
    )
    CAPTURED.extend([process.stdout.decode("utf-8", "replace"), process.stderr.decode("utf-8", "replace")])
    assert process.returncode == 0, process.stderr[-2000:]
    answers = [json.loads(raw) for raw in process.stdout.splitlines()]
    assert answers[0]["id"] == 1 and "result" in answers[0]
    # Answers to different requests may come in any order (the malformed lines are answered as read).
    assert sorted(map(canonical, answers[1:-1])) == sorted(map(canonical, expected))
    last = answers[-1]
    assert last["id"] == 50 and last["result"]["structuredContent"]["ingested_count"] == 1
    assert len(answers) == 2 + len(expected)
    assert "Traceback" not in process.stderr.decode()


def over_http(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer a malformed HTTP body gets: the same as the line's, but naming the body."""
    if answer["error"]["code"] != -32700:
        return answer
    message = answer["error"]["message"].replace("the line is", "the body is")
    return {**answer, "error": {**answer["error"], "message": message}}


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_every_malformed_body_is_answered_over_http_as_over_stdio(transport: str) -> None:
    """Before: -32602 with a dump of pydantic's validation errors, and an id of `true` taken as 1."""
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    with (
        serving("--transport", transport, "--sandbox", "--sandbox-db", ":memory:") as served,
        httpx2.Client(base_url=served.url, headers=headers, timeout=10) as http,
    ):
        path = "/mcp" if transport == "streamable-http" else "/messages/?session_id=00000000000000000000000000000000"
        for raw, answer in BAD_LINES:
            response = http.post(path, content=raw)
            assert (response.status_code, response.json()) == (400, over_http(answer)), raw

        # A chunked body has no content-length: it is still held to the limit (4 MiB by default).
        def chunks() -> Any:
            yield b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "'
            for _ in range(5):
                yield b"x" * (1 << 20)
            yield b'"}}'

        assert http.post(path, content=chunks()).status_code == 413
        if transport == "streamable-http":
            ready = http.post(path, content=line(initialize_request("malformed-http")))
            assert ready.status_code == 200 and "mcp-session-id" in ready.headers
