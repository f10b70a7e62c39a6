"""summarize_events: a bounded scan of matching events, grouped and aggregated here.

Dodo has no aggregation endpoint for events, so summarize_events pages through GET /events itself
with the API layer's bounded scan (dodo_mcp.api.paging: explicit pages of 100, spaced under the rate
limits, within a share of the deadline), stops at `max_events` too, and groups and aggregates
locally. A scan that stopped early is reported as incomplete, with how to narrow the query.

Aggregations are the meters' own (dodo_mcp.api.meter_engine.aggregate, the one implementation):
count counts events; sum, max and last read the metadata key as a number, where a numeric string
such as "150" counts as 150, and events whose value is missing or not numeric are counted as
`skipped`. `last` is the newest event's value. Grouping uses metadata values as sent: "150" and 150
are two groups.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from pydantic import SecretStr
from pydantic_core import to_json

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.limits import MAX_SCAN_EVENTS
from dodo_mcp.api.meter_engine import aggregate
from dodo_mcp.api.meters import MeterAggregation
from dodo_mcp.api.models import Event, Scalar
from dodo_mcp.api.paging import EventScan
from dodo_mcp.api.timestamps import parse_rfc3339
from dodo_mcp.tools.messages import stop_reason
from dodo_mcp.tools.models import (
    TIME_DIMENSIONS,
    EventSummary,
    SummarizeEventsArguments,
    SummaryGroup,
)

# More groups than this would flood the context; the busiest are kept and the rest counted.
MAX_GROUPS = 100

# A group_by dimension's value: a metadata value, or null when the event lacks the key.
DimensionValue = Scalar | None
Progress = Callable[[int, int], Awaitable[None]]


def dimension_value(event: Event, dimension: str) -> DimensionValue:
    """The event's value for one group_by dimension (a missing metadata key is null)."""
    if dimension == "customer_id":
        return event.customer_id
    if dimension == "event_name":
        return event.event_name
    if dimension in TIME_DIMENSIONS:
        try:
            moment = parse_rfc3339(event.timestamp).astimezone(timezone.utc)
        except ValueError:
            return event.timestamp  # not ours to correct: shown as Dodo sent it
        return moment.strftime("%Y-%m-%d" if dimension == "day" else "%Y-%m-%dT%H:00:00Z")
    return (event.metadata or {}).get(dimension.removeprefix("metadata."))


def _identity(values: tuple[DimensionValue, ...]) -> tuple[tuple[str, DimensionValue], ...]:
    # True == 1 == 1.0 in Python; metadata values of different JSON types stay different groups.
    return tuple((type(value).__name__, value) for value in values)


def _order(values: tuple[DimensionValue, ...]) -> tuple[tuple[int, Any], ...]:
    """Sort key: null, booleans, numbers, then strings (so hour and day buckets are chronological)."""

    def rank(value: DimensionValue) -> tuple[int, Any]:
        if value is None:
            return (0, 0)
        if isinstance(value, bool):
            return (1, value)
        if isinstance(value, int | float):
            return (2, value)
        return (3, value)

    return tuple(rank(value) for value in values)


def describe_aggregation(aggregation: MeterAggregation) -> str:
    if aggregation.type == "count":
        return "count of events"
    return f"{aggregation.type} of {aggregation.key}"


@dataclass
class _Group:
    key: tuple[DimensionValue, ...]
    metadatas: list[dict[str, Any] | None] = field(default_factory=list)  # newest first, as paged


@dataclass
class Grouper:
    """Groups scanned events by the dimensions and aggregates each group with the meters' engine."""

    dimensions: list[str]
    aggregation: MeterAggregation
    groups: dict[tuple[tuple[str, DimensionValue], ...], _Group] = field(default_factory=dict)

    def add(self, event: Event) -> None:
        values = tuple(dimension_value(event, d) for d in self.dimensions)
        identity = _identity(values)
        group = self.groups.get(identity)
        if group is None:
            group = self.groups[identity] = _Group(values)
        group.metadatas.append(event.metadata)

    def result(self) -> tuple[list[SummaryGroup], int]:
        """The groups sorted by key (at most MAX_GROUPS, the busiest), and how many were left out."""
        kept = list(self.groups.values())
        omitted = max(len(kept) - MAX_GROUPS, 0)
        if omitted:
            kept = sorted(kept, key=lambda g: (-len(g.metadatas), _order(g.key)))[:MAX_GROUPS]
        out = []
        for group in sorted(kept, key=lambda g: _order(g.key)):
            # aggregate() takes events oldest first, so that `last` is the newest value.
            outcome = aggregate(self.aggregation, reversed(group.metadatas))
            out.append(
                SummaryGroup(
                    key=dict(zip(self.dimensions, group.key, strict=True)),
                    value=outcome.value,
                    events=outcome.events,
                    skipped=outcome.skipped,
                )
            )
        return out, omitted


