"""ingest_events asks the user before it sends to Dodo's live host, in both protocol eras (issue 14, item 5).

Through the SDK's own client in-process, with its elicitation callback as the user: up to 2025-11-25
(mode "legacy") the server asks mid-call with elicitation/create; from 2026-07-28 (mode "auto") the
call answers "input required" and the client's driver calls again with the answer.

The live URL lands on the DodoDouble through DodoClient's transport seam (ToTheDouble): the settings
are exactly live_mode's, so the server decides from the URL it really builds its requests for, and
the request still reaches only 127.0.0.1, where the double records it (its Host header says live).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ElicitRequestParams, ElicitResult, InputRequiredResult, InputResponses

from dodo_mcp.config import LIVE_INGEST_CONFIRMATION_ENV, Settings, settings_from_env
from dodo_mcp.sandbox import open_store, sandbox_backend
from dodo_mcp.server import build_server
from tests.conftest import (
    CAPTURED,
    Session,
    counts,
    dodo_settings,
    ingest_counts,
    logged_lines,
    server_env,
    text_of,
)
from tests.dodo_double import DodoDouble

pytestmark = pytest.mark.anyio

MODES = ["legacy", "auto"]
LIVE_URL = "https://live.dodopayments.com"
EVENTS = [
    {"event_id": "e1", "customer_id": "cus_1", "event_name": "api_request", "metadata": {"tokens": 5}},
    {"event_id": "e2", "customer_id": "cus_2", "event_name": "api_request"},
    {"event_id": "e3", "customer_id": "cus_1", "event_name": "api_request"},
]
QUESTION = (
    "Send 3 usage events for 2 customers to Dodo Payments live_mode at https://live.dodopayments.com? Live "
    "events count toward your customers' usage-based billing, and Dodo's API cannot delete them."
)
FORM = {
    "type": "object",
    "title": "Confirm a live ingest",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Send to live_mode",
            "description": "Yes sends these events to Dodo Payments live_mode, where they are billed; no sends nothing.",
        }
    },
    "required": ["confirm"],
}
# The 2026-07-28 requestedSchema has no title: the SDK sends the form without it.
FORMS = {"legacy": FORM, "auto": {name: value for name, value in FORM.items() if name != "title"}}
NOTHING_SENT = "Nothing was sent, and no event from this call was recorded."
DECLINED = (
    "The user declined to send these 3 usage events to Dodo Payments live_mode at https://live.dodopayments.com. "
    f"{NOTHING_SENT} Do not send them again unless the user asks you to."
)
DISMISSED = (
    "The user dismissed the confirmation to send these 3 usage events to Dodo Payments live_mode at "
    f"https://live.dodopayments.com without answering. {NOTHING_SENT} Ask the user whether to send them before "
    "calling ingest_events again."
)
UNCONFIRMABLE = (
    "Not sent: this server requires the user's confirmation before any ingest to Dodo Payments live_mode at "
    "https://live.dodopayments.com (--live-ingest-confirmation required, or "
    "DODO_MCP_LIVE_INGEST_CONFIRMATION=required), and this client cannot ask the user (it does not support MCP "
    f"elicitation). {NOTHING_SENT} To allow these 3 usage events, use a client that supports elicitation, or have "
    "the server's operator set --live-ingest-confirmation auto (ask only when the client can) or off (never ask)."
)


class ToTheDouble(httpx2.AsyncBaseTransport):
    """Sends every request to the DodoDouble on 127.0.0.1, whatever host it is addressed to; keeps the URLs asked for."""

    def __init__(self, double_url: str) -> None:
        self._double = httpx2.URL(double_url)
        self._http = httpx2.AsyncHTTPTransport()
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.urls.append(str(request.url))
        request.url = request.url.copy_with(scheme=self._double.scheme, host=self._double.host, port=self._double.port)
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


class User:
    """The elicitation callback: answers every question with `action` (and `content`), and keeps what it was asked."""

    def __init__(self, action: str, content: dict[str, Any] | None = None) -> None:
        self.action = action
        self.content = content
        self.asked: list[ElicitRequestParams] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params)
        return ElicitResult(action=self.action, content=self.content)  # type: ignore[arg-type]

    def questions(self) -> list[tuple[str, dict[str, Any]]]:
        return [(params.message, params.requested_schema) for params in self.asked]  # type: ignore[union-attr]


def live_settings(**overrides: Any) -> Settings:
    """live_mode, with no base URL override: requests are built for https://live.dodopayments.com."""
    return replace(dodo_settings(), environment="live_mode", **overrides)


