"""The API layer's errors carry facts, not advice: the operation, the status and Dodo's own code and message,
whether a write is unconfirmed, and when to retry. DodoClient over httpx2's MockTransport, with no MCP at all;
the words an agent reads for the same facts are checked through a real client in test_errors.py."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import (
    ConfigurationError,
    DodoAPIError,
    DodoError,
    DodoResponseError,
    DodoTransportError,
    NotFoundError,
    Operation,
    RateLimitError,
)
from dodo_mcp.api.fast_events import EventRecord
from dodo_mcp.api.models import ListEventsQuery
from dodo_mcp.config import Settings
from dodo_mcp.tools.messages import UNCONFIRMED_INGEST, error_text

pytestmark = pytest.mark.anyio

EVENTS: list[EventRecord] = [{"event_id": "e1", "customer_id": "c", "event_name": "n"}]


def client(*replies: httpx2.Response | Exception, **settings: Any) -> DodoClient:
    """A client whose requests get `replies` in turn (the last one again and again)."""
    queue = list(replies)

    def handler(request: httpx2.Request) -> httpx2.Response:
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    base = {"api_key": SecretStr("sk_test_facts"), "base_url_override": "http://dodo.test", "max_retries": 0}
    return DodoClient(Settings(**{**base, **settings}), transport=httpx2.MockTransport(handler))


async def failure_of(dodo: DodoClient, operation: Operation) -> DodoError:
    async with dodo:
        with pytest.raises(DodoError) as caught:
            if operation is Operation.INGEST_EVENTS:
                await dodo.ingest_events(EVENTS)
            elif operation is Operation.LIST_EVENTS:
                await dodo.list_events(ListEventsQuery(meter_id="mtr_1"))
            elif operation is Operation.RETRIEVE_EVENT:
                await dodo.retrieve_event("e1")
            else:
                await dodo.retrieve_meter("mtr_1")
    return caught.value


BODY = {"code": "INTERNAL_SERVER_ERROR", "message": "boom"}


@pytest.mark.parametrize(
    ("reply", "operation", "kind", "unconfirmed"),
    [
        (httpx2.Response(503, json=BODY), Operation.INGEST_EVENTS, DodoAPIError, True),
        (httpx2.Response(503, json=BODY), Operation.LIST_EVENTS, DodoAPIError, False),
        (httpx2.Response(400, json=BODY), Operation.INGEST_EVENTS, DodoAPIError, False),
        (httpx2.Response(429, json=BODY), Operation.INGEST_EVENTS, RateLimitError, False),
        (httpx2.ReadError("reset"), Operation.INGEST_EVENTS, DodoTransportError, True),
        (httpx2.ConnectError("refused"), Operation.RETRIEVE_EVENT, DodoTransportError, False),
        (httpx2.Response(200, content=b"<html>"), Operation.INGEST_EVENTS, DodoResponseError, True),
        (httpx2.Response(200, content=b"{}"), Operation.RETRIEVE_METER, DodoResponseError, False),
    ],
)
async def test_whether_a_write_is_unconfirmed_is_a_fact_of_the_error(
    reply: httpx2.Response | Exception, operation: Operation, kind: type[DodoError], unconfirmed: bool
) -> None:
    error = await failure_of(client(reply), operation)
    assert type(error) is kind
    assert (error.operation, error.unconfirmed, error.attempts) == (operation, unconfirmed, 1)
    assert error.request is not None and error.request.environment == "test_mode"
    assert "sk_test_facts" not in str(error) and "sk_test_facts" not in repr(error.request)


async def test_dodos_code_message_and_what_is_missing() -> None:
    error = await failure_of(
        client(httpx2.Response(404, json={"code": "NOT_FOUND", "message": "Meter gone"})), Operation.LIST_EVENTS
    )
    assert isinstance(error, NotFoundError)
    assert (error.status, error.code, error.detail, error.missing) == (404, "NOT_FOUND", "Meter gone", "meter")
    assert str(error) == "Dodo API error 404 NOT_FOUND: Meter gone."
    retrieved = await failure_of(client(httpx2.Response(404)), Operation.RETRIEVE_EVENT)
    assert isinstance(retrieved, NotFoundError) and retrieved.missing == "event"
    assert (retrieved.code, retrieved.detail, str(retrieved)) == (None, None, "Dodo API error 404.")


async def test_when_to_retry() -> None:
    asked = await failure_of(client(httpx2.Response(429, headers={"retry-after": "7"})), Operation.LIST_EVENTS)
    assert isinstance(asked, RateLimitError) and (asked.retry_after, asked.retry_in) == (7.0, None)
    # A retry due past the deadline is not made; the error says when it was due.
    late = client(httpx2.Response(429, headers={"retry-after": "40"}), max_retries=2, deadline_s=30)
    error = await failure_of(late, Operation.INGEST_EVENTS)
    assert (error.retry_in, error.attempts, error.unconfirmed) == (40.0, 1, False)
    assert error_text(error) == (
        "Dodo API error 429. Not retried: the next try was due in 40.0 s, past this call's 30 s deadline. "
        "Wait about 40 s and call again."
    )


async def test_an_earlier_attempt_that_may_have_stored_the_events_leaves_the_write_unconfirmed() -> None:
    # A 503 (the batch may have been stored), then a 429 (it was not, this time): the events' fate is unknown.
    after_503 = client(httpx2.Response(503), httpx2.Response(429, headers={"retry-after": "40"}), max_retries=2)
    error = await failure_of(after_503, Operation.INGEST_EVENTS)
    assert isinstance(error, RateLimitError)
    assert (error.attempts, error.retry_in, error.unconfirmed) == (2, 40.0, True)
    assert error_text(error).endswith(f"Wait about 40 s and call again. {UNCONFIRMED_INGEST}")
    # A read is never unconfirmed, whatever its attempts met.
    read = await failure_of(client(httpx2.Response(503), httpx2.Response(404), max_retries=2), Operation.LIST_EVENTS)
    assert (type(read), read.attempts, read.unconfirmed) == (NotFoundError, 2, False)


async def test_no_key_is_a_fact_the_tools_put_in_words() -> None:
    error = await failure_of(client(httpx2.Response(200), api_key=None), Operation.RETRIEVE_EVENT)
    assert isinstance(error, ConfigurationError)
    assert (str(error), error.environment) == ("No Dodo API key is configured for test_mode.", "test_mode")
    assert error_text(error).startswith("The server has no Dodo API key: DODO_PAYMENTS_API_KEY is not set.")
