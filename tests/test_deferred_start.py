"""A stdio server answers `initialize` before it imports its tools (server.ServerStart, stdio's install gate).

The handshake needs the name, the instructions and the capabilities; the tools need DodoClient, the models and
the handlers, the bulk of dodo-mcp's start-up. These tests hold the two halves apart: what the handshake's half
imports, when the install runs relative to the handshake's answer, and that every later request finds the
tools, prompts and completion there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCRequest, JSONRPCResponse

from dodo_mcp.stdio import Unanswered, read_messages
from tests.conftest import ALL_TOOLS, server_env
from tests.probe_stdio import initialize_request

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the lean transport is POSIX-only")

# What the tools need and the handshake does not.
TOOLS_MODULES = (
    "dodo_mcp.api.client",
    "dodo_mcp.api.models",
    "dodo_mcp.api.meters",
    "dodo_mcp.api.subscriptions",
    "dodo_mcp.tools.models",
    "dodo_mcp.tools.handlers",
    "dodo_mcp.tools.registry",
    "dodo_mcp.tools.completion",
)

HANDSHAKE_HALF = """
import json, sys
from pydantic import SecretStr
from dodo_mcp.config import Settings
from dodo_mcp.server import start_server

start = start_server(Settings(api_key=SecretStr("k")))
before = sorted(name for name in sys.modules if name.startswith("dodo_mcp"))
start.install()
after = sorted(name for name in sys.modules if name.startswith("dodo_mcp"))
print(json.dumps({"before": before, "after": after}))
"""


def test_the_handshakes_half_imports_none_of_the_tools() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HANDSHAKE_HALF], capture_output=True, text=True, env=server_env(), timeout=60, check=True
    )
    modules = json.loads(done.stdout)
    assert [name for name in TOOLS_MODULES if name in modules["before"]] == []
    # And install is what brings them.
    assert [name for name in TOOLS_MODULES if name not in modules["after"]] == []


def lines(*messages: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(message).encode() + b"\n" for message in messages)


async def deliver(data: bytes, answer_first: bool) -> list[str]:
    """Feed `data` to read_messages; log each message delivered, the handshake's answer (with `answer_first`)
    and the install, in order."""
    events: list[str] = []
    unanswered = Unanswered()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    os.close(write_fd)
    send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](10)

    async def consume() -> None:
        # Answers every request, as the SDK would; the handshake's after a moment, in which nothing else may be read.
        async for item in receive:
            assert isinstance(item, SessionMessage)
            message = item.message
            events.append(getattr(message, "method", "?"))
            if isinstance(message, JSONRPCRequest):
                if answer_first and message.method == "initialize":
                    await anyio.sleep(0.05)
                    events.append("answered")
                unanswered.written(JSONRPCResponse(jsonrpc="2.0", id=message.id, result={}))

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        await read_messages(read_fd, send, unanswered, None, lambda: events.append("install"))
    os.close(read_fd)
    return events


@pytest.mark.anyio
async def test_install_runs_after_the_handshakes_answer_and_before_the_next_message() -> None:
    data = lines(
        initialize_request("gate"),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    )
    assert await deliver(data, answer_first=True) == [
        "initialize",
        "answered",
        "install",
        "notifications/initialized",
        "tools/list",
    ]


@pytest.mark.anyio
async def test_a_first_message_that_is_not_initialize_finds_everything_installed() -> None:
    data = lines({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert await deliver(data, answer_first=False) == ["install", "tools/list", "ping"]


def test_over_real_stdio_every_request_after_the_handshake_is_served_in_full() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "dodo_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env("http://127.0.0.1:9"),
    )
    # Everything at once: the messages after initialize wait in the pipe while the tools are installed.
    requests = lines(
        initialize_request("gate"),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "prompts/list"},
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "completion/complete",
            "params": {
                "ref": {"type": "ref/prompt", "name": "summarize_customer_usage"},
                "argument": {"name": "nope", "value": ""},
            },
        },
    )
    out, err = process.communicate(requests, timeout=60)
    answers = {answer["id"]: answer for answer in map(json.loads, out.splitlines())}
    capabilities = answers[1]["result"]["capabilities"]
    assert sorted(capabilities) == ["completions", "logging", "prompts", "resources", "tools"], err[-2000:]
    assert [tool["name"] for tool in answers[2]["result"]["tools"]] == ALL_TOOLS
    assert [prompt["name"] for prompt in answers[3]["result"]["prompts"]] == [
        "investigate_missing_usage",
        "summarize_customer_usage",
        "check_event_shape",
        "explain_usage_bill",
    ]
    # The Completer is there: an argument the prompt does not have is its -32602, not "no values".
    assert answers[4]["error"]["code"] == -32602
