"""Bad arguments: one clear error naming every problem, nothing sent upstream, the server stays up (the SDK's
client with the server in-process, against a real HTTP double)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.conftest import counts, dodo_settings, ingest_counts, text_of, tool_session
from tests.dodo_double import DodoDouble

pytestmark = pytest.mark.anyio

LIST_FIELDS = "customer_id, event_name, meter_id, start, end, page_size, page_number"
EVENT_FIELDS = "event_id, customer_id, event_name, timestamp, metadata"


def event(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "customer_id": "cus_1", "event_name": "api_request", **extra}


# (tool, arguments, the problem lines, exactly)
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("retrieve_event", {}, ["event_id is required"]),
    ("retrieve_event", {"event_id": 5}, ["event_id must be a string, not a number (5)"]),
    ("retrieve_event", {"event_id": None}, ["event_id must be a string, not null"]),
    (
        "retrieve_event",
        {"event_id": "a\x00b"},
        ["event_id must not contain control characters (found U+0000 at position 1)"],
    ),
    ("list_events", {"page_size": 0}, ["page_size must be at least 1 (got 0)"]),
    ("list_events", {"page_size": 101}, ["page_size must be at most 100 (got 101)"]),
    ("list_events", {"page_number": -1}, ["page_number must be at least 0 (got -1)"]),
    ("list_events", {"page_number": 2**40}, ["page_number must be at most 2147483647 (got 1099511627776)"]),
    ("list_events", {"page_size": True}, ["page_size must be an integer, not a boolean"]),
    ("list_events", {"page_size": "ten"}, ["page_size must be an integer, not a string ('ten')"]),
    ("list_events", {"page_size": 2.5}, ["page_size must be an integer, not a number (2.5)"]),
    ("list_events", {"customer_id": ""}, ["customer_id must not be empty (omit it instead)"]),
    (
        "list_events",
        {"start": "yesterday"},
        ["start 'yesterday' is not an RFC 3339 date-time; use a form like 2026-01-15T10:30:00Z"],
    ),
    (
        "list_events",
        {"start": "2026-01-15T10:30:00"},
        ["start '2026-01-15T10:30:00' is not an RFC 3339 date-time; use a form like 2026-01-15T10:30:00Z"],
    ),
    (
        "list_events",
        {"end": "2026-02-30T10:30:00Z"},
        ["end '2026-02-30T10:30:00Z' is not a valid date-time (check the day and time)"],
    ),
    (
        "list_events",
        {"start": "2026-01-15T10:30:00Z", "end": "2026-01-14T10:30:00Z"},
        ["end must not be before start (2026-01-15T10:30:00Z)"],
    ),
    ("list_events", {"pagesize": 5}, [f"pagesize is not a known field; allowed: {LIST_FIELDS}"]),
    ("ingest_events", {}, ["events is required"]),
    ("ingest_events", {"events": []}, ["events must have at least 1 item"]),
    ("ingest_events", {"events": "not json"}, ["events must be an array, not a string ('not json')"]),
    (
        "ingest_events",
        {"events": [event(i) for i in range(10_001)]},
        ["events may have at most 10000 items (got 10001)"],
    ),
    ("ingest_events", {"events": [7]}, ["events[0] must be an object, not a number (7)"]),
    (
        "ingest_events",
        {"events": [event(0, metadata={f"k{i}": i for i in range(51)})]},
        ["events[0] (event_id 'e0').metadata may have at most 50 keys (got 51)"],
    ),
    (
        "ingest_events",
        {"events": [event(0, metadata={"k": "x" * 501, "ok": 1, "nested": {"a": 1}, "list": [1], "nil": None})]},
        [
            "events[0] (event_id 'e0').metadata['k'] string values may be at most 500 characters (got 501)",
            "events[0] (event_id 'e0').metadata['nested'] values must be a string, integer, number or boolean, not an object",
            "events[0] (event_id 'e0').metadata['list'] values must be a string, integer, number or boolean, not an array",
            "events[0] (event_id 'e0').metadata['nil'] values must be a string, integer, number or boolean, not null",
        ],
    ),
    (
        # Stored, such an event could never be read back: retrieve_event refuses these ids.
        "ingest_events",
        {"events": [event(0), {**event(1), "event_id": "."}, {**event(2), "event_id": ".."}]},
        [
            f"events[{i}] (event_id {unreadable!r}).event_id {unreadable!r} is not a valid event id: URL paths "
            "resolve '.' and '..' away, so it could never be looked up by id"
            for i, unreadable in ((1, "."), (2, ".."))
        ],
    ),
    (
        "ingest_events",
        {"events": [event(0, metadata={"k" * 101: 1})]},
        [f"events[0] (event_id 'e0').metadata key '{'k' * 58}…' must be at most 100 characters (got 101)"],
    ),
    (
        "ingest_events",
        {
            "events": [
                event(0),
                {"event_id": "e1", "event_name": "", "foo": 1},
                event(2, timestamp="2026-01-15"),
                event(0),
                event(1),
            ]
        },
        [
            "events[1] (event_id 'e1').customer_id is required",
            "events[1] (event_id 'e1').event_name must not be empty",
            f"events[1] (event_id 'e1').foo is not a known field; allowed: {EVENT_FIELDS}",
            "events[2] (event_id 'e2').timestamp '2026-01-15' is not an RFC 3339 date-time; use a form like 2026-01-15T10:30:00Z",
            "events[3] (event_id 'e0') repeats the event_id of events[0]; event_ids must be unique within a call (Dodo rejects the whole request otherwise)",
            "events[4] (event_id 'e1') repeats the event_id of events[1]; event_ids must be unique within a call (Dodo rejects the whole request otherwise)",
        ],
    ),
]


def expected_text(tool: str, problems: list[str]) -> str:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    lines = "\n".join(f"- {problem}" for problem in problems)
    hint = (
        "Nothing was sent to Dodo and no event from this call was stored. "
        "Fix the problems above and call ingest_events again with all the events."
        if tool == "ingest_events"
        else f"Nothing was sent to Dodo. Fix the problems above and call {tool} again."
    )
    return f"Invalid arguments ({count}):\n{lines}\n{hint}"


async def test_every_bad_argument_is_named_and_nothing_is_sent(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url)) as session:
        for tool, arguments, problems in CASES:
            result = await session.call(tool, arguments)
            assert result.is_error, (tool, arguments)
            assert text_of(result) == expected_text(tool, problems)
        assert dodo.requests == []
        good = await session.call("list_events", {})
    assert not good.is_error
    assert len(dodo.requests) == 1


async def test_timestamps_outside_dodos_window_are_refused_before_sending(dodo: DodoDouble) -> None:
    now = datetime.now(timezone.utc)
    events = [
        event(0, timestamp=(now - timedelta(hours=1, minutes=5)).isoformat()),
        event(1, timestamp=(now + timedelta(minutes=10)).isoformat()),
        event(2, timestamp=(now - timedelta(minutes=59)).isoformat()),
        event(3, timestamp=(now + timedelta(minutes=4)).isoformat()),
    ]
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("ingest_events", {"events": events})
    text = text_of(result)
    assert re.fullmatch(
        r"Invalid arguments \(2 problems\):\n"
        r"- events\[0\] \(event_id 'e0'\)\.timestamp is more than 1 hour in the past \(now is \S+Z\); Dodo rejects it\. "
        r"Send a recent timestamp or omit it to use the current time\n"
        r"- events\[1\] \(event_id 'e1'\)\.timestamp is more than 5 minutes in the future \(now is \S+Z\); Dodo rejects it\n"
        r"Nothing was sent to Dodo and no event from this call was stored\. .*",
        text,
    ), text
    assert dodo.requests == []


async def test_many_bad_events_are_summarised_by_index(dodo: DodoDouble) -> None:
    events = [event(i, metadata={"bad": [i]}) if i % 2 else event(i) for i in range(300)]
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("ingest_events", {"events": events})
    lines = text_of(result).splitlines()
    assert lines[0] == "Invalid arguments (150 problems):"
    assert lines[1].startswith("- events[1] (event_id 'e1').metadata['bad'] values must be")
    assert lines[51] == "- …and 100 more problems, in events " + ", ".join(str(i) for i in range(101, 300, 2))
    assert dodo.requests == []


async def test_events_sent_as_a_json_string_are_accepted(dodo: DodoDouble) -> None:
    # Some clients serialise array arguments into a string; that is not worth refusing.
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("ingest_events", {"events": json.dumps([event(0)])})
    assert counts(result.structured_content) == ingest_counts(submitted=1, ingested=1)
    assert dodo.requests[0].json() == {"events": [event(0)]}
