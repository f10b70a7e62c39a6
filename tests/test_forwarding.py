"""What dodo-mcp puts on the wire, asserted exactly: the SDK's client with the server in-process, against a real
HTTP double on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from dodo_mcp import __version__
from tests.conftest import ALL_TOOLS, API_KEY, counts, dodo_settings, ingest_counts, text_of, tool_session
from tests.dodo_double import EVENT, DodoDouble

pytestmark = pytest.mark.anyio

# event_id as given -> the single path segment Dodo must receive.
PATH_CASES = [
    ("evt_123", "/events/evt_123"),
    ("Case-Sensitive.ID~1", "/events/Case-Sensitive.ID~1"),
    ("a/b", "/events/a%2Fb"),
    ("../meters", "/events/..%2Fmeters"),
    ("ü", "/events/%C3%BC"),
    ("100%", "/events/100%25"),
    ("%2e%2e", "/events/%252e%252e"),
    ("with space", "/events/with%20space"),
    ("q?x=1#frag", "/events/q%3Fx%3D1%23frag"),
    ("a+b&c=d;e", "/events/a%2Bb%26c%3Dd%3Be"),
    ("emoji😀", "/events/emoji%F0%9F%98%80"),
]


async def test_retrieve_event_encodes_the_id_as_one_path_segment(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url)) as session:
        for event_id, _ in PATH_CASES:
            result = await session.call("retrieve_event", {"event_id": event_id})
            assert not result.is_error, text_of(result)
            assert result.structured_content == EVENT
            assert json.loads(text_of(result)) == EVENT
    assert [(r.method, r.raw_path, r.query, r.body) for r in dodo.requests] == [
        ("GET", path, [], b"") for _, path in PATH_CASES
    ]
    for request in dodo.requests:
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.headers["user-agent"] == f"dodo-mcp/{__version__}"
        assert request.headers["accept"] == "application/json"


@pytest.mark.parametrize("event_id", ["", ".", ".."])
async def test_retrieve_event_refuses_ids_that_would_leave_the_route(dodo: DodoDouble, event_id: str) -> None:
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("retrieve_event", {"event_id": event_id})
        followup = await session.call("retrieve_event", {"event_id": "evt_1"})
    assert result.is_error
    problem = (
        "event_id must not be empty"
        if event_id == ""
        else (
            f"event_id {event_id!r} is not a valid event id: URL paths resolve '.' and '..' away, so it could never be "
            "looked up by id"
        )
    )
    assert text_of(result) == (
        f"Invalid arguments (1 problem):\n- {problem}\n"
        "Nothing was sent to Dodo. Fix the problems above and call retrieve_event again."
    )
    assert not followup.is_error
    assert [r.raw_path for r in dodo.requests] == ["/events/evt_1"]


async def test_list_events_forwards_every_filter_and_explicit_page(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url)) as session:
        default = await session.call("list_events", {})
        full = await session.call(
            "list_events",
            {
                "customer_id": "cus 1/ü",
                "event_name": "api_request",
                "meter_id": "mtr_9",
                "start": "2026-01-14T10:30:00Z",
                "end": "2026-01-15T10:30:00+02:00",
                "page_size": 1,
                "page_number": 3,
            },
        )
    assert [(r.method, r.path) for r in dodo.requests] == [("GET", "/events"), ("GET", "/events")]
    assert dodo.requests[0].query == [("page_size", "10"), ("page_number", "0")]
    assert dodo.requests[1].query == [
        ("customer_id", "cus 1/ü"),
        ("event_name", "api_request"),
        ("meter_id", "mtr_9"),
        ("start", "2026-01-14T10:30:00Z"),
        ("end", "2026-01-15T10:30:00+02:00"),
        ("page_size", "1"),
        ("page_number", "3"),
    ]
    # The double returned one event: a short page ends the listing, a full one may continue.
    assert default.structured_content == {
        "items": [EVENT],
        "page_number": 0,
        "page_size": 10,
        "has_more": False,
        "next_page_number": None,
    }
    assert full.structured_content == {
        "items": [EVENT],
        "page_number": 3,
        "page_size": 1,
        "has_more": True,
        "next_page_number": 4,
    }
    assert json.loads(text_of(full)) == full.structured_content
    assert "\n" not in text_of(full)  # the text copy is compact JSON


async def test_ingest_events_sends_the_events_as_given(dodo: DodoDouble) -> None:
    now = datetime.now(timezone.utc)
    events = [
        {
            "event_id": "cus_1:api_request:0001",
            "customer_id": "cus_1",
            "event_name": "api_request",
            "timestamp": (now - timedelta(minutes=30)).isoformat(),
            "metadata": {"tokens_used": "150", "n": 3, "ratio": 0.5, "cached": True, "ünïcode": "naïve ✓"},
        },
        {"event_id": "cus_1:api_request:0002", "customer_id": "cus_1", "event_name": "api_request"},
        {"event_id": "e3", "customer_id": "c", "event_name": "n", "metadata": None, "timestamp": None},
    ]
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("ingest_events", {"events": events})
    assert not result.is_error, text_of(result)
    assert result.structured_content == {
        "submitted_count": 3,
        "ingested_count": 3,
        "ignored_count": 0,
        "possibly_stored_by_earlier_attempt": 0,
        "unconfirmed_count": 0,
        "unconfirmed_event_ids": [],
        "batches": [
            {
                "first_index": 0,
                "event_count": 3,
                "confirmed": True,
                "ingested_count": 3,
                "ignored_count": 0,
                "possibly_stored_by_earlier_attempt": 0,
                "attempts": 1,
                "error": None,
            }
        ],
    }
    [request] = dodo.requests
    assert (request.method, request.path, request.query) == ("POST", "/events/ingest", [])
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    # Nulls are the API's defaults, so they are left out; everything else arrives as sent.
    assert request.json() == {
        "events": [events[0], events[1], {"event_id": "e3", "customer_id": "c", "event_name": "n"}]
    }


async def test_ingest_reports_ids_dodo_already_had(dodo: DodoDouble) -> None:
    from tests.dodo_double import Reply

    dodo.script(Reply(body={"ingested_count": 1}))
    events = [{"event_id": f"e{i}", "customer_id": "c", "event_name": "n"} for i in range(3)]
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("ingest_events", {"events": events})
    assert counts(result.structured_content) == ingest_counts(submitted=3, ingested=1, ignored=2)


async def test_both_protocol_eras_work(dodo: DodoDouble) -> None:
    for mode in ("legacy", "auto"):
        async with tool_session(dodo_settings(dodo.url), mode=mode) as session:
            tools = await session.client.list_tools()
            assert [tool.name for tool in tools.tools] == ALL_TOOLS
            result = await session.call("list_events", {"page_size": 5})
            assert not result.is_error
    assert [r.query for r in dodo.requests] == [[("page_size", "5"), ("page_number", "0")]] * 2


def batch_event(i: int) -> dict[str, str]:
    return {"event_id": f"evt-{i:05d}", "customer_id": f"cus_{i % 7}", "event_name": "api_request"}


async def test_large_ingests_go_in_batches_with_progress(dodo: DodoDouble) -> None:
    events = [batch_event(i) for i in range(2345)]
    reported: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, total, message))

    async with tool_session(dodo_settings(dodo.url, ingest_batch_size=1000, ingest_concurrency=2)) as session:
        result = await session.call("ingest_events", {"events": events}, progress_callback=on_progress)
    assert not result.is_error
    assert counts(result.structured_content) == ingest_counts(submitted=2345, ingested=2345)
    assert result.structured_content is not None
    assert [(b["first_index"], b["event_count"]) for b in result.structured_content["batches"]] == [
        (0, 1000),
        (1000, 1000),
        (2000, 345),
    ]
    sent = sorted((r.json()["events"] for r in dodo.requests), key=lambda chunk: chunk[0]["event_id"])
    assert sent == [events[0:1000], events[1000:2000], events[2000:2345]]
    done = [p[0] for p in reported]
    assert len(done) == 3 and done == sorted(done) and done[-1] == 2345
    assert {(total, message) for _, total, message in reported} == {(2345, "events sent")}


async def test_a_failed_batch_names_exactly_its_events(dodo: DodoDouble) -> None:
    from tests.dodo_double import Reply

    events = [batch_event(i) for i in range(25)]
    dodo.script(Reply(body={"ingested_count": 10}), Reply(400, {"code": "INVALID_REQUEST_BODY", "message": "no"}))
    async with tool_session(dodo_settings(dodo.url, ingest_batch_size=10, ingest_concurrency=1)) as session:
        result = await session.call("ingest_events", {"events": events})
    assert result.is_error
    report = result.structured_content
    assert report is not None
    assert counts(report) == ingest_counts(submitted=25, ingested=15, unconfirmed=10)
    assert report["unconfirmed_event_ids"] == [e["event_id"] for e in events[10:20]]
    assert [(b["first_index"], b["confirmed"], b["attempts"]) for b in report["batches"]] == [
        (0, True, 1),
        (10, False, 1),
        (20, True, 1),
    ]
    first_line = text_of(result).split("\n")[0]
    assert first_line == (
        "10 of 25 events are unconfirmed: 1 of 3 batches failed; the other 15 were confirmed (15 new, 0 already "
        "ingested). Re-send exactly the events whose ids are in unconfirmed_event_ids with ingest_events; that is "
        "safe, Dodo ignores event_ids it already has. First failure: Dodo API error 400 INVALID_REQUEST_BODY: no."
    )


async def test_list_text_states_shared_fields_once_and_loses_nothing(dodo: DodoDouble) -> None:
    from tests.dodo_double import Reply

    items = [
        {**EVENT, "event_id": "a", "metadata": {"n": 1}},
        {**EVENT, "event_id": "b", "event_name": "other", "metadata": None},
        {**EVENT, "event_id": "c", "timestamp": "2026-01-15T10:29:00Z"},
    ]
    dodo.script(Reply(body={"items": items}))
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("list_events", {"customer_id": "cus_1", "page_size": 3})
    text = json.loads(text_of(result))
    assert text["common"] == {"business_id": "bus_double", "customer_id": "cus_1"}
    assert [sorted(item) for item in text["items"]] == [
        ["event_id", "event_name", "metadata", "timestamp"],
        ["event_id", "event_name", "timestamp"],
        ["event_id", "event_name", "metadata", "timestamp"],
    ]
    rebuilt = [{"metadata": None, **text["common"], **item} for item in text["items"]]
    assert result.structured_content is not None
    assert rebuilt == result.structured_content["items"] == items
    assert {k: v for k, v in text.items() if k not in ("common", "items")} == {
        "page_number": 0,
        "page_size": 3,
        "has_more": True,
        "next_page_number": 1,
    }
