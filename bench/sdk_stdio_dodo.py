"""`dodo-mcp` (stdio, against DODO_PAYMENTS_BASE_URL) on the SDK's own stdio transport, for comparison.

The same settings, logging and server as `dodo_mcp.cli.main`'s default path; only the last line
differs (`server.run("stdio")`, the SDK's threaded transport, for `run_stdio(server)`, the lean one
that dodo-mcp uses). The benchmarks report both, so the lean transport's gain stays measured.
"""

from __future__ import annotations

import sys

from dodo_mcp.config import SettingsError, settings_from_env
from dodo_mcp.logs import configure_logging


def main() -> int:
    try:
        settings = settings_from_env()
    except SettingsError as exc:
        print(f"dodo-mcp: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    from dodo_mcp.server import build_server

    build_server(settings).run("stdio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
