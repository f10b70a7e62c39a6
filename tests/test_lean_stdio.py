"""dodo_mcp.stdio: the thread-free stdio transport, driven by the SDK's client and by raw JSON-RPC lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCNotification, JSONRPCRequest

from dodo_mcp.stdio import read_messages, write_messages
from tests.conftest import ALL_TOOLS, server_env
from tests.probe_stdio import initialize_request

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the lean transport is POSIX-only")

# dodo-mcp against an in-memory sandbox (as `dodo-mcp --sandbox` builds it), served by run_stdio.
DODO_ON_LEAN_STDIO = """
import dataclasses, httpx2
from pydantic import SecretStr
from dodo_mcp.config import settings_from_env
from dodo_mcp.sandbox import SANDBOX_BASE_URL, create_app, open_store
from dodo_mcp.server import build_server
from dodo_mcp.stdio import run_stdio

store = open_store(":memory:")
settings = dataclasses.replace(
    settings_from_env(), api_key=SecretStr("k"), base_url_override=SANDBOX_BASE_URL, sandbox=True
)
run_stdio(build_server(settings, transport=httpx2.ASGITransport(app=create_app(store, "k"))))
print("stdout is ours again")
"""

# A bare server whose tool writes to stdout and returns a large result.
NOISY_ON_LEAN_STDIO = """
from mcp.server.mcpserver import MCPServer
from dodo_mcp.stdio import run_stdio

server = MCPServer("noisy")

@server.tool()
def shout(size: int) -> str:
    print("stray output from a tool", flush=True)
    return "x" * size

run_stdio(server)
"""

INITIALIZE = initialize_request("raw")


@pytest.mark.anyio
async def test_the_sdk_client_drives_every_tool_over_the_lean_transport() -> None:
    params = StdioServerParameters(command=sys.executable, args=["-c", DODO_ON_LEAN_STDIO], env=server_env())
    events = [
        {"event_id": f"lean-{n}", "customer_id": "cus_1", "event_name": "api_request", "metadata": {"n": n}}
        for n in range(3)
    ]
    async with Client(params) as client:
        tools = await client.list_tools()
        assert [tool.name for tool in tools.tools] == ALL_TOOLS

        ingested = await client.call_tool("ingest_events", {"events": events})
        assert not ingested.is_error, ingested
        assert ingested.structured_content is not None
        assert ingested.structured_content["ingested_count"] == 3

        found = await client.call_tool("retrieve_event", {"event_id": "lean-1"})
        assert not found.is_error, found
        assert found.structured_content is not None
        assert found.structured_content["metadata"] == {"n": 1}

        page = await client.call_tool("list_events", {"page_size": 2})
        assert page.structured_content is not None
        assert len(page.structured_content["items"]) == 2
        assert page.structured_content["next_page_number"] == 1

        missing = await client.call_tool("retrieve_event", {"event_id": "LEAN-1"})
        assert missing.is_error


def test_raw_lines_big_messages_bad_json_stray_prints_and_answers_before_eof() -> None:
    size = 300_000  # several pipe buffers: the writer must chunk and wait for the reader
    lines = [
        json.dumps(INITIALIZE),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        "{not json",
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "shout", "arguments": {"size": size}},
            }
        ),
    ]
    # The last line has no newline: it is still read at end of file.
    last = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
    done = subprocess.run(
        [sys.executable, "-c", NOISY_ON_LEAN_STDIO],
        input=("\n".join(lines) + "\n" + last).encode(),
        capture_output=True,
        env=server_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    answers = [json.loads(line) for line in done.stdout.splitlines()]  # only JSON-RPC on stdout
    by_id = {answer.get("id"): answer for answer in answers}
    assert by_id[1]["result"]["serverInfo"]["name"] == "noisy"
    assert by_id[2]["result"]["content"][0]["text"] == "x" * size
    assert [tool["name"] for tool in by_id[3]["result"]["tools"]] == ["shout"]
    # The bad line is answered as JSON-RPC prescribes (the SDK's transport logs it and answers nothing).
    assert by_id[None] == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32700,
            "message": "Parse error: the line is not valid JSON (key must be a string at line 1 column 2)",
        },
    }
    assert len(answers) == 4
    assert b"stray output from a tool" in done.stderr
    assert b"stray output" not in done.stdout


def test_stdout_is_restored_when_serving_ends() -> None:
    done = subprocess.run(
        [sys.executable, "-c", DODO_ON_LEAN_STDIO], input=b"", capture_output=True, env=server_env(), timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"stdout is ours again\n"


@pytest.mark.anyio
async def test_reader_and_writer_over_a_pipe_keep_every_message_whole() -> None:
    """In-process: messages split across reads are reassembled; a slow reader never loses a byte."""
    messages = [
        JSONRPCRequest(jsonrpc="2.0", id=n, method="tools/call", params={"name": "t", "arguments": {"pad": "é" * n}})
        for n in range(0, 120_000, 20_000)
    ] + [JSONRPCNotification(jsonrpc="2.0", method="notifications/initialized")]

    # Writer -> pipe -> a slow thread that collects the bytes.
    read_fd, write_fd = os.pipe()
    collected = bytearray()

    def drain() -> None:
        while chunk := os.read(read_fd, 1000):
            collected.extend(chunk)

    thread = threading.Thread(target=drain)
    thread.start()
    send, receive = anyio.create_memory_object_stream[SessionMessage](0)
    async with anyio.create_task_group() as group:
        group.start_soon(write_messages, write_fd, receive)
        async with send:
            for message in messages:
                await send.send(SessionMessage(message))
    os.close(write_fd)
    thread.join(10)
    os.close(read_fd)
    wire = bytes(collected)
    assert wire.count(b"\n") == len(messages)

    # The same bytes -> pipe in small pieces -> the reader parses the same messages back.
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        for start in range(0, len(wire), 777):
            os.write(write_fd, wire[start : start + 777])
        os.close(write_fd)

    feeder = threading.Thread(target=feed)
    feeder.start()
    parsed_send, parsed = anyio.create_memory_object_stream[SessionMessage | Exception](len(messages) + 1)
    await read_messages(read_fd, parsed_send)
    feeder.join(10)
    os.close(read_fd)
    received: list[Any] = [item async for item in parsed]
    assert [item.message for item in received] == messages
