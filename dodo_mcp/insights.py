"""summarize_events and explain_meter_match: answers computed here from Dodo's events and meters.

Dodo has no aggregation endpoint for events, so summarize_events pages through GET /events itself
(explicit 0-based pages of 100, never the SDKs' auto-paginator that skips page 1) and groups and
aggregates locally. Every scan is bounded, whichever comes first:
- `max_events` events (default DEFAULT_SCAN_EVENTS, at most MAX_SCAN_EVENTS);
- MAX_PAGES_PER_CALL requests: Dodo allows 100 a minute per key, and one summary takes at most half,
  so the agent's next calls in the same minute still get through; pages are also spaced
  MIN_PAGE_INTERVAL_S apart, under Dodo's burst limit of 10 a second;
- DEADLINE_SHARE of the per-call deadline, leaving the rest for answering.
A stopped scan is reported as incomplete, with how to narrow the query.

Aggregations are the meters' own (dodo_mcp.meter_rules.aggregate, the one implementation): count
counts events; sum, max and last read the metadata key as a number, where a numeric string such as
"150" counts as 150, and events whose value is missing or not numeric are counted as `skipped`.
`last` is the newest event's value. Grouping uses metadata values as sent: "150" and 150 are two groups.

explain_meter_match evaluates a meter's event_name and filter against one event with the same engine
the sandbox uses to select a meter's events, and says which clause failed first and why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timezone
from typing import Annotated, Any, Literal

import anyio
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import to_json

from dodo_mcp.client import DodoClient
from dodo_mcp.errors import DodoError
from dodo_mcp.meter_rules import aggregate, as_number, evaluate
from dodo_mcp.meters import MAX_FILTER_KEY_LENGTH, AggregationType, Meter, MeterAggregation
from dodo_mcp.models import MAX_PAGE_SIZE, Event, Identifier, ListEventsQuery, Timestamp, parse_rfc3339

SUMMARY_PAGE_SIZE = MAX_PAGE_SIZE
DEFAULT_SCAN_EVENTS = 2_000
MAX_SCAN_EVENTS = 5_000
MAX_PAGES_PER_CALL = 50
MIN_PAGE_INTERVAL_S = 0.11
DEADLINE_SHARE = 0.8
MAX_GROUP_BY = 3
# More groups than this would flood the context; the busiest are kept and the rest counted.
MAX_GROUPS = 100

TIME_DIMENSIONS = ("hour", "day")
DIMENSIONS_TEXT = "customer_id, event_name, hour, day or metadata.<key>"

Scalar = str | int | float | bool | None


def _check_dimension(value: str) -> str:
    if value in ("customer_id", "event_name", *TIME_DIMENSIONS):
        return value
    if value.startswith("metadata.") and 0 < len(value) - len("metadata.") <= MAX_FILTER_KEY_LENGTH:
        return value
    raise ValueError(f"must be {DIMENSIONS_TEXT}, not {value[:60]!r}")


# The description lists the dimensions; a regex pattern would cost context and say it again.
Dimension = Annotated[str, AfterValidator(_check_dimension), WithJsonSchema({"type": "string"})]


def _check_segment(value: str) -> str:
    # "." and ".." would be resolved away by URL normalisation and reach another route.
    if value in (".", ".."):
        raise ValueError(f"{value!r} is not a valid id")
    return value


PathId = Annotated[Identifier, AfterValidator(_check_segment)]


# A meter's aggregation shape; the key-unless-count rule is MeterAggregation's. No docstring: it would
# become the schema's description and keep the nullable argument from flattening to one object schema.
class SummaryAggregation(MeterAggregation):
    type: AggregationType = Field(description="last: the newest value")
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_FILTER_KEY_LENGTH,
        description="Metadata key, read as a number; not for count",
    )


class SummarizeEventsArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Identifier | None = Field(default=None, description="Only this customer's events")
    event_name: Identifier | None = Field(default=None, description="Only this event_name")
    meter_id: Identifier | None = Field(default=None, description="Only what the meter counts; default aggregation")
    start: Timestamp | None = Field(default=None, description="From this time (RFC 3339)")
    end: Timestamp | None = Field(default=None, description="Up to this time (RFC 3339)")
    group_by: list[Dimension] = Field(
        default_factory=list,
        max_length=MAX_GROUP_BY,
        description=f"Up to {MAX_GROUP_BY} of {DIMENSIONS_TEXT} (UTC); none: one total",
    )
    aggregation: SummaryAggregation | None = Field(default=None, description="Default count")
    max_events: int = Field(
        default=DEFAULT_SCAN_EVENTS,
        ge=1,
        le=MAX_SCAN_EVENTS,
        description="Most events to scan, newest first",
    )

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: str | None, info: ValidationInfo) -> str | None:
        start = info.data.get("start")
        if end is not None and start is not None and parse_rfc3339(end) < parse_rfc3339(start):
            raise ValueError(f"must not be before start ({start})")
        return end

    @field_validator("group_by")
    @classmethod
    def _no_repeats(cls, group_by: list[str]) -> list[str]:
        repeated = sorted({d for d in group_by if group_by.count(d) > 1})
        if repeated:
            raise ValueError(f"must not repeat a dimension ({', '.join(repeated)})")
        return group_by

    def query(self, page_number: int) -> ListEventsQuery:
        return ListEventsQuery(
            customer_id=self.customer_id,
            event_name=self.event_name,
            meter_id=self.meter_id,
            start=self.start,
            end=self.end,
            page_size=SUMMARY_PAGE_SIZE,
            page_number=page_number,
        )


class SummaryGroup(BaseModel):
    key: dict[str, Scalar] = Field(description="Each group_by dimension's value")
    value: int | float | None = Field(description="The aggregation")
    events: int = Field(description="Events in the group")
    skipped: int = Field(description="Events without a numeric key value")


class EventSummary(BaseModel):
    aggregation: str = Field(description="What value is")
    groups: list[SummaryGroup] = Field(description="Sorted by key")
    scanned: int = Field(description="Events scanned")
    complete: bool = Field(description="False: the scan stopped early")
    note: str | None = Field(default=None, description="Why incomplete; how to narrow")
    oldest_scanned: str | None = Field(default=None, description="Oldest scanned event's timestamp")
    omitted_groups: int = Field(default=0, description="Smaller groups left out")


@dataclass
class _Group:
    key: tuple[Scalar, ...]
    metadatas: list[dict[str, Any] | None] = field(default_factory=list)  # newest first, as paged


def dimension_value(event: Event, dimension: str) -> Scalar:
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


def _identity(values: tuple[Scalar, ...]) -> tuple[tuple[str, Scalar], ...]:
    # True == 1 == 1.0 in Python; metadata values of different JSON types stay different groups.
    return tuple((type(value).__name__, value) for value in values)


def _order(values: tuple[Scalar, ...]) -> tuple[tuple[int, Any], ...]:
    """Sort key: null, booleans, numbers, then strings (so hour and day buckets are chronological)."""

    def rank(value: Scalar) -> tuple[int, Any]:
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
class Grouper:
    """Groups scanned events by the dimensions and aggregates each group with the meters' engine."""

    dimensions: list[str]
    aggregation: MeterAggregation
    groups: dict[tuple[tuple[str, Scalar], ...], _Group] = field(default_factory=dict)

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


