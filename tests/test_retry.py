"""Retry and backoff maths, table-driven, with injected time: no test here sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx2
import pytest
from pydantic import SecretStr

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import DodoAPIError, DodoTransportError, RateLimitError
from dodo_mcp.api.models import ListEventsQuery
from dodo_mcp.api.retry import RetryPolicy, is_retryable_status, retry_after_seconds
from dodo_mcp.config import Settings
from dodo_mcp.tools.messages import error_text

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("retry_number", "draw", "expected"),
    [
        (0, 0.0, 0.5),
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (4, 0.0, 8.0),
        (5, 0.0, 8.0),  # capped
        (0, 0.999999, 0.5 * (1 - 0.25 * 0.999999)),  # up to 25% less
        (4, 0.5, 8.0 * 0.875),
    ],
)
def test_backoff(retry_number: int, draw: float, expected: float) -> None:
    assert RetryPolicy().backoff(retry_number, draw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "60"}, 60.0),
        ({"retry-after": "61"}, None),  # above the cap: use our own backoff
        ({"retry-after": "0"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "60001"}, None),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise header wins
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
        ({"retry-after": (NOW + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")}, 30.0),
        ({"retry-after": (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")}, None),
        ({"retry-after": (NOW - timedelta(seconds=5)).strftime("%a, %d %b %Y %H:%M:%S GMT")}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (408, True), (409, True), (413, False),
     (422, False), (429, True), (500, True), (502, True), (503, True), (504, True)],
)  # fmt: skip
def test_which_statuses_are_retried(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


class FakeTime:
    """A clock that advances only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(responses: list[httpx2.Response | Exception], time: FakeTime, **settings: float) -> DodoClient:
    queue = list(responses)

    def handler(request: httpx2.Request) -> httpx2.Response:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return DodoClient(
        Settings(api_key=SecretStr("sk"), base_url_override="http://dodo.test", **settings),  # type: ignore[arg-type]
        transport=httpx2.MockTransport(handler),
        sleep=time.sleep,
        clock=time.clock,
        draw=lambda: 0.0,
    )


OK = httpx2.Response(200, json={"items": []})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("responses", "max_retries", "deadline_s", "expected_sleeps", "outcome"),
    [
        ([OK], 2, 30.0, [], "ok"),
        ([httpx2.Response(503), OK], 2, 30.0, [0.5], "ok"),
        ([httpx2.Response(503), httpx2.Response(502), OK], 2, 30.0, [0.5, 1.0], "ok"),
        ([httpx2.Response(503)] * 3, 2, 30.0, [0.5, 1.0], "503"),
        ([httpx2.Response(503)] * 2, 1, 30.0, [0.5], "503"),
        ([httpx2.Response(429, headers={"retry-after": "3"}), OK], 2, 30.0, [3.0], "ok"),
        ([httpx2.Response(429, headers={"retry-after": "120"}), OK], 2, 30.0, [0.5], "ok"),
        ([httpx2.Response(429, headers={"retry-after": "40"}), OK], 2, 30.0, [], "429"),  # would overrun
        ([httpx2.ConnectError("refused"), OK], 2, 30.0, [0.5], "ok"),
        (
            [httpx2.ReadError("reset"), httpx2.ReadError("reset"), httpx2.ReadError("reset")],
            2,
            30.0,
            [0.5, 1.0],
            "transport",
        ),
        ([httpx2.Response(400)], 2, 30.0, [], "400"),
        ([httpx2.Response(408), httpx2.Response(409), OK], 2, 30.0, [0.5, 1.0], "ok"),
        ([httpx2.Response(503)] * 5, 4, 3.0, [0.5, 1.0], "503"),  # 0.5 + 1 + 2 > 3 s: stop before the third wait
    ],
)
async def test_retries_within_the_deadline(
    responses: list[httpx2.Response | Exception],
    max_retries: int,
    deadline_s: float,
    expected_sleeps: list[float],
    outcome: str,
) -> None:
    time = FakeTime()
    client = client_for(responses, time, max_retries=max_retries, deadline_s=deadline_s)
    async with client:
        if outcome == "ok":
            assert await client.list_events(ListEventsQuery()) == []
        elif outcome == "transport":
            with pytest.raises(DodoTransportError):
                await client.list_events(ListEventsQuery())
        else:
            with pytest.raises(DodoAPIError) as caught:
                await client.list_events(ListEventsQuery())
            assert caught.value.status == int(outcome)
    assert time.sleeps == expected_sleeps


@pytest.mark.anyio
async def test_a_wait_past_the_deadline_says_when_to_come_back() -> None:
    time = FakeTime()
    response = httpx2.Response(429, headers={"retry-after": "40"}, json={"code": "TOO_MANY_REQUESTS"})
    async with client_for([response], time, deadline_s=30.0) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.list_events(ListEventsQuery())
    # The API layer's facts; the words are the tools layer's.
    assert (str(caught.value), caught.value.retry_in, caught.value.attempts) == (
        "Dodo API error 429 TOO_MANY_REQUESTS.",
        40.0,
        1,
    )
    assert error_text(caught.value) == (
        "Dodo API error 429 TOO_MANY_REQUESTS. Not retried: the next try was due in 40.0 s, past this call's "
        "30 s deadline. Wait about 40 s and call again."
    )
