"""--read-only, --tools and their environment variables: the tools served, through the SDK's client; unknown
names stop the server at startup with exit 2 and one line naming the valid tools.

The flags are parsed by the CLI's own parser and resolved by its own code, then the server is built
in-process; one spawned server shows the log lines the selection writes to stderr.
"""

from __future__ import annotations

import pytest

from dodo_mcp.cli import build_parser, main
from dodo_mcp.cli.options import tool_selection
from dodo_mcp.tools.names import TOOL_NAMES
from tests.conftest import sandbox_session, server_env, stdio_session, text_of

pytestmark = pytest.mark.anyio

SANDBOX = ("--sandbox", "--sandbox-db", ":memory:")
VALID = "valid names: retrieve_event, list_events, ingest_events, summarize_events, explain_meter_match, list_meters, usage_history"
SELECTION_ENV = ("DODO_MCP_READ_ONLY", "DODO_MCP_TOOLS")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment the CLI reads, without any selection of the machine's own."""
    for name in SELECTION_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


READ_ONLY_TOOLS = [name for name in TOOL_NAMES if name != "ingest_events"]


@pytest.mark.parametrize(
    ("flags", "env", "served"),
    [
        ((), {}, list(TOOL_NAMES)),
        (("--read-only",), {}, READ_ONLY_TOOLS),
        ((), {"DODO_MCP_READ_ONLY": "1"}, READ_ONLY_TOOLS),
        ((), {"DODO_MCP_READ_ONLY": "false", "DODO_MCP_TOOLS": ""}, list(TOOL_NAMES)),
        (("--tools", " summarize_events , list_events"), {}, ["list_events", "summarize_events"]),
        ((), {"DODO_MCP_TOOLS": "explain_meter_match,ingest_events"}, ["ingest_events", "explain_meter_match"]),
        # The flag wins over the environment.
        (("--tools", "retrieve_event"), {"DODO_MCP_TOOLS": "list_events"}, ["retrieve_event"]),
        (("--read-only", "--tools", "ingest_events,list_events"), {}, ["list_events"]),
    ],
)  # fmt: skip
async def test_the_tools_served(
    flags: tuple[str, ...], env: dict[str, str], served: list[str], environ: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        environ.setenv(name, value)
    tools, hidden = tool_selection(build_parser().parse_args([*SANDBOX, *flags]))
    # What startup logs: "serving only these tools: ..." unless all are served, and the named ones read-only hides.
    assert tools == (None if served == list(TOOL_NAMES) else served)
    assert hidden == (["ingest_events"] if "--read-only" in flags and "ingest_events" in flags[-1] else [])
    async with sandbox_session(tools=tools or TOOL_NAMES) as session:
        listed = await session.client.list_tools()
        assert [tool.name for tool in listed.tools] == served
        if "ingest_events" not in served:
            hidden_call = await session.call(
                "ingest_events", {"events": [{"event_id": "e", "customer_id": "c", "event_name": "n"}]}
            )
            assert hidden_call.is_error
            assert text_of(hidden_call) == "Unknown tool: ingest_events"
            assert "Ingest rules" not in (session.client.instructions or "")
        else:
            assert "Ingest rules (ingest_events)" in (session.client.instructions or "")


async def test_the_selection_is_logged_at_startup() -> None:
    """What the operator reads on stderr when the selection is not everything, from a spawned server."""
    async with stdio_session(server_env(None), *SANDBOX, "--read-only", "--tools", "ingest_events,list_events") as s:
        listed = await s.client.list_tools()
        stderr = s.stderr
    assert [tool.name for tool in listed.tools] == ["list_events"]
    assert "read-only: not serving ingest_events, although named in the tool list" in stderr
    assert "serving only these tools: list_events" in stderr


@pytest.mark.parametrize(
    ("flags", "env", "line"),
    [
        (("--tools", "list_events,nope"), {}, f"dodo-mcp: --tools: unknown tool 'nope'; {VALID}"),
        ((), {"DODO_MCP_TOOLS": "List_Events,x"}, f"dodo-mcp: DODO_MCP_TOOLS: unknown tools 'List_Events', 'x'; {VALID}"),
        (("--read-only", "--tools", "ingest_events"), {},
         f"dodo-mcp: --tools: no tools left to serve (read-only hides ingest_events); {VALID}"),
    ],
)  # fmt: skip
def test_unknown_or_no_tools_fail_at_startup(
    flags: tuple[str, ...],
    env: dict[str, str],
    line: str,
    environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        environ.setenv(name, value)
    code = main([*SANDBOX, *flags])
    captured = capsys.readouterr()
    assert (code, captured.out, captured.err) == (2, "", line + "\n")


def test_the_help_names_every_tool() -> None:
    assert f"Dodo Payments usage events: {', '.join(TOOL_NAMES)}." in (build_parser().description or "")