Progress = Callable[[int, int], Awaitable[None]]


async def summarize(
    client: DodoClient,
    arguments: SummarizeEventsArguments,
    *,
    api_key: SecretStr | None = None,
    progress: Progress | None = None,
) -> EventSummary:
    """Page through the matching events within the bounds above, and group and aggregate them."""
    budget_ends = anyio.current_time() + client.settings.deadline_s * DEADLINE_SHARE
    aggregation: MeterAggregation = arguments.aggregation or MeterAggregation(type="count")
    if arguments.aggregation is None and arguments.meter_id is not None:
        aggregation = (await client.retrieve_meter(arguments.meter_id, api_key=api_key)).aggregation
    grouper = Grouper(list(arguments.group_by), aggregation)
    # Pages are offsets: events ingested during the scan shift older ones onto the next page, so an
    # event can be seen twice. Counting each event_id once keeps the answer right.
    seen: set[str] = set()
    oldest: str | None = None
    stopped: str | None = None
    complete = False
    last_request = -MIN_PAGE_INTERVAL_S
    page_number = 0
    while True:
        if page_number >= MAX_PAGES_PER_CALL:
            stopped = f"it reached the limit of {MAX_PAGES_PER_CALL} pages per call (Dodo allows 100 requests a minute)"
            break
        if not client.settings.sandbox:
            await anyio.sleep(max(last_request + MIN_PAGE_INTERVAL_S - anyio.current_time(), 0))
        last_request = anyio.current_time()
        items: list[Event] | None = None
        try:
            with anyio.move_on_after(budget_ends - anyio.current_time()):
                items = await client.list_events(arguments.query(page_number), api_key=api_key)
        except DodoError as exc:
            if page_number == 0:
                raise
            stopped = f"page {page_number} failed: {exc.message}"
            break
        if items is None:
            if page_number == 0:
                raise DodoError(
                    f"Dodo sent no page of events within {client.settings.deadline_s * DEADLINE_SHARE:g} s.",
                    "Try again in a minute, or narrow the query.",
                )
            stopped = "it reached this call's time limit"
            break
        truncated = False
        for event in items:
            if event.event_id in seen:
                continue
            if len(seen) >= arguments.max_events:
                truncated = True
                break
            seen.add(event.event_id)
            grouper.add(event)
            oldest = event.timestamp
        if progress is not None:
            await progress(len(seen), arguments.max_events)
        if not truncated and len(items) < SUMMARY_PAGE_SIZE:
            complete = True  # a short page is the last one
            break
        if len(seen) >= arguments.max_events:
            stopped = f"it reached max_events ({arguments.max_events})"
            break
        page_number += 1
    groups, omitted = grouper.result()
    note = None
    if not complete:
        note = (
            f"Incomplete: the scan stopped because {stopped}, after the newest {len(seen)} matching events "
            f"(back to {oldest}). Narrow the query for a complete answer: a shorter start/end window, or "
            "customer_id, event_name or meter_id"
            + (f"; or raise max_events (up to {MAX_SCAN_EVENTS})" if arguments.max_events < MAX_SCAN_EVENTS else "")
            + f". For the older events, call again with end={oldest} (an event at exactly that time is counted again)."
        )
    if omitted:
        note = (note + " " if note else "") + (
            f"{omitted} smaller groups are left out; group by fewer dimensions or filter to see them."
        )
    return EventSummary(
        aggregation=describe_aggregation(aggregation),
        groups=groups,
        scanned=len(seen),
        complete=complete,
        note=note,
        oldest_scanned=None if complete else oldest,
        omitted_groups=omitted,
    )


