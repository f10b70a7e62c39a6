"""Retries, rate-limit waits and unconfirmed ingest batches reach the client as MCP log messages (issue 14, item 6).

Through the SDK's own client in-process, collecting notifications/message with its logging callback,
against the DodoDouble on 127.0.0.1. The level is the client's: up to 2025-11-25 (mode "legacy") it
sets one with logging/setLevel for the connection; from 2026-07-28 (mode "auto") each request opts in
with its `_meta` log level (mcp.Client's log_level). A client that never sets one gets the SDK's
default: every level on the handshake era, nothing on 2026-07-28.

DodoClient's own seams make the waits exact and instant: `draw` (no jitter) and `sleep` (recorded).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from mcp_types import LoggingMessageNotificationParams

from dodo_mcp.api.client import DodoClient
from dodo_mcp.config import Settings
from dodo_mcp.server import build_server
from tests.conftest import API_KEY, CAPTURED, Session, counts, dodo_settings, ingest_counts, logged_lines
from tests.dodo_double import EVENT, DodoDouble, Reply

pytestmark = pytest.mark.anyio

MODES = ["legacy", "auto"]
EVENT_ID = "evt_1"
EVENTS = [{"event_id": f"e{i}", "customer_id": "cus_1", "event_name": "api_request"} for i in range(2)]
RETRYING_503 = (
    "GET /events/{event_id} failed (attempt 1 of 3: Dodo API error 503 INTERNAL_SERVER_ERROR: try later); "
    "retrying in 0.5 s."
)
RATE_LIMITED = (
    "GET /events hit Dodo's rate limit (429, attempt 1 of 3): waiting 2 s, as Dodo's Retry-After asks, then retrying."
)
BATCH_2_UNCONFIRMED = (
    "ingest_events batch 2 of 2, events[1..1] (1 event), was not confirmed after 1 attempt: "
    "Dodo API error 400 INVALID_REQUEST_BODY: bad event."
)


class Logs:
    """The client's logging callback: every notifications/message, as (level, logger, data)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str | None, Any]] = []

    async def __call__(self, params: LoggingMessageNotificationParams) -> None:
        CAPTURED.append(repr(params))
        self.received.append((params.level, params.logger, params.data))


@asynccontextmanager
async def logging_session(
    dodo: DodoDouble, *, mode: str, level: str | None, settings: Settings | None = None
) -> AsyncIterator[tuple[Session, Logs, list[float]]]:
    """A client that asks for `level` (None: never sets one), its log messages, and the waits DodoClient slept."""
    logs, slept = Logs(), []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    settings = settings or dodo_settings(dodo.url)
    client = DodoClient(settings, sleep=sleep, draw=lambda: 0.0)
    opt_in = level if mode != "legacy" else None
    with logged_lines() as lines:
        server = build_server(settings, client=client)
        async with Client(server, mode=mode, logging_callback=logs, log_level=opt_in) as mcp:  # type: ignore[arg-type]
            if mode == "legacy" and level is not None:
                await mcp.set_logging_level(level)  # type: ignore[arg-type]
            yield Session(mcp, lines), logs, slept


def unavailable(message: str = "try later") -> Reply:
    return Reply(503, {"code": "INTERNAL_SERVER_ERROR", "message": message})