@dataclass
class _Tally:
    """The events counted so far, each event_id once."""

    limit: int
    seen: set[str] = field(default_factory=set)
    oldest: str | None = None

    def take(self, items: list[Event], grouper: Grouper) -> bool:
        """Count the page's new events; False when max_events cut the page short."""
        for event in items:
            if event.event_id in self.seen:
                continue
            if len(self.seen) >= self.limit:
                return False
            self.seen.add(event.event_id)
            grouper.add(event)
            self.oldest = event.timestamp
        return True


async def summarize(
    client: DodoClient,
    arguments: SummarizeEventsArguments,
    *,
    api_key: SecretStr | None = None,
    progress: Progress | None = None,
) -> EventSummary:
    """Scan the matching events within the bounds (the scan's and max_events), and group and aggregate them."""
    # The scan's time budget starts now: fetching the meter spends from it too.
    scan = EventScan(client, arguments, api_key=api_key)
    aggregation: MeterAggregation = arguments.aggregation or MeterAggregation(type="count")
    if arguments.aggregation is None and arguments.meter_id is not None:
        aggregation = (await client.retrieve_meter(arguments.meter_id, api_key=api_key)).aggregation
    grouper = Grouper(list(arguments.group_by), aggregation)
    # Pages are offsets: events ingested during the scan shift older ones onto the next page, so an
    # event can be seen twice. Counting each event_id once keeps the answer right.
    tally = _Tally(arguments.max_events)
    reached_max = False
    async with aclosing(scan.pages()) as pages:
        async for items in pages:
            whole_page = tally.take(items, grouper)
            if progress is not None:
                await progress(len(tally.seen), arguments.max_events)
            if not whole_page or (len(tally.seen) >= arguments.max_events and len(items) >= scan.page_size):
                reached_max = True
                break
    groups, omitted = grouper.result()
    complete = scan.complete and not reached_max
    stopped = None
    if reached_max:
        stopped = f"it reached max_events ({arguments.max_events})"
    elif scan.stopped is not None:
        stopped = stop_reason(scan.stopped)
    return EventSummary(
        aggregation=describe_aggregation(aggregation),
        groups=groups,
        scanned=len(tally.seen),
        complete=complete,
        note=_note(arguments, tally, stopped, omitted),
        oldest_scanned=None if complete else tally.oldest,
        omitted_groups=omitted,
    )


def _note(arguments: SummarizeEventsArguments, tally: _Tally, stopped: str | None, omitted: int) -> str | None:
    note = None
    if stopped is not None:
        raise_max = f"; or raise max_events (up to {MAX_SCAN_EVENTS})" if arguments.max_events < MAX_SCAN_EVENTS else ""
        note = (
            f"Incomplete: the scan stopped because {stopped}, after the newest {len(tally.seen)} matching events "
            f"(back to {tally.oldest}). Narrow the query for a complete answer: a shorter start/end window, or "
            f"customer_id, event_name or meter_id{raise_max}. For the older events, call again with "
            f"end={tally.oldest} (an event at exactly that time is counted again)."
        )
    if omitted:
        note = (note + " " if note else "") + (
            f"{omitted} smaller groups are left out; group by fewer dimensions or filter to see them."
        )
    return note


def summary_text(summary: EventSummary) -> str:
    """structuredContent as compact JSON, in the same shape: only zero skips and absent fields are left out.

    A group keeps its dimensions under "key", as in structuredContent, so a client that reads only
    the text and one that reads only structuredContent see the same data.
    """
    body = summary.model_dump(mode="json")
    for group in body["groups"]:
        if not group["skipped"]:
            del group["skipped"]
    for name in ("note", "oldest_scanned"):
        if body[name] is None:
            del body[name]
    if not body["omitted_groups"]:
        del body["omitted_groups"]
    return to_json(body).decode()