def summary_text(summary: EventSummary) -> str:
    """Compact JSON for the model: each group's dimensions inline, zero skips and empty fields left out."""
    groups = []
    for group in summary.groups:
        row: dict[str, Any] = {**group.key, "value": group.value, "events": group.events}
        if group.skipped:
            row["skipped"] = group.skipped
        groups.append(row)
    body: dict[str, Any] = {
        "aggregation": summary.aggregation,
        "groups": groups,
        "scanned": summary.scanned,
        "complete": summary.complete,
    }
    for name in ("note", "oldest_scanned"):
        if getattr(summary, name) is not None:
            body[name] = getattr(summary, name)
    if summary.omitted_groups:
        body["omitted_groups"] = summary.omitted_groups
    return to_json(body).decode()


# explain_meter_match


class ExplainMeterMatchArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: PathId = Field(description="Case-sensitive")
    meter_id: PathId = Field(description="The meter's id")


MatchReason = Literal["matched", "event_name_mismatch", "missing_key", "type_mismatch", "comparison_failed"]


class MeterMatch(BaseModel):
    matched: bool = Field(description="Whether the meter counts the event")
    reason: MatchReason = Field(description="What failed first")
    failed_clause: str | None = Field(description="e.g. clauses[1][0]")
    explanation: str = Field(description="Why, and what to change")
    contributes: int | float | None = Field(description="What the event adds to the meter's value")