@asynccontextmanager
async def live_session(
    settings: Settings,
    transport: httpx2.AsyncBaseTransport,
    *,
    mode: str,
    user: User | None = None,
) -> AsyncIterator[Session]:
    """The SDK's client with the server in-process; `user` answers its questions (None: no elicitation)."""
    with logged_lines() as lines:
        server = build_server(settings, transport=transport)
        async with Client(server, mode=mode, elicitation_callback=user) as client:  # type: ignore[arg-type]
            yield Session(client, lines)


async def ingest(session: Session) -> CallToolResult:
    return await session.call("ingest_events", {"events": EVENTS})


def sent_bodies(dodo: DodoDouble) -> list[Any]:
    return [request.json() for request in dodo.requests]


@pytest.mark.parametrize("mode", MODES)
async def test_a_confirmed_live_ingest_sends_the_events_after_asking(dodo: DodoDouble, mode: str) -> None:
    user, transport = User("accept", {"confirm": True}), ToTheDouble(dodo.url)
    async with live_session(live_settings(), transport, mode=mode, user=user) as session:
        result = await ingest(session)
    assert not result.is_error, text_of(result)
    assert counts(result.structured_content) == ingest_counts(submitted=3, ingested=3)
    assert user.questions() == [(QUESTION, FORMS[mode])]
    assert transport.urls == [f"{LIVE_URL}/events/ingest"]
    [request] = dodo.requests
    assert (request.method, request.path, request.headers["host"]) == (
        "POST",
        "/events/ingest",
        "live.dodopayments.com",
    )
    assert request.json() == {"events": EVENTS}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("action", "content", "words"),
    [
        ("decline", None, DECLINED),
        # Accepting the form with "no" is a decline too.
        ("accept", {"confirm": False}, DECLINED),
        ("cancel", None, DISMISSED),
    ],
    ids=["decline", "accept-no", "cancel"],
)
async def test_a_declined_or_dismissed_live_ingest_sends_nothing_and_says_so(
    dodo: DodoDouble, mode: str, action: str, content: dict[str, Any] | None, words: str
) -> None:
    user = User(action, content)
    async with live_session(live_settings(), ToTheDouble(dodo.url), mode=mode, user=user) as session:
        result = await ingest(session)
    assert (result.is_error, text_of(result), result.structured_content) == (True, words, None)
    assert user.questions() == [(QUESTION, FORMS[mode])]
    assert dodo.requests == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_elicitation_ingests_live_as_before(dodo: DodoDouble, mode: str) -> None:
    async with live_session(live_settings(), ToTheDouble(dodo.url), mode=mode) as session:
        result = await ingest(session)
    assert counts(result.structured_content) == ingest_counts(submitted=3, ingested=3)
    assert sent_bodies(dodo) == [{"events": EVENTS}]


@pytest.mark.parametrize("mode", MODES)
async def test_off_never_asks_even_a_client_that_can(dodo: DodoDouble, mode: str) -> None:
    user = User("decline")
    settings = live_settings(live_ingest_confirmation="off")
    async with live_session(settings, ToTheDouble(dodo.url), mode=mode, user=user) as session:
        result = await ingest(session)
    assert counts(result.structured_content) == ingest_counts(submitted=3, ingested=3)
    assert user.asked == []
    assert sent_bodies(dodo) == [{"events": EVENTS}]


@pytest.mark.parametrize("mode", MODES)
async def test_required_refuses_a_live_ingest_the_client_cannot_confirm(dodo: DodoDouble, mode: str) -> None:
    settings = live_settings(live_ingest_confirmation="required")
    async with live_session(settings, ToTheDouble(dodo.url), mode=mode) as session:
        result = await ingest(session)
    assert (result.is_error, text_of(result)) == (True, UNCONFIRMABLE)
    assert dodo.requests == []


@pytest.mark.parametrize("mode", MODES)
async def test_required_with_a_client_that_can_ask_asks(dodo: DodoDouble, mode: str) -> None:
    user = User("accept", {"confirm": True})
    settings = live_settings(live_ingest_confirmation="required")
    async with live_session(settings, ToTheDouble(dodo.url), mode=mode, user=user) as session:
        result = await ingest(session)
    assert not result.is_error
    assert user.questions() == [(QUESTION, FORMS[mode])]
    assert sent_bodies(dodo) == [{"events": EVENTS}]


@pytest.mark.parametrize("mode", MODES)
async def test_a_base_url_override_on_the_live_host_is_asked_about(dodo: DodoDouble, mode: str) -> None:
    """test_mode says the environment, but the URL actually used is live's: the URL decides."""
    user = User("decline")
    settings = replace(dodo_settings(), base_url_override=f"{LIVE_URL}/")
    async with live_session(settings, ToTheDouble(dodo.url), mode=mode, user=user) as session:
        result = await ingest(session)
    assert (result.is_error, text_of(result)) == (True, DECLINED)
    assert dodo.requests == []


