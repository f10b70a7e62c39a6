"""Oracle: MCP Inspector 2.x's schema portability check finds nothing in any tool's schemas.

Inspector 2.x lints every tool's inputSchema and outputSchema on `--method tools/list`
(core/json/schemaLint.ts): a bare boolean where a schema object belongs is an error; a `type` array
(`["string","null"]`, also `["string","number","boolean"]`), a schema with no constraining keyword,
and a remote `$ref` are warnings. Without `--strict` it prints only a count on stderr; with `--strict`
it prints every finding and exits 6 on errors, but never fails on warnings. With `--strict --format
json` the findings are in stdout's envelope (`schemaFindings`, absent when there are none), which is
what this reads: any error or warning fails.

    python -m tests.clients.inspector_portability <node> <the inspector's clients/launcher/build/index.js>
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ALL_TOOLS

TIMEOUT_SECONDS = 120


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[1]).is_file():
        print(
            "usage: python -m tests.clients.inspector_portability <node> <inspector launcher index.js>", file=sys.stderr
        )
        return 2
    node, launcher = argv
    dodo_mcp = Path(sys.executable).with_name("dodo-mcp")
    command = [node, launcher, "--cli", str(dodo_mcp), "--sandbox", "--sandbox-db", ":memory:"]
    command += ["--method", "tools/list", "--strict", "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    try:
        envelope = json.loads(done.stdout)
        tools = [tool["name"] for tool in envelope["result"]["tools"]]
    except (ValueError, KeyError, TypeError):
        print(f"FAIL: tools/list exited {done.returncode} without a JSON result\n{done.stdout}\n{done.stderr[-2000:]}")
        return 1
    if tools != ALL_TOOLS:
        print(f"FAIL: tools/list gave {tools}, not {ALL_TOOLS}")
        return 1
    counts = {"error": 0, "warning": 0}
    for entry in envelope.get("schemaFindings", []):
        for finding in entry["findings"]:
            counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
            print(
                f"{finding['severity']}: {entry['toolName']} {finding['schema']}.{finding['path']} "
                f"[{finding['rule']}] {finding['issue'].split('. ')[0]}"
            )
    errors, warnings = counts["error"], sum(n for severity, n in counts.items() if severity != "error")
    print(f"inspector 2.x schema portability: {errors} errors, {warnings} warnings across {len(tools)} tools")
    if done.returncode != 0:
        print(f"FAIL: the inspector exited {done.returncode}\n{done.stderr[-2000:]}")
        return 1
    return 1 if errors or warnings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