def explain_match(event: Event, meter: Meter) -> MeterMatch:
    """Whether `meter` counts `event`, by the shared filter engine; on a mismatch, the first failure."""
    name = f"meter {meter.name!r} ({meter.id})"
    result = evaluate(meter.filter, event.metadata)
    if event.event_name != meter.event_name:
        filter_note = (
            "its metadata would pass the meter's filter"
            if result.matched
            else f"its metadata would also fail the filter at {result.message}"
        )
        return MeterMatch(
            matched=False,
            reason="event_name_mismatch",
            failed_clause=None,
            explanation=(
                f"No: event {event.event_id!r} has event_name {event.event_name!r}, but {name} counts only "
                f"{meter.event_name!r} events (names are case-sensitive); {filter_note}."
            ),
            contributes=None,
        )
    if not result.matched:
        failure = result.failure
        assert failure is not None
        fix = {
            "missing_key": "Send that key in the event's metadata.",
            "type_mismatch": "Send the value with a type the operator compares (numbers may be numeric strings).",
            "comparison_failed": "The value is compared as sent; the event is correctly excluded unless it is wrong.",
        }[failure.reason]
        return MeterMatch(
            matched=False,
            reason=failure.reason,
            failed_clause="clauses" + "".join(f"[{i}]" for i in failure.path),
            explanation=f"No: {name} filter fails at {failure.message}. {fix}",
            contributes=None,
        )
    aggregation = meter.aggregation
    conditions = "no filter" if meter.filter is None else "its filter holds"
    if aggregation.type == "count":
        return MeterMatch(
            matched=True,
            reason="matched",
            failed_clause=None,
            explanation=f"Yes: {name} counts it (event_name {meter.event_name!r}, {conditions}); it adds 1 to the count.",
            contributes=1,
        )
    assert aggregation.key is not None
    raw = (event.metadata or {}).get(aggregation.key)
    number = as_number(raw)
    if number is None:
        what = "has no key" if aggregation.key not in (event.metadata or {}) else f"has a non-numeric {raw!r} for"
        tail = f"but it {what} {aggregation.key!r}, so the meter's {aggregation.type} skips it."
    else:
        tail = f"its {aggregation.key!r} of {raw!r} counts as {number} in the meter's {aggregation.type}."
    return MeterMatch(
        matched=True,
        reason="matched",
        failed_clause=None,
        explanation=f"Yes: {name} matches it (event_name {meter.event_name!r}, {conditions}); {tail}",
        contributes=number,
    )


async def explain(
    client: DodoClient, arguments: ExplainMeterMatchArguments, *, api_key: SecretStr | None = None
) -> MeterMatch:
    """Fetch the event and the meter (two requests, concurrently) and explain the match."""
    event: Event | None = None
    meter: Meter | None = None
    failures: dict[str, DodoError] = {}

    async def fetch_event() -> None:
        nonlocal event
        try:
            event = await client.retrieve_event(arguments.event_id, api_key=api_key)
        except DodoError as exc:
            failures["event"] = exc

    async def fetch_meter() -> None:
        nonlocal meter
        try:
            meter = await client.retrieve_meter(arguments.meter_id, api_key=api_key)
        except DodoError as exc:
            failures["meter"] = exc

    async with anyio.create_task_group() as group:
        group.start_soon(fetch_event)
        group.start_soon(fetch_meter)
    # One answer: a missing event is reported before a missing meter.
    if failures:
        raise failures.get("event") or failures["meter"]
    assert event is not None and meter is not None
    return explain_match(event, meter)
