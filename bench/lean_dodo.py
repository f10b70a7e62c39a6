"""`dodo-mcp` (stdio, against DODO_PAYMENTS_BASE_URL) served by dodo_mcp.stdio instead of the SDK's transport.

The same settings, logging and server as `dodo_mcp.cli.main`'s default path; only the last line
differs (`run_stdio(server)` for `server.run("stdio")`). Used by the benchmarks to measure the
lean transport before cli.py switches to it.
"""

from __future__ import annotations

import sys

from dodo_mcp.cli import configure_logging
from dodo_mcp.config import SettingsError, settings_from_env


def main() -> int:
    try:
        settings = settings_from_env()
    except SettingsError as exc:
        print(f"dodo-mcp: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    from dodo_mcp.server import build_server
    from dodo_mcp.stdio import run_stdio

    run_stdio(build_server(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
