"""What start-up builds is frozen out of later garbage collections (cli.freeze_startup_objects, before serving).

A collection of the oldest generation otherwise walks every module, model and schema again, each time a call
allocates enough to set one off: measured, a quarter of a 1,000-event ingest_events call's server CPU.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import server_env

# Runs the real entry point; at exit, says how many objects the collector had frozen.
PROBE = (
    "import atexit, gc, sys\n"
    "atexit.register(lambda: print(f'frozen={gc.get_freeze_count()}', file=sys.stderr))\n"
    "from dodo_mcp.cli import main\n"
    "sys.argv = ['dodo-mcp', *sys.argv[1:]]\n"
    "raise SystemExit(main())\n"
)


def frozen_after(*args: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        input="",
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if line.startswith("frozen=")]
    return int(line.removeprefix("frozen="))


def test_serving_stdio_freezes_what_start_up_built() -> None:
    # The SDK, pydantic and our models alone are tens of thousands of tracked objects.
    assert frozen_after("--sandbox", "--sandbox-db", ":memory:") > 30_000


def test_help_freezes_nothing() -> None:
    # Only serving freezes: a command that exits at once has nothing to gain.
    assert frozen_after("--version") == 0
