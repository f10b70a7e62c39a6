"""One scenario every client oracle runs: the same events, meter, calls and exact expected results.

Each call passes every object and array argument a tool has (events with metadata, aggregation,
group_by), so a client whose converter mangles one of them (sends a string, drops a property)
fails on exact values, not on a vague "it answered". The database is seeded with one meter through
the sandbox's own POST /meters, so explain_meter_match has something to match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from dodo_mcp.api.timestamps import format_timestamp
from dodo_mcp.sandbox.billing import add_interval
from tests.billing import Component, create_subscription, usage_product
from tests.test_insights import create_meters, meter

CUSTOMER = "cus_conv"
METER = meter("api_request", {"type": "sum", "key": "tokens"})
# The customer's subscription prices the meter's tokens at 2.5 cents each, the first 100 free.
PRICE_PER_UNIT, FREE_TOKENS = "2.5", 100
# It started this long before the seeding: its first period holds the events, which are minutes old.
SUBSCRIBED_BEFORE = timedelta(minutes=30)


@dataclass(frozen=True)
class Seeded:
    """What the scenario's database holds before the calls: the meter and the customer's subscription."""

    meter_id: str
    subscription_id: str
    subscribed_at: datetime


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


async def seed(db: Path) -> Seeded:
    """Create the scenario's meter, and the customer's subscription that bills it, in the sandbox database `db`."""
    [meter_id] = await create_meters(db, [METER])
    at = (datetime.now(timezone.utc) - SUBSCRIBED_BEFORE).replace(microsecond=0)
    product = usage_product([Component(meter_id, PRICE_PER_UNIT, FREE_TOKENS)])
    return Seeded(meter_id, await create_subscription(db, product, CUSTOMER, at), at)


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


def calls(events: list[dict[str, Any]], seeded: Seeded) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(tool, arguments, the exact structuredContent expected), in the order they must run."""
    stored = [{"business_id": "bus_sandbox", **event} for event in events]
    meter_id = seeded.meter_id
    tokens = sum(event["metadata"]["tokens"] for event in events)
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
        # The events' tokens, billed: the first 100 free, 2.5 cents each after.
        (
            "usage_history",
            {"subscription_id": seeded.subscription_id, "meter_id": meter_id},
            {
                "items": [
                    {
                        "start_date": format_timestamp(seeded.subscribed_at),
                        "end_date": format_timestamp(add_interval(seeded.subscribed_at, "Month", 1)),
                        "meters": [
                            {
                                "id": meter_id,
                                "name": METER["name"],
                                "consumed_units": str(tokens),
                                "free_threshold": FREE_TOKENS,
                                "chargeable_units": str(tokens - FREE_TOKENS),
                                "price_per_unit": PRICE_PER_UNIT,
                                "currency": "USD",
                                "total_price": round((tokens - FREE_TOKENS) * 2.5),
                            }
                        ],
                    }
                ],
                "page_number": 0,
                "page_size": 10,
                "has_more": False,
                "next_page_number": None,
            },
        ),
    ]
