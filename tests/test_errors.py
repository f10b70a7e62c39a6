"""Every failure is an isError result with an exact, actionable text, and the server stays up.

The server runs in-process behind the SDK's client, against a real HTTP double on 127.0.0.1; what only a
process shows (the startup notice on stderr) is checked on a spawned one.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.conftest import (
    ALL_TOOLS,
    counts,
    dodo_settings,
    ingest_counts,
    server_env,
    stdio_session,
    text_of,
    tool_session,
)
from tests.dodo_double import EVENT, DodoDouble, Reply

pytestmark = pytest.mark.anyio

EVENTS = [{"event_id": "e1", "customer_id": "c", "event_name": "n"}]
UNCONFIRMED = (
    "Whether these events were stored is unconfirmed. It is safe to call ingest_events again with the same "
    "events: Dodo ignores event_ids it already has, so nothing is double-counted."
)
HTML_PAGE = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

# (reply, tool, arguments, exact text)
API_ERROR_CASES: list[tuple[Reply, str, dict[str, Any], str]] = [
    (
        Reply(401, {"code": "UNAUTHORIZED", "message": "Invalid API key"}),
        "list_events",
        {},
        "Dodo API error 401 UNAUTHORIZED: Invalid API key. The API key was refused. Keys are per environment: "
        "this server uses test_mode, and a live_mode key answers 401 here. Ask the user to check "
        "DODO_PAYMENTS_API_KEY and DODO_PAYMENTS_ENVIRONMENT in the server's configuration; retrying will not help.",
    ),
    (
        Reply(404, {"code": "NOT_FOUND", "message": "Event not found"}),
        "retrieve_event",
        {"event_id": "EVT_1"},
        "Dodo API error 404 NOT_FOUND: Event not found. No event with this event_id exists in test_mode. "
        "Event IDs are case-sensitive and must match exactly; check the id, or find it with list_events.",
    ),
    (
        Reply(404, {"code": "NOT_FOUND", "message": "Meter not found"}),
        "list_events",
        {"meter_id": "mtr_x"},
        "Dodo API error 404 NOT_FOUND: Meter not found. No meter with meter_id 'mtr_x' exists in test_mode. "
        "Check the id, or call again without meter_id.",
    ),
    (
        Reply(400, {"code": "INVALID_QUERY_PARAMS", "message": "event_name does not match meter"}),
        "list_events",
        {"meter_id": "mtr_x", "event_name": "other"},
        "Dodo API error 400 INVALID_QUERY_PARAMS: event_name does not match meter. Dodo rejected the query. "
        "With meter_id, an event_name must equal the meter's own event_name (or be left out); also check start "
        "and end.",
    ),
    (
        Reply(422, {"code": "INVALID_REQUEST_BODY", "message": "events[0].metadata: invalid"}),
        "ingest_events",
        {"events": EVENTS},
        "Dodo API error 422 INVALID_REQUEST_BODY: events[0].metadata: invalid. Dodo rejected the request. Fix "
        "what the message names and call again. Nothing from this request was stored.",
    ),
    (
        Reply(413, b""),
        "ingest_events",
        {"events": EVENTS},
        "Dodo API error 413. The request was too large. Send fewer events per call.",
    ),
    (
        Reply(429, {"code": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}, {"Retry-After": "7"}),
        "list_events",
        {},
        "Dodo API error 429 TOO_MANY_REQUESTS: Rate limit exceeded. Dodo's rate limit is 100 requests a minute "
        "per key. Wait about 7 s and call again.",
    ),
    (
        Reply(502, HTML_PAGE),
        "list_events",
        {},
        "Dodo API error 502: the server sent an HTML page instead of a JSON error (often a proxy or gateway "
        "error). Dodo had a server error; it was retried within this call's deadline. Try again in a minute.",
    ),
    (
        Reply(503, b""),
        "ingest_events",
        {"events": EVENTS},
        "Dodo API error 503. Dodo had a server error; whether these events were stored is unconfirmed. It is "
        "safe to call ingest_events again with the same events: Dodo ignores event_ids it already has.",
    ),
    (
        Reply(500, b"upstream exploded\x00\n\n  badly"),
        "retrieve_event",
        {"event_id": "e1"},
        "Dodo API error 500: upstream exploded badly. Dodo had a server error; it was retried within this "
        "call's deadline. Try again in a minute.",
    ),
    (
        Reply(200, b"not json"),
        "retrieve_event",
        {"event_id": "e1"},
        "Dodo answered 200 but the body is not an Event (the body: Invalid JSON: expected ident at line 1 "
        "column 2; body starts 'not json'). This is a problem on Dodo's side or in the base URL setting, not in "
        "your call. Try again in a minute; if it persists, check DODO_PAYMENTS_BASE_URL.",
    ),
    (
        Reply(200, {"data": []}),
        "list_events",
        {},
        "Dodo answered 200 but the body is not a list of events (items: Field required; body starts "
        "'{\"data\": []}'). This is a problem on Dodo's side or in the base URL setting, not in your call. "
        "Try again in a minute; if it persists, check DODO_PAYMENTS_BASE_URL.",
    ),
    (
        Reply(200, b""),
        "ingest_events",
        {"events": EVENTS},
        "Dodo answered 200 but the body is not an ingest result (the body: Invalid JSON: EOF while parsing a "
        "value at line 1 column 0; body starts empty). This is a problem on Dodo's side or in the base URL "
        "setting, not in your call. Try again in a minute; if it persists, check DODO_PAYMENTS_BASE_URL.",
    ),
    (
        Reply(drop=True),
        "ingest_events",
        {"events": EVENTS},
        "Could not reach Dodo at {url}: RemoteProtocolError: Server disconnected without sending a response. "
        + UNCONFIRMED,
    ),
]


async def test_api_errors_become_actionable_tool_errors(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url, max_retries=0)) as session:
        for reply, tool, arguments, expected in API_ERROR_CASES:
            dodo.script(reply)
            result = await session.call(tool, arguments)
            assert result.is_error, (tool, reply)
            text = text_of(result)
            if tool == "ingest_events":
                # The same words, then the report naming exactly the unconfirmed events.
                first, report = text.split("\n", 1)
                assert first == expected.replace("{url}", dodo.url)
                assert json.loads(report) == result.structured_content
                assert result.structured_content is not None
                assert result.structured_content["unconfirmed_event_ids"] == ["e1"]
            else:
                assert result.structured_content is None
                assert text == expected.replace("{url}", dodo.url)
        # The server is still up and answers the next good call.
        after = await session.call("retrieve_event", {"event_id": "evt_1"})
    assert after.structured_content == EVENT
    assert len(dodo.requests) == len(API_ERROR_CASES) + 1


async def test_unreachable_dodo_and_deadline(dodo: DodoDouble) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    closed = f"http://127.0.0.1:{closed_port}"
    async with tool_session(dodo_settings(closed, max_retries=0)) as session:
        refused = await session.call("list_events", {})
    assert refused.is_error
    assert text_of(refused) == (
        f"Could not reach Dodo at {closed}: ConnectError: {closed.removeprefix('http://')} refused the connection. "
        "Try the call again in a few seconds."
    )

    dodo.script(Reply(delay_s=3, body=EVENT))
    async with tool_session(dodo_settings(dodo.url, deadline_s=1)) as session:
        slow = await session.call("retrieve_event", {"event_id": "slow"})
        assert (
            text_of(slow)
            == "Dodo did not answer within the 1 s deadline (1 attempt). Try the call again in a few seconds."
        )
        # The deadline covers the retries too: no second attempt fits in it.
        assert [r.raw_path for r in dodo.requests] == ["/events/slow"]


async def test_retries_recover_from_transient_failures(dodo: DodoDouble) -> None:
    dodo.script(Reply(503, b""), Reply(429, {"code": "TOO_MANY_REQUESTS"}, {"retry-after-ms": "50"}))
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("ingest_events", {"events": EVENTS})
    assert counts(result.structured_content) == ingest_counts(submitted=1, ingested=1)
    assert [r.path for r in dodo.requests] == ["/events/ingest"] * 3
    assert len({r.body for r in dodo.requests}) == 1  # every try sent the identical batch


@pytest.mark.parametrize(
    ("first", "answer", "expected", "batch"),
    [
        # A 503 may come after the batch was stored: the retry's "already ingested" may be this call's
        # own events, so neither "new" nor "already there" is claimed for them.
        (Reply(503, b""), 0, ingest_counts(submitted=2, ingested=0, possibly_earlier=2), (0, None, 2)),
        (Reply(503, b""), 1, ingest_counts(submitted=2, ingested=1, possibly_earlier=1), (1, None, 1)),
        (Reply(drop=True), 0, ingest_counts(submitted=2, ingested=0, possibly_earlier=2), (0, None, 2)),
        # A 429 stored nothing: what the retry finds was there before the call.
        (
            Reply(429, {"code": "TOO_MANY_REQUESTS"}, {"retry-after-ms": "10"}),
            0,
            ingest_counts(submitted=2, ingested=0, ignored=2),
            (0, 2, 0),
        ),
    ],
)
async def test_counts_after_a_lost_answer_claim_only_what_is_known(
    dodo: DodoDouble, first: Reply, answer: int, expected: dict[str, int], batch: tuple[Any, ...]
) -> None:
    """Before: 503 then "0 new" reported ingested_count=0, ignored_count=2, though both were new in this call."""
    dodo.script(first, Reply(body={"ingested_count": answer}))
    two = [EVENTS[0], {**EVENTS[0], "event_id": "evt_2"}]
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("ingest_events", {"events": two})
    assert not result.is_error
    report = result.structured_content
    assert counts(report) == expected
    assert report is not None
    [only] = report["batches"]
    assert only["confirmed"] is True and only["attempts"] == 2
    assert (only["ingested_count"], only["ignored_count"], only["possibly_stored_by_earlier_attempt"]) == batch


async def test_no_retry_on_other_client_errors(dodo: DodoDouble) -> None:
    dodo.script(Reply(400, {"code": "INVALID_REQUEST_BODY", "message": "bad"}))
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("ingest_events", {"events": EVENTS})
    assert result.is_error
    assert len(dodo.requests) == 1


async def test_missing_api_key_still_lists_tools_and_names_the_variable(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url, api_key=None)) as session:
        tools = await session.client.list_tools()
        assert len(tools.tools) == len(ALL_TOOLS)
        results = [
            await session.call("retrieve_event", {"event_id": "e1"}),
            await session.call("list_events", {}),
            await session.call("ingest_events", {"events": EVENTS}),
        ]
    expected = (
        "The server has no Dodo API key: DODO_PAYMENTS_API_KEY is not set. Ask the user to set "
        "DODO_PAYMENTS_API_KEY in this MCP server's configuration (a test_mode key from the Dodo dashboard, "
        "Developer > API Keys), or to start the server with --sandbox to try it without an account. Retrying "
        "will not help until then."
    )
    assert [(r.is_error, text_of(r)) for r in results] == [(True, expected)] * 3
    assert dodo.requests == []


async def test_startup_notice_names_environment_and_url_never_the_key(dodo: DodoDouble) -> None:
    env = server_env(None, DODO_PAYMENTS_ENVIRONMENT="live_mode", DODO_MCP_LOG_LEVEL="DEBUG")
    async with stdio_session(env) as session:
        await session.client.list_tools()
        stderr = session.stderr
    first = stderr.splitlines()[0]
    assert first.endswith(
        " INFO dodo_mcp: dodo-mcp 0.1.0: Dodo Payments live_mode at https://live.dodopayments.com (API key set)"
    )
    # Without a key the server still starts, and its first line says what to set.
    async with stdio_session(server_env(dodo.url, DODO_PAYMENTS_API_KEY=None)) as session:
        await session.client.list_tools()
        stderr = session.stderr
    assert "no API key: set DODO_PAYMENTS_API_KEY" in stderr.splitlines()[0]
