"""--read-only, --tools and their environment variables, through a real MCP client over stdio; unknown
names stop the server at startup with exit 2 and one line naming the valid tools."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dodo_mcp.cli import build_parser
from dodo_mcp.tools.names import TOOL_NAMES
from tests.conftest import CAPTURED, server_env, stdio_session, text_of

pytestmark = pytest.mark.anyio

SANDBOX = ("--sandbox", "--sandbox-db", ":memory:")
VALID = "valid names: retrieve_event, list_events, ingest_events, summarize_events, explain_meter_match"


@pytest.mark.parametrize(
    ("flags", "env", "served"),
    [
        ((), {}, list(TOOL_NAMES)),
        (("--read-only",), {}, ["retrieve_event", "list_events", "summarize_events", "explain_meter_match"]),
        ((), {"DODO_MCP_READ_ONLY": "1"}, ["retrieve_event", "list_events", "summarize_events", "explain_meter_match"]),
        ((), {"DODO_MCP_READ_ONLY": "false", "DODO_MCP_TOOLS": ""}, list(TOOL_NAMES)),
        (("--tools", " summarize_events , list_events"), {}, ["list_events", "summarize_events"]),
        ((), {"DODO_MCP_TOOLS": "explain_meter_match,ingest_events"}, ["ingest_events", "explain_meter_match"]),
        # The flag wins over the environment.
        (("--tools", "retrieve_event"), {"DODO_MCP_TOOLS": "list_events"}, ["retrieve_event"]),
        (("--read-only", "--tools", "ingest_events,list_events"), {}, ["list_events"]),
    ],
)  # fmt: skip
async def test_the_tools_served(flags: tuple[str, ...], env: dict[str, str], served: list[str]) -> None:
    async with stdio_session(server_env(None, **env), *SANDBOX, *flags) as session:
        listed = await session.client.list_tools()
        assert [tool.name for tool in listed.tools] == served
        if "ingest_events" not in served:
            hidden = await session.call(
                "ingest_events", {"events": [{"event_id": "e", "customer_id": "c", "event_name": "n"}]}
            )
            assert hidden.is_error
            assert text_of(hidden) == "Unknown tool: ingest_events"
            assert "Ingest rules" not in (session.client.instructions or "")
        else:
            assert "Ingest rules (ingest_events)" in (session.client.instructions or "")
        stderr = session.stderr
    if "--read-only" in flags and "ingest_events" in flags[-1]:
        assert "read-only: not serving ingest_events, although named in the tool list" in stderr
    if served != list(TOOL_NAMES):
        assert f"serving only these tools: {', '.join(served)}" in stderr


@pytest.mark.parametrize(
    ("flags", "env", "line"),
    [
        (("--tools", "list_events,nope"), {}, f"dodo-mcp: --tools: unknown tool 'nope'; {VALID}"),
        ((), {"DODO_MCP_TOOLS": "List_Events,x"}, f"dodo-mcp: DODO_MCP_TOOLS: unknown tools 'List_Events', 'x'; {VALID}"),
        (("--read-only", "--tools", "ingest_events"), {},
         f"dodo-mcp: --tools: no tools left to serve (read-only hides ingest_events); {VALID}"),
    ],
)  # fmt: skip
def test_unknown_or_no_tools_fail_at_startup(flags: tuple[str, ...], env: dict[str, str], line: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dodo_mcp", *SANDBOX, *flags],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=server_env(None, **env),
        timeout=60,
    )
    CAPTURED.append(done.stderr)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")


def test_the_help_names_every_tool() -> None:
    assert f"Dodo Payments usage events: {', '.join(TOOL_NAMES)}." in (build_parser().description or "")
