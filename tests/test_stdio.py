"""The stdio contract as a host sees it: raw JSON-RPC lines in, only JSON-RPC lines out, UTF-8 with LF."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.conftest import ALL_TOOLS, CAPTURED, counts, ingest_counts, server_env
from tests.dodo_double import DodoDouble
from tests.probe_stdio import initialize_request

INITIALIZE = initialize_request("raw-test-host")


def converse(env: dict[str, str], messages: list[dict[str, Any]]) -> tuple[bytes, str, int]:
    """Send the messages, read until every request is answered, close stdin; return (stdout, stderr, exit code)."""
    expected = sum(1 for message in messages if "id" in message)
    process = subprocess.Popen(
        [sys.executable, "-m", "dodo_mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    stdout = b""
    try:
        for message in messages:
            process.stdin.write(json.dumps(message).encode() + b"\n")
            process.stdin.flush()
            if "id" in message:
                stdout += process.stdout.readline()
        process.stdin.close()
        stdout += process.stdout.read()
        code = process.wait(timeout=30)
    finally:
        process.kill()
    stderr = process.stderr.read().decode("utf-8", "replace")
    CAPTURED.extend([stdout.decode("utf-8", "replace"), stderr])
    assert stdout.count(b"\n") >= expected
    return stdout, stderr, code


def call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def test_stdout_carries_only_json_rpc_even_under_a_hostile_locale(dodo_double: DodoDouble) -> None:
    dodo_double.reset()
    env = server_env(dodo_double.url, PYTHONIOENCODING="cp1252", LC_ALL="C", LANG="C", DODO_MCP_LOG_LEVEL="DEBUG")
    events = [{"event_id": "é1", "customer_id": "cüs", "event_name": "naïve", "metadata": {"emoji": "😀", "k": "ü"}}]
    stdout, stderr, code = converse(
        env,
        [
            INITIALIZE,
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            call(3, "ingest_events", {"events": events}),
            call(4, "retrieve_event", {"event_id": "ü/1"}),
            call(5, "list_events", {"page_size": "many"}),
            call(6, "no_such_tool", {}),
        ],
    )
    assert code == 0, stderr
    assert b"\r" not in stdout
    lines = stdout.decode("utf-8").split("\n")
    assert lines[-1] == ""
    messages = [json.loads(line) for line in lines[:-1]]
    assert all(message["jsonrpc"] == "2.0" for message in messages)
    by_id = {message["id"]: message for message in messages}
    assert set(by_id) == {1, 2, 3, 4, 5, 6}
    assert by_id[1]["result"]["serverInfo"] == {
        "name": "dodo-mcp",
        "title": "Dodo Payments usage events",
        "version": "0.1.0",
        "websiteUrl": "https://github.com/dodo-mcp/dodo-mcp",
    }
    assert [tool["name"] for tool in by_id[2]["result"]["tools"]] == ALL_TOOLS
    assert counts(by_id[3]["result"]["structuredContent"]) == ingest_counts(submitted=1, ingested=1)
    assert by_id[4]["result"]["isError"] is False
    assert by_id[5]["result"]["isError"] is True
    assert "page_size must be an integer, not a string ('many')" in by_id[5]["result"]["content"][0]["text"]
    # Non-ASCII travels as UTF-8, never mangled by the locale.
    assert dodo_double.requests[0].json() == {"events": events}
    assert dodo_double.requests[1].raw_path == "/events/%C3%BC%2F1"
    assert "😀" not in stderr or "emoji" in stderr  # logs may mention it; stdout stays JSON-RPC
    assert "DEBUG dodo_mcp.api.client: POST /events/ingest -> 200" in stderr


def test_version_and_help() -> None:
    version = subprocess.run(
        [sys.executable, "-m", "dodo_mcp", "--version"], capture_output=True, text=True, timeout=30
    )
    assert (version.returncode, version.stdout) == (0, "dodo-mcp 0.1.0\n")
    helped = subprocess.run([sys.executable, "-m", "dodo_mcp", "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0
    for flag in ("--environment", "--base-url", "--deadline", "--max-retries", "--log-level", "DODO_PAYMENTS_API_KEY"):
        assert flag in helped.stdout


def test_bad_settings_exit_non_zero_with_one_line() -> None:
    env = server_env(None, DODO_PAYMENTS_ENVIRONMENT="production")
    process = subprocess.run(
        [sys.executable, "-m", "dodo_mcp"], capture_output=True, text=True, env=env, timeout=30, input=""
    )
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr == "dodo-mcp: DODO_PAYMENTS_ENVIRONMENT must be test_mode or live_mode, not 'production'\n"
