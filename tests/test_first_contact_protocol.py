"""What a first-time client meets on the protocol: prompts/get's errors and the advertised capabilities.

Through the SDK's client, in-process (both the legacy handshake and the 2026-07-28 discovery) and over
real stdio, where stderr shows what the server logged.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from dodo_mcp.server import build_server
from tests.conftest import Session, dodo_settings, sandbox_session, server_env, stdio_session

pytestmark = pytest.mark.anyio

MODES = ["legacy", "auto"]
OFFERED = (
    "This server offers: investigate_missing_usage, summarize_customer_usage, check_event_shape, explain_usage_bill."
)
SUMMARIZE = "summarize_customer_usage"
PERIOD = {"customer_id": "cus_a", "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}
# (name, arguments) -> what the client reads.
REFUSED = [
    ("nope", {}, f"There is no prompt 'nope'. {OFFERED}"),
    (
        SUMMARIZE,
        {"customer_id": "cus_a"},
        "The prompt 'summarize_customer_usage' is missing its required arguments start and end (or they are "
        "empty). start: Start of the period, RFC 3339 (e.g. 2026-11-01T00:00:00Z). end: End of the period, "
        "RFC 3339. Fill them in and get the prompt again.",
    ),
    (
        "investigate_missing_usage",
        {"customer_id": "  "},
        "The prompt 'investigate_missing_usage' is missing its required argument customer_id (or it is empty). "
        "customer_id: The customer_id whose usage to look at. Fill it in and get the prompt again.",
    ),
    (
        SUMMARIZE,
        {**PERIOD, "period": "november"},
        "The prompt 'summarize_customer_usage' has no argument 'period'; its arguments are customer_id, start, "
        "end and meter_id (optional).",
    ),
]
# Every session of this server advertises exactly these: it serves tools, prompts and their arguments'
# completion, log messages, and the MCP App view of summarize_events and usage_history (a ui:// resource,
# and the io.modelcontextprotocol/ui extension), nothing else.
TOOLS_PROMPTS_AND_VIEWS = {
    "tools": {"listChanged": False},
    "prompts": {"listChanged": False},
    "completions": {},
    "logging": {},
    "resources": {"subscribe": False, "listChanged": False},
    "extensions": {"io.modelcontextprotocol/ui": {}},
}


def served(mode: str) -> dict[str, Any]:
    """TOOLS_PROMPTS_AND_VIEWS as a connection in `mode` sees it: capabilities.extensions is a 2026-07-28
    field, so a legacy handshake does not carry it (hosts find the view through the tools' _meta alone)."""
    if mode == "legacy":
        return {name: value for name, value in TOOLS_PROMPTS_AND_VIEWS.items() if name != "extensions"}
    return TOOLS_PROMPTS_AND_VIEWS


def advertised(session: Session) -> dict[str, Any]:
    return session.client.server_capabilities.model_dump(by_alias=True, exclude_none=True, mode="json")


async def refusal(session: Session, name: str, arguments: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(MCPError) as refused:
        await session.client.get_prompt(name, arguments)
    return refused.value.code, refused.value.message


# 5. prompts/get: invalid params, with words to act on


@pytest.mark.parametrize("mode", MODES)
async def test_a_bad_prompts_get_is_invalid_params_saying_what_to_fix(mode: str) -> None:
    async with sandbox_session(mode=mode) as session:
        answers = [await refusal(session, name, arguments) for name, arguments, _ in REFUSED]
        # The same prompt, asked right, still renders.
        rendered = await session.client.get_prompt(SUMMARIZE, PERIOD)
    assert answers == [(INVALID_PARAMS, words) for _, _, words in REFUSED]
    assert rendered.messages[0].content.type == "text"


async def test_a_prompt_its_tools_do_not_allow_is_named_with_the_tools_it_needs() -> None:
    async with sandbox_session(tools=["summarize_events"]) as session:
        answer = await refusal(session, "check_event_shape", {"event_name": "api_request"})
    assert answer == (
        INVALID_PARAMS,
        "The prompt 'check_event_shape' is not offered here: it needs the tools explain_meter_match, list_events, "
        "which this server does not serve (see --tools and --read-only). This server offers: "
        "summarize_customer_usage.",
    )


@pytest.mark.parametrize("mode", MODES)
async def test_over_stdio_a_bad_prompts_get_logs_no_traceback(mode: str) -> None:
    async with stdio_session(server_env(), "--sandbox", "--sandbox-db", ":memory:", mode=mode) as session:
        answers = [await refusal(session, name, arguments) for name, arguments, _ in REFUSED]
        await session.client.list_tools()  # the server is still up
        stderr = session.stderr
    assert answers == [(INVALID_PARAMS, words) for _, _, words in REFUSED]
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if " ERROR " in line] == []


# 6. the capabilities advertise what is served, and follow what is registered


@pytest.mark.parametrize("mode", MODES)
async def test_in_process_the_capabilities_are_the_tools_and_the_prompts(mode: str) -> None:
    async with sandbox_session(mode=mode) as session:
        assert advertised(session) == served(mode)
    # With no prompt's tools served, no prompts are served, nor advertised, nor completion of their arguments.
    async with sandbox_session(tools=["list_events"], mode=mode) as session:
        assert advertised(session) == {"tools": {"listChanged": False}, "logging": {}}
        assert (await session.client.list_prompts()).prompts == []


@pytest.mark.parametrize("mode", MODES)
async def test_over_stdio_the_capabilities_are_the_tools_and_the_prompts(mode: str) -> None:
    async with stdio_session(server_env(), "--sandbox", "--sandbox-db", ":memory:", mode=mode) as session:
        assert advertised(session) == served(mode)
    async with stdio_session(server_env(), "--sandbox", "--tools", "retrieve_event", mode=mode) as session:
        assert advertised(session) == {"tools": {"listChanged": False}, "logging": {}}


@pytest.mark.parametrize("mode", MODES)
async def test_a_resource_registered_later_is_advertised(mode: str) -> None:
    """A resource registered on the built server with the SDK's own API, where none is served (no tool with a view)."""
    server = build_server(dodo_settings("http://127.0.0.1:9"), tools=["list_events"])
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        assert "resources" not in client.server_capabilities.model_dump(exclude_none=True)

    @server.resource("ui://dodo/usage", name="usage", mime_type="text/html")
    def usage() -> str:
        return "<p>usage</p>"

    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        capabilities = client.server_capabilities.model_dump(by_alias=True, exclude_none=True, mode="json")
        listed = await client.list_resources()
    assert sorted(capabilities) == ["logging", "resources", "tools"]
    assert [str(resource.uri) for resource in listed.resources] == ["ui://dodo/usage"]