def retry_then_partial_ingest(unavailable_says: str = "try later", refusal_says: str = "bad event") -> list[Reply]:
    """What Dodo answers a retrieve_event (a 503, then the event) and an ingest of two batches (the second refused)."""
    return [
        unavailable(unavailable_says),
        Reply(body=EVENT),
        Reply(body={"ingested_count": 1}),
        Reply(400, {"code": "INVALID_REQUEST_BODY", "message": refusal_says}),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_retry_after_a_503_is_logged_at_info(dodo: DodoDouble, mode: str) -> None:
    dodo.script(unavailable())
    async with logging_session(dodo, mode=mode, level="info") as (session, logs, slept):
        result = await session.call("retrieve_event", {"event_id": EVENT_ID})
    assert not result.is_error
    assert logs.received == [("info", "dodo-mcp", RETRYING_503)]
    assert slept == [0.5]
    assert [request.path for request in dodo.requests] == [f"/events/{EVENT_ID}"] * 2


@pytest.mark.parametrize("mode", MODES)
async def test_a_rate_limit_wait_is_logged_with_dodos_retry_after(dodo: DodoDouble, mode: str) -> None:
    dodo.script(Reply(429, {"code": "TOO_MANY_REQUESTS", "message": "slow down"}, headers={"Retry-After": "2"}))
    async with logging_session(dodo, mode=mode, level="info") as (session, logs, slept):
        result = await session.call("list_events", {"customer_id": "cus_1"})
    assert not result.is_error
    assert logs.received == [("info", "dodo-mcp", RATE_LIMITED)]
    assert slept == [2.0]


@pytest.mark.parametrize("mode", MODES)
async def test_each_unconfirmed_ingest_batch_is_logged_as_a_warning(dodo: DodoDouble, mode: str) -> None:
    settings = dodo_settings(dodo.url, ingest_batch_size=1, ingest_concurrency=1)
    dodo.script(Reply(body={"ingested_count": 1}), Reply(400, {"code": "INVALID_REQUEST_BODY", "message": "bad event"}))
    async with logging_session(dodo, mode=mode, level="info", settings=settings) as (session, logs, _):
        result = await session.call("ingest_events", {"events": EVENTS})
    assert result.is_error
    assert counts(result.structured_content) == ingest_counts(submitted=2, ingested=1, unconfirmed=1)
    assert logs.received == [("warning", "dodo-mcp", BATCH_2_UNCONFIRMED)]


@pytest.mark.parametrize("mode", MODES)
async def test_level_error_lets_neither_the_retries_nor_the_batch_warnings_through(dodo: DodoDouble, mode: str) -> None:
    settings = dodo_settings(dodo.url, ingest_batch_size=1, ingest_concurrency=1)
    dodo.script(*retry_then_partial_ingest())
    async with logging_session(dodo, mode=mode, level="error", settings=settings) as (session, logs, slept):
        retrieved = await session.call("retrieve_event", {"event_id": EVENT_ID})
        ingested = await session.call("ingest_events", {"events": EVENTS})
    assert (retrieved.is_error, ingested.is_error) == (False, True)
    assert slept == [0.5]  # the retry happened; only its message was held back
    assert logs.received == []


@pytest.mark.parametrize("mode", MODES)
async def test_warning_lets_the_batch_warnings_through_and_holds_the_retries(dodo: DodoDouble, mode: str) -> None:
    settings = dodo_settings(dodo.url, ingest_batch_size=1, ingest_concurrency=1)
    dodo.script(*retry_then_partial_ingest())
    async with logging_session(dodo, mode=mode, level="warning", settings=settings) as (session, logs, _):
        await session.call("retrieve_event", {"event_id": EVENT_ID})
        await session.call("ingest_events", {"events": EVENTS})
    assert logs.received == [("warning", "dodo-mcp", BATCH_2_UNCONFIRMED)]


@pytest.mark.parametrize(("mode", "expected"), [("legacy", [("info", "dodo-mcp", RETRYING_503)]), ("auto", [])])
async def test_a_client_that_never_sets_a_level_gets_the_sdks_default(
    dodo: DodoDouble, mode: str, expected: list[tuple[str, str, str]]
) -> None:
    """Handshake era: every level (no logging/setLevel yet); 2026-07-28: nothing unless the request opts in."""
    dodo.script(unavailable())
    async with logging_session(dodo, mode=mode, level=None) as (session, logs, _):
        result = await session.call("retrieve_event", {"event_id": EVENT_ID})
    assert not result.is_error
    assert logs.received == expected


@pytest.mark.parametrize("mode", MODES)
async def test_no_log_message_carries_the_key_dodo_echoes(dodo: DodoDouble, mode: str) -> None:
    """The double puts the Authorization header it got into its error bodies: a 503 retried, and a refused batch."""
    settings = dodo_settings(dodo.url, ingest_batch_size=1, ingest_concurrency=1)
    dodo.script(*retry_then_partial_ingest("upstream saw {authorization}", "bad key {authorization}"))
    async with logging_session(dodo, mode=mode, level="debug", settings=settings) as (session, logs, _):
        await session.call("retrieve_event", {"event_id": EVENT_ID})
        await session.call("ingest_events", {"events": EVENTS})
    assert [data for _, _, data in logs.received] == [
        "GET /events/{event_id} failed (attempt 1 of 3: Dodo API error 503 INTERNAL_SERVER_ERROR: upstream saw "
        "Bearer [redacted]); retrying in 0.5 s.",
        "ingest_events batch 2 of 2, events[1..1] (1 event), was not confirmed after 1 attempt: "
        "Dodo API error 400 INVALID_REQUEST_BODY: bad key Bearer [redacted].",
    ]
    assert not [entry for entry in logs.received if API_KEY in repr(entry)]


@pytest.mark.parametrize("mode", MODES)
async def test_the_server_advertises_logging(dodo: DodoDouble, mode: str) -> None:
    async with logging_session(dodo, mode=mode, level=None) as (session, _, _):
        capabilities = session.client.server_capabilities.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert capabilities["logging"] == {}
