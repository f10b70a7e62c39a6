"""Initialize and list the tools of a stdio MCP server, with nothing but the standard library.

    python tests/probe_stdio.py COMMAND [ARG ...]

Speaks newline-delimited JSON-RPC to COMMAND's stdin and stdout: initialize, notifications/initialized,
tools/list, then closes stdin and expects a clean exit. Prints the server's name, version and tool
names; exits 1 on anything unexpected. CI runs it against a dodo-mcp installed from the wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

EXPECTED_TOOLS = [
    "retrieve_event",
    "list_events",
    "ingest_events",
    "summarize_events",
    "explain_meter_match",
    "list_meters",
    "usage_history",
]
TIMEOUT_S = 30


def initialize_request(client_name: str, request_id: int = 1) -> dict[str, Any]:
    """An `initialize` request as a host in the 2025-06-18 era sends it."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1"},
        },
    }


def request(process: subprocess.Popen[str], message: dict[str, Any]) -> dict[str, Any]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()
    if "id" not in message:
        return {}
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"the server closed stdout instead of answering {message['method']}")
    answer: dict[str, Any] = json.loads(line)
    if answer.get("id") != message["id"] or "result" not in answer:
        raise SystemExit(f"unexpected answer to {message['method']}: {line.strip()}")
    result: dict[str, Any] = answer["result"]
    return result


def main(command: list[str]) -> int:
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        init = request(process, initialize_request("dodo-mcp-ci-probe"))
        request(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = request(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
        assert process.stdin is not None
        process.stdin.close()
        code = process.wait(TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
    names = [tool["name"] for tool in tools["tools"]]
    info = init["serverInfo"]
    print(f"{info['name']} {info['version']} (protocol {init['protocolVersion']}): {', '.join(names)}; exit {code}")
    if names != EXPECTED_TOOLS or code != 0:
        print(f"expected the tools {EXPECTED_TOOLS} and exit 0", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
