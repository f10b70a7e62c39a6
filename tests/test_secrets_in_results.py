"""No secret in any tool result: the Dodo key, a client's own key and the auth token are taken out of the
text and the structured content of every answer, whatever the upstream echoes (issue 13, item 1)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import API_KEY, dodo_settings, server_env, text_of, tool_session
from tests.dodo_double import DodoDouble, Reply
from tests.test_http import TOKEN, mcp_client, serving

pytestmark = pytest.mark.anyio

EVENTS = [{"event_id": "e1", "customer_id": "cus_1", "event_name": "api_request"}]
ECHOES = [
    Reply(401, {"code": "UNAUTHORIZED", "message": "key {authorization} refused"}),
    Reply(400, {"code": "INVALID_REQUEST_BODY", "message": "bad body sent with {authorization}"}),
    Reply(500, {"code": "INTERNAL", "message": "crashed on {authorization}"}),
    Reply(502, "<html><body>Bad gateway for {authorization}</body></html>"),
    Reply(200, "{authorization} is not json"),
]


def leaks(result: Any, secret: str) -> bool:
    return secret in text_of(result) or secret in repr(result.structured_content)


@pytest.mark.parametrize("echo", ECHOES, ids=["401", "400", "500", "502-html", "malformed-200"])
@pytest.mark.parametrize("tool", ["ingest_events", "list_events", "retrieve_event"])
async def test_an_echoed_key_never_reaches_the_agent(dodo: DodoDouble, echo: Reply, tool: str) -> None:
    """Before: `Dodo API error 401 UNAUTHORIZED: key Bearer <the key> refused.` went to the agent as it came."""
    arguments = {"ingest_events": {"events": EVENTS}, "list_events": {}, "retrieve_event": {"event_id": "e1"}}[tool]
    dodo.script(*[echo] * 3)
    async with tool_session(dodo_settings(dodo.url, max_retries=0)) as session:
        result = await session.call(tool, arguments)
    assert result.is_error
    assert dodo.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert not leaks(result, API_KEY), text_of(result)
    # An HTML page is not quoted at all; the other bodies are, with the key taken out.
    assert ("Bearer [redacted]" in text_of(result)) == (echo.status != 502)


async def test_a_clients_own_key_and_the_auth_token_are_taken_out_too(dodo: DodoDouble) -> None:
    """Over real Streamable HTTP with --per-client-api-key: the key the client sent and the MCP token."""
    own_key = "sk_test_client_own_key_777"
    dodo.script(Reply(401, {"code": "UNAUTHORIZED", "message": "key {authorization} refused; token " + TOKEN}))
    env = server_env(dodo.url, DODO_MCP_AUTH_TOKEN=TOKEN, DODO_MCP_MAX_RETRIES="0")
    with serving("--transport", "streamable-http", "--per-client-api-key", env=env) as served:
        async with mcp_client(served, "streamable-http", {"x-dodo-payments-api-key": own_key}) as client:
            result = await client.call_tool("list_events", {})
    assert dodo.requests[0].headers["authorization"] == f"Bearer {own_key}"
    assert result.is_error
    assert not leaks(result, own_key) and not leaks(result, TOKEN)
    assert text_of(result).count("[redacted]") == 2


async def test_a_secret_in_a_successful_results_data_is_taken_out_of_text_and_structured_content(
    dodo: DodoDouble,
) -> None:
    event = {
        "business_id": "bus_1",
        "customer_id": "cus_1",
        "event_id": "e1",
        "event_name": "api_request",
        "timestamp": "2026-11-26T10:30:00Z",
        "metadata": {"note": "sent with {authorization}", "{authorization}": 1},
    }
    dodo.script(Reply(body=event))
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("retrieve_event", {"event_id": "e1"})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["metadata"] == {"note": "sent with Bearer [redacted]", "Bearer [redacted]": 1}
    assert not leaks(result, API_KEY)


async def test_results_without_secrets_are_left_exactly_as_they_are(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url, api_key=SecretStr("x"))) as session:
        result = await session.call("retrieve_event", {"event_id": "e1"})
    # A one-character "key" is no secret worth redacting: every "x" would go.
    assert "[redacted]" not in text_of(result)
    assert result.structured_content is not None and result.structured_content["event_id"] == "evt_1"
