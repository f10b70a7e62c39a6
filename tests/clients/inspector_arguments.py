"""Oracle: MCP Inspector 0.15's CLI passes every object and array argument of every tool.

Inspector 0.15 (what `npx @modelcontextprotocol/inspector` runs on Node 20) turns each
`--tool-arg key=<text>` into a value by the property's top-level `type`, compared exactly: "object" and
"array" are JSON-parsed, "integer"/"number" made numbers; any other spelling (`["object","null"]`,
`anyOf`) leaves the text a string, which the server then refuses. So every call below passes its
arguments only as `--tool-arg` text, and must come back with the exact structuredContent.

Inspector 0.15 exits 0 even when a result has `isError: true`, so its exit code alone proves nothing:
each result is read from stdout and compared.

    python -m tests.clients.inspector_arguments <path to the inspector's cli/build/cli.js>

Runs against `dodo-mcp --sandbox --sandbox-db <a fresh file>` (the dodo-mcp beside this Python) and
exits 1 at the first call that does not give its exact answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio

from tests.clients import scenario

# One call spawns node, the Inspector and dodo-mcp; a minute is far more than any of them needs.
CALL_TIMEOUT_SECONDS = 60


def tool_arg(name: str, value: Any) -> str:
    """`name=<text>` as a user types it: strings bare, everything else as JSON."""
    return f"{name}={value if isinstance(value, str) else json.dumps(value, separators=(',', ':'))}"


def call(inspector: Path, db: Path, tool: str, arguments: dict[str, Any]) -> tuple[int, str, str]:
    dodo_mcp = Path(sys.executable).with_name("dodo-mcp")
    command = ["node", str(inspector), "--cli", str(dodo_mcp), "--sandbox", "--sandbox-db", str(db)]
    command += ["--method", "tools/call", "--tool-name", tool, "--tool-arg"]
    command += [tool_arg(name, value) for name, value in arguments.items()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CALL_TIMEOUT_SECONDS, check=False)
    return done.returncode, done.stdout, done.stderr


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python -m tests.clients.inspector_arguments <inspector cli/build/cli.js>", file=sys.stderr)
        return 2
    inspector = Path(argv[0])
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "sandbox.sqlite3"
        seeded = anyio.run(scenario.seed, db)
        expected = scenario.calls(scenario.usage_events(datetime.now(timezone.utc)), seeded)
        for tool, arguments, structured in expected:
            code, stdout, stderr = call(inspector, db, tool, arguments)
            shown = " ".join(tool_arg(name, value) for name, value in arguments.items())
            try:
                result = json.loads(stdout)
            except ValueError:
                result = None
            if code != 0 or not isinstance(result, dict):
                print(f"FAIL {tool} {shown}: exit {code}\n{stdout}\n{stderr[-2000:]}")
                return 1
            got = (result.get("isError"), result.get("structuredContent"))
            if got != (False, structured):
                text = [block.get("text") for block in result.get("content", [])]
                print(f"FAIL {tool} {shown}:\n  isError {got[0]}, text {text}\n  wanted structuredContent {structured}")
                return 1
            print(f"ok   {tool} {shown}")
    print(f"inspector 0.15: {len(expected)} calls, every --tool-arg passed as its type, every result exact")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