@pytest.mark.parametrize("mode", MODES)
async def test_test_mode_and_a_local_base_url_are_never_asked_about(dodo: DodoDouble, mode: str) -> None:
    """Even with confirmation required: live_mode's environment with the URL overridden to the double is not live."""
    user = User("decline")
    for settings in (
        replace(dodo_settings(), live_ingest_confirmation="required"),
        live_settings(base_url_override=dodo.url, live_ingest_confirmation="required"),
    ):
        async with live_session(settings, ToTheDouble(dodo.url), mode=mode, user=user) as session:
            result = await ingest(session)
        assert counts(result.structured_content) == ingest_counts(submitted=3, ingested=3)
    assert user.asked == []
    assert sent_bodies(dodo) == [{"events": EVENTS}, {"events": EVENTS}]


@pytest.mark.parametrize("mode", MODES)
async def test_the_sandbox_is_never_asked_about(mode: str) -> None:
    user = User("decline")
    store = open_store(":memory:")
    try:
        settings, transport = sandbox_backend(live_settings(live_ingest_confirmation="required"), store)
        async with live_session(settings, transport, mode=mode, user=user) as session:
            result = await ingest(session)
    finally:
        store.close()
    assert counts(result.structured_content) == ingest_counts(submitted=3, ingested=3)
    assert user.asked == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_missing_key_is_said_before_anyone_is_asked(dodo: DodoDouble, mode: str) -> None:
    user = User("accept", {"confirm": True})
    async with live_session(live_settings(api_key=None), ToTheDouble(dodo.url), mode=mode, user=user) as session:
        result = await ingest(session)
    assert result.is_error
    assert text_of(result).startswith("The server has no Dodo API key: DODO_PAYMENTS_API_KEY is not set.")
    assert (user.asked, dodo.requests) == ([], [])


async def test_a_2026_answer_counts_only_for_the_question_the_user_was_shown(dodo: DodoDouble) -> None:
    """An answer counts only with the round's request_state: an unasked one asks, one for other events is refused."""
    async with live_session(live_settings(), ToTheDouble(dodo.url), mode="auto", user=User("decline")) as session:
        calls = session.client.session
        accept: InputResponses = {"confirm": ElicitResult(action="accept", content={"confirm": True})}
        # An answer nobody asked for (no request_state) is not a confirmation.
        unasked = await calls.call_tool(
            "ingest_events", {"events": EVENTS}, input_responses=accept, allow_input_required=True
        )
        assert isinstance(unasked, InputRequiredResult)
        assert [request.params.message for request in (unasked.input_requests or {}).values()] == [QUESTION]  # type: ignore[union-attr]
        # The answer to three events does not confirm two: the SDK binds the sealed state to the request.
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await calls.call_tool(
                "ingest_events",
                {"events": EVENTS[:2]},
                input_responses=accept,
                request_state=unasked.request_state,
                allow_input_required=True,
            )
        assert dodo.requests == []
        # The same events, with the answer to their question, go.
        confirmed = await calls.call_tool(
            "ingest_events",
            {"events": EVENTS},
            input_responses=accept,
            request_state=unasked.request_state,
            allow_input_required=True,
        )
        CAPTURED.append(repr(confirmed))
    assert isinstance(confirmed, CallToolResult) and not confirmed.is_error
    assert sent_bodies(dodo) == [{"events": EVENTS}]


def test_the_setting_comes_from_the_flag_then_the_environment_then_auto() -> None:
    env = {LIVE_INGEST_CONFIRMATION_ENV: "Required"}
    assert settings_from_env({}).live_ingest_confirmation == "auto"
    assert settings_from_env(env).live_ingest_confirmation == "required"
    assert settings_from_env(env, live_ingest_confirmation="off").live_ingest_confirmation == "off"


def test_a_bad_setting_stops_the_server_with_one_line() -> None:
    env = server_env(None, DODO_MCP_LIVE_INGEST_CONFIRMATION="sometimes")
    process = subprocess.run(
        [sys.executable, "-m", "dodo_mcp"], capture_output=True, text=True, env=env, timeout=30, input=""
    )
    assert (process.returncode, process.stdout) == (2, "")
    assert process.stderr == (
        "dodo-mcp: DODO_MCP_LIVE_INGEST_CONFIRMATION must be one of auto, off, required, not 'sometimes'\n"
    )
