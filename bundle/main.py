"""MCP Bundle entry point: run `dodo-mcp`, adding `--sandbox` when DODO_MCP_SANDBOX is true.

An MCP Bundle host (Claude Desktop) passes a boolean setting to the server only as the text "true" or
"false", in an environment variable or an argument; the CLI takes the sandbox as a flag, so this maps
the one onto the other. Everything else reaches dodo-mcp unchanged through its environment variables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from dodo_mcp.config import SANDBOX_ENV, env_flag


def bundle_argv(environ: Mapping[str, str], argv: Sequence[str]) -> list[str]:
    """The dodo-mcp arguments: argv, with `--sandbox` first when the bundle's sandbox switch is on."""
    if env_flag(environ.get(SANDBOX_ENV)) and "--sandbox" not in argv:
        return ["--sandbox", *argv]
    return list(argv)


if __name__ == "__main__":
    from dodo_mcp.cli import main

    raise SystemExit(main(bundle_argv(os.environ, sys.argv[1:])))
