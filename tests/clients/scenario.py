"""One scenario every client oracle runs: the same events, meter, calls and exact expected results.

Each call passes every object and array argument a tool has (events with metadata, aggregation,
group_by), so a client whose converter mangles one of them (sends a string, drops a property)
fails on exact values, not on a vague "it answered". The database is seeded with one meter through
the sandbox's own POST /meters, so explain_meter_match has something to match.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.test_insights import create_meters, meter

CUSTOMER = "cus_conv"
METER = meter("api_request", {"type": "sum", "key": "tokens"})


def usage_events(now: datetime) -> list[dict[str, Any]]:
    """Two events a minute apart, a few minutes before `now` (Dodo accepts up to an hour old)."""

    def at(minutes: int) -> str:
        return (now - timedelta(minutes=minutes)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    return [
        {
            "event_id": "conv:1",
            "customer_id": CUSTOMER,
            "event_name": "api_request",
            "timestamp": at(3),
            "metadata": {"tokens": 150, "model": "small"},
        },
        {
            "event_id": "conv:2",
            "customer_id": CUSTOMER,
            "event_name": "api_request",
            "timestamp": at(2),
            "metadata": {"tokens": 90, "model": "large"},
        },
    ]


async def seed(db: Path) -> str:
    """Create the scenario's meter in the sandbox database `db`; its id."""
    [meter_id] = await create_meters(db, [METER])
    return meter_id


def ingested(count: int) -> dict[str, Any]:
    """The structuredContent of an ingest_events call of `count` new events, all in one batch, first try."""
    counts = {"ingested_count": count, "ignored_count": 0, "possibly_stored_by_earlier_attempt": 0}
    return {
        "submitted_count": count,
        **counts,
        "unconfirmed_count": 0,
        "unconfirmed_event_ids": [],
        "batches": [
            {"first_index": 0, "event_count": count, "confirmed": True, **counts, "attempts": 1, "error": None}
        ],
    }


def calls(events: list[dict[str, Any]], meter_id: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(tool, arguments, the exact structuredContent expected), in the order they must run."""
    stored = [{"business_id": "bus_sandbox", **event} for event in events]
    return [
        ("ingest_events", {"events": events}, ingested(len(events))),
        (
            "list_events",
            {"customer_id": CUSTOMER, "page_size": 1},
            {"items": [stored[1]], "page_number": 0, "page_size": 1, "has_more": True, "next_page_number": 1},
        ),
        ("retrieve_event", {"event_id": "conv:1"}, stored[0]),
        (
            "summarize_events",
            {
                "customer_id": CUSTOMER,
                "group_by": ["metadata.model"],
                "aggregation": {"type": "sum", "key": "tokens"},
            },
            {
                "aggregation": "sum of tokens",
                "groups": [
                    {"key": {"metadata.model": "large"}, "value": 90, "events": 1, "skipped": 0},
                    {"key": {"metadata.model": "small"}, "value": 150, "events": 1, "skipped": 0},
                ],
                "scanned": 2,
                "complete": True,
                "note": None,
                "oldest_scanned": None,
                "omitted_groups": 0,
            },
        ),
        (
            "explain_meter_match",
            {"event_id": "conv:1", "meter_id": meter_id},
            {
                "matched": True,
                "reason": "matched",
                "failed_clause": None,
                "explanation": (
                    f"Yes: meter 'sum api_request' ({meter_id}) matches it (event_name 'api_request', no filter);"
                    " its 'tokens' of 150 counts as 150 in the meter's sum."
                ),
                "contributes": 150,
            },
        ),
        # A boolean argument, and an answer that does not depend on when the meter was created.
        (
            "list_meters",
            {"archived": True, "page_size": 5},
            {"items": [], "page_number": 0, "page_size": 5, "has_more": False, "next_page_number": None},
        ),
    ]
