"""Start an unpacked MCP Bundle the way an MCPB host (Claude Desktop) does.

    python tests/mcpb_host.py BUNDLE_DIR [KEY=VALUE ...]

Reads BUNDLE_DIR/manifest.json, fills `${__dirname}` and `${user_config.KEY}` in server.mcp_config
from the user_config defaults and the KEY=VALUE pairs (booleans become "true"/"false", as the MCPB
hosts do), then runs the command in its place with that environment added, so stdin and stdout are
the MCP client's. CI points the MCP Inspector at it to drive the packed bundle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def config_text(value: Any) -> str:
    """A user_config value as MCPB hosts substitute it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_mcp_config(manifest: Mapping[str, Any], bundle_dir: str, user_values: Mapping[str, Any]) -> dict[str, Any]:
    """server.mcp_config with every variable filled; KeyError names a required setting left unset."""
    options: Mapping[str, Mapping[str, Any]] = manifest.get("user_config", {})
    values: dict[str, Any] = {key: option["default"] for key, option in options.items() if "default" in option}
    values.update(user_values)
    missing = [key for key, option in options.items() if option.get("required") and values.get(key) in (None, "")]
    if missing:
        raise KeyError(f"required user_config left unset: {', '.join(missing)}")
    variables = {"__dirname": bundle_dir, "/": os.sep, "pathSeparator": os.sep}
    variables.update({f"user_config.{key}": config_text(value) for key, value in values.items()})

    def fill(text: str) -> str:
        return _VARIABLE.sub(lambda match: variables.get(match[1], match[0]), text)

    config = manifest["server"]["mcp_config"]
    return {
        "command": fill(config["command"]),
        "args": [fill(arg) for arg in config.get("args", [])],
        "env": {name: fill(value) for name, value in config.get("env", {}).items()},
    }


def main(argv: list[str]) -> int:
    bundle_dir = os.path.abspath(argv[0])
    manifest = json.loads(Path(bundle_dir, "manifest.json").read_text(encoding="utf-8"))
    user_values = dict(pair.split("=", 1) for pair in argv[1:])
    config = resolve_mcp_config(manifest, bundle_dir, user_values)
    command = shutil.which(config["command"]) or config["command"]
    os.execve(command, [command, *config["args"]], {**os.environ, **config["env"]})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
