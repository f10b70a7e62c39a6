"""Every tool's argument and result models, with the agent-facing text tools/list publishes.

tools/list is read in full at the start of every conversation, so every word here is context each
user pays for: the text is concise, and the wire models (dodo_mcp.api) keep Dodo's fuller wording.
Each arguments model carries its tool's title and description too, so this module is the one place
an agent's reading comes from (besides the server's instructions and the error messages).

Where a tool model has a wire model's fields it is derived from it, field by field: the subclass
restates each field with the wire model's type and default and its own description, and inherits
the validators. tests/test_tool_models.py checks that nothing but the description differs.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from dodo_mcp.api.fast_events import EventRecord, FastEvents
from dodo_mcp.api.limits import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_SCAN_EVENTS,
    MAX_EVENTS_PER_CALL,
    MAX_FILTER_KEY_LENGTH,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
    MAX_METERS_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_SCAN_EVENTS,
    MAX_USAGE_HISTORY_PAGE_SIZE,
)
from dodo_mcp.api.meters import AggregationType, ListMetersQuery, Meter, MeterAggregation, MeterFilter
from dodo_mcp.api.models import (
    Event,
    EventFilters,
    EventId,
    EventInput,
    Identifier,
    IngestTimestamp,
    ListEventsQuery,
    Metadata,
    MeterId,
    PageNumber,
    PageSize,
    Scalar,
    StoredTimestamp,
    Timestamp,
)
from dodo_mcp.api.subscriptions import BillingPeriod, MeterUsage, SubscriptionId, UsageHistoryQuery

MAX_GROUP_BY = 3
TIME_DIMENSIONS = ("hour", "day")
DIMENSIONS_TEXT = "customer_id, event_name, hour, day or metadata.<key>"


class ToolArguments(BaseModel):
    """Base of every tool's arguments: unknown fields are refused, and the tool's own words ride along."""

    model_config = ConfigDict(extra="forbid")

    tool_title: ClassVar[str]
    tool_description: ClassVar[str]


# Events as the tools show them.


class UsageEvent(Event):
    """A usage event as Dodo stores it."""

    business_id: str = Field(description="Its business")
    customer_id: str = Field(description="Whose usage it is")
    event_id: str = Field(description="As ingested")
    event_name: str = Field(description="Event name")
    timestamp: StoredTimestamp = Field(description="When (RFC 3339)")
    metadata: dict[str, Scalar] | None = Field(default=None, description="Scalar values by key")


class UsageEventInput(EventInput):
    """One usage event to ingest."""

    event_id: EventId = Field(
        description="Idempotency key: ids Dodo already has are ignored. E.g. customer + action + time"
    )
    customer_id: Identifier = Field(description="The customer whose usage this is")
    event_name: Identifier = Field(description="Name of the event")
    timestamp: IngestTimestamp | None = Field(
        default=None, description="RFC 3339, within the last hour, at most 5 minutes ahead (default now)"
    )
    metadata: Metadata | None = Field(
        default=None,
        description=(
            f"At most {MAX_METADATA_KEYS} keys of at most {MAX_METADATA_KEY_LENGTH} characters; string (at most "
            f"{MAX_METADATA_STRING_LENGTH} characters), number or boolean values"
        ),
    )


# retrieve_event


class RetrieveEventArguments(ToolArguments):
    tool_title = "Retrieve a usage event"
    tool_description = (
        "Fetch one usage event by its event_id (case-sensitive, exact match): its customer_id, event_name, "
        "timestamp and metadata. To search without the id, use list_events."
    )

    event_id: EventId = Field(
        description="The event_id given at ingestion. Event IDs are case-sensitive and must match exactly."
    )


# list_events


class ListEventsArguments(ToolArguments, ListEventsQuery):
    tool_title = "List usage events"
    tool_description = (
        "List usage events, newest first, by customer_id, event_name, meter_id and start/end. Pages are "
        "0-based: call again with page_number=next_page_number until it is null. Text results give fields "
        'shared by every item once, under "common". For totals, use summarize_events.'
    )

    customer_id: Identifier | None = Field(default=None, description="Filter events by customer ID")
    event_name: Identifier | None = Field(
        default=None, description="Only this event_name (with meter_id, it must be the meter's)"
    )
    meter_id: Identifier | None = Field(
        default=None, description="Only events the meter counts (its event_name and filter)"
    )
    start: Timestamp | None = Field(
        default=None, description="Events after this time (RFC 3339, e.g. 2026-01-14T10:30:00Z)"
    )
    end: Timestamp | None = Field(default=None, description="Events before this time (RFC 3339)")
    page_size: PageSize = Field(
        default=DEFAULT_PAGE_SIZE, description=f"Events per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})"
    )
    page_number: PageNumber = Field(default=0, description="0-based page (default 0)")


def paging(count: int, page_number: int, page_size: int) -> dict[str, Any]:
    """A page's paging fields. Dodo returns only items: a full page is the only sign that another may follow."""
    has_more = count >= page_size
    return {
        "page_number": page_number,
        "page_size": page_size,
        "has_more": has_more,
        "next_page_number": page_number + 1 if has_more else None,
    }


class EventPage(BaseModel):
    """One page of events, with what an agent needs to fetch the next one."""

    items: list[UsageEvent] = Field(description="Newest first")
    page_number: int = Field(description="0-based page")
    page_size: int = Field(description="As requested")
    has_more: bool = Field(description="Page full: more may follow")
    next_page_number: int | None = Field(description="Ask for it next; null: the end")

    @classmethod
    def of(cls, items: list[UsageEvent], query: ListEventsQuery) -> EventPage:
        """The page `query` asked for."""
        return cls(items=items, **paging(len(items), query.page_number, query.page_size))


# ingest_events


_EVENTS = FastEvents(UsageEventInput, MAX_EVENTS_PER_CALL)
# The events field's type inside a whole tools/call read from JSON, and from JSON text without escapes (tools.one_pass).
EVENTS_IN_JSON = _EVENTS.in_json
EVENTS_IN_ESCAPE_FREE_JSON = _EVENTS.in_escape_free_json


class IngestEventsArguments(ToolArguments):
    # What each event is validated as (the field holds EventRecords).
    event_model: ClassVar[type[BaseModel]] = UsageEventInput

    tool_title = "Ingest usage events"
    tool_description = (
        f"Record usage events for billing, 1 to {MAX_EVENTS_PER_CALL} per call. event_id is the idempotency key: "
        "Dodo ignores ids it already has, so retrying is safe; use deterministic ids (customer + action + time), "
        "unique within a call. One invalid event means nothing is sent. If a batch fails, re-send exactly the "
        "unconfirmed_event_ids."
    )

    # Validated as UsageEventInput (its schema is what tools/list publishes), held as plain EventRecords.
    events: Annotated[list[EventRecord], _EVENTS.validator, WithJsonSchema(_EVENTS.json_schema())] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_CALL,
        description=f"1 to {MAX_EVENTS_PER_CALL} events, sent in batches; event_ids unique across the call",
    )


class IngestBatch(BaseModel):
    """The outcome of one request to POST /events/ingest."""

    first_index: int = Field(description="Its first event's index")
    event_count: int = Field(description="Events in the batch")
    confirmed: bool = Field(description="Dodo holds the whole batch")
    ingested_count: int | None = Field(description="New; null: unknown")
    ignored_count: int | None = Field(description="Known before; null: unknown")
    possibly_stored_by_earlier_attempt: int = Field(default=0, description="Stored; new or not is unknown")
    attempts: int = Field(description="Requests, retries included")
    error: str | None = Field(default=None, description="Why unconfirmed, and what to do")


class IngestResult(BaseModel):
    """What happened to the events sent to ingest_events.

    Every event is in exactly one count: ingested (new in this call), ignored (Dodo had it before
    the call), possibly_stored_by_earlier_attempt (stored, but an earlier attempt's answer was lost,
    so whether this call or an earlier one stored it is unknown) or unconfirmed. The counts claim
    only what Dodo's answers show.
    """

    submitted_count: int = Field(description="Events in the call")
    ingested_count: int = Field(description="New in Dodo")
    ignored_count: int = Field(description="Known before (by event_id)")
    possibly_stored_by_earlier_attempt: int = Field(default=0, description="Stored; new or not is unknown")
    unconfirmed_count: int = Field(description="In unconfirmed batches")
    unconfirmed_event_ids: list[str] = Field(description="Re-send these; it is safe")
    batches: list[IngestBatch] = Field(description="One per request, in order")


# summarize_events


def _check_dimension(value: str) -> str:
    if value in ("customer_id", "event_name", *TIME_DIMENSIONS):
        return value
    if value.startswith("metadata.") and 0 < len(value) - len("metadata.") <= MAX_FILTER_KEY_LENGTH:
        return value
    raise ValueError(f"must be {DIMENSIONS_TEXT}, not {value[:60]!r}")


# The description lists the dimensions; a regex pattern would cost context and say it again.
Dimension = Annotated[str, AfterValidator(_check_dimension), WithJsonSchema({"type": "string"})]


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


class SummarizeEventsArguments(ToolArguments, EventFilters):
    tool_title = "Summarize usage events"
    tool_description = (
        "Count, sum, max or last of a metadata key over usage events, grouped by customer_id, event_name, "
        "metadata.<key>, hour or day. Same filters as list_events; scans the newest max_events matches "
        f"(default {DEFAULT_SCAN_EVENTS:,}, at most {MAX_SCAN_EVENTS:,}) itself. Prefer it to paging list_events "
        "for totals. complete=false: the scan stopped; narrow as note says."
    )

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

    @field_validator("group_by")
    @classmethod
    def _no_repeats(cls, group_by: list[str]) -> list[str]:
        repeated = sorted({d for d in group_by if group_by.count(d) > 1})
        if repeated:
            raise ValueError(f"must not repeat a dimension ({', '.join(repeated)})")
        return group_by


class SummaryGroup(BaseModel):
    key: dict[str, Scalar | None] = Field(description="Each group_by dimension's value")
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


# explain_meter_match


class ExplainMeterMatchArguments(ToolArguments):
    tool_title = "Explain a meter match"
    tool_description = (
        "Say whether a meter counts an event (without meter_id: which active meters do), checking event_name and "
        "filter locally; if not, name the first failing condition and why (missing key, type mismatch or failed "
        "comparison)."
    )

    event_id: EventId = Field(description="Case-sensitive")
    meter_id: MeterId | None = Field(default=None, description="Omit to check every active meter")


# "no_meter": without meter_id, and no active meter exists.
MatchReason = Literal["matched", "event_name_mismatch", "missing_key", "type_mismatch", "comparison_failed", "no_meter"]


class MeterVerdict(BaseModel):
    """One meter's answer, when explain_meter_match checks every active meter."""

    meter_id: str = Field(description="The meter")
    name: str = Field(description="Its name")
    matched: bool = Field(description="Whether it counts the event")
    reason: MatchReason = Field(description="What failed first")
    failed_clause: str | None = Field(description="e.g. clauses[1][0]")
    contributes: int | float | None = Field(description="What the event adds to it")


class MeterMatch(BaseModel):
    matched: bool = Field(description="The meter (any, without meter_id) counts it")
    reason: MatchReason = Field(description="What failed first (for one meter)")
    failed_clause: str | None = Field(description="e.g. clauses[1][0]")
    explanation: str = Field(description="Why, and what to change")
    contributes: int | float | None = Field(description="What it adds to the meter")
    meters: list[MeterVerdict] | None = Field(default=None, description="Without meter_id: each active meter")
    complete: bool = Field(default=True, description="false: not all checked")


# list_meters


class ListMetersArguments(ToolArguments, ListMetersQuery):
    tool_title = "List meters"
    tool_description = (
        "List meters (id, name, event_name, unit, aggregation, filter) to find a meter_id for the other tools. "
        "Pages are 0-based: call again with page_number=next_page_number until it is null."
    )

    page_size: PageSize = Field(
        default=DEFAULT_PAGE_SIZE,
        le=MAX_METERS_PAGE_SIZE,
        description=f"Meters per page, 1 to {MAX_METERS_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
    )
    page_number: PageNumber = Field(default=0, description="0-based page (default 0)")
    archived: bool = Field(default=False, description="true: archived meters instead of active ones")


class UsageMeter(Meter):
    """A meter, as list_meters shows it: what it counts and how, and whether it is archived.

    Unlike the other tool models it restates two types, not only descriptions: the aggregation as the
    tool-facing SummaryAggregation (its words), and the filter's schema as a plain object (it nests).
    """

    id: str = Field(description="meter_id")
    business_id: str = Field(description="Its business")
    name: str = Field(description="Name")
    event_name: str = Field(description="The event_name it counts")
    aggregation: SummaryAggregation = Field(description="What it computes")
    measurement_unit: str = Field(description="Unit")
    created_at: StoredTimestamp = Field(description="Created")
    updated_at: StoredTimestamp = Field(description="Last changed")
    description: str | None = Field(default=None, description="Description")
    # Published as a plain object: the filter's schema nests (filters of filters), which no flat
    # schema can state. explain_meter_match evaluates it condition by condition.
    filter: Annotated[MeterFilter, WithJsonSchema({"type": "object"})] | None = Field(
        default=None, description="{conjunction, clauses} events must also match"
    )
    archived: bool = Field(default=False, description="From the archived list")


class MeterPage(BaseModel):
    """One page of meters, with what an agent needs to fetch the next one."""

    items: list[UsageMeter] = Field(description="The meters")
    page_number: int = Field(description="0-based page")
    page_size: int = Field(description="As requested")
    has_more: bool = Field(description="Page full: more may follow")
    next_page_number: int | None = Field(description="Ask for it next; null: the end")

    @classmethod
    def of(cls, items: list[UsageMeter], query: ListMetersQuery) -> MeterPage:
        """The page `query` asked for, each meter marked with the list (active or archived) it came from."""
        marked = [item.model_copy(update={"archived": query.archived}) for item in items]
        return cls(items=marked, **paging(len(items), query.page_number, query.page_size))


# usage_history


class UsageHistoryArguments(ToolArguments, UsageHistoryQuery):
    tool_title = "Usage history of a subscription"
    tool_description = (
        "What Dodo bills a subscription for usage, per billing period, newest first: each meter's consumed, free "
        "and chargeable units, unit price and total_price (smallest currency unit, e.g. cents). Pages as list_events."
    )

    subscription_id: SubscriptionId = Field(description="The subscription (case-sensitive)")
    start_date: Timestamp | None = Field(default=None, description="Periods ending after this time (RFC 3339)")
    end_date: Timestamp | None = Field(default=None, description="Periods starting by this time")
    meter_id: MeterId | None = Field(default=None, description="Only this meter")
    page_size: PageSize = Field(
        default=DEFAULT_PAGE_SIZE,
        le=MAX_USAGE_HISTORY_PAGE_SIZE,
        description=f"Periods per page, 1 to {MAX_USAGE_HISTORY_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
    )
    page_number: PageNumber = Field(default=0, description="0-based page (default 0)")


class PeriodMeterUsage(MeterUsage):
    id: str = Field(description="meter_id")
    name: str = Field(description="Meter name")
    consumed_units: str = Field(description="Units the meter counted")
    free_threshold: int = Field(description="Free units")
    chargeable_units: str = Field(description="Units above the free ones")
    price_per_unit: str = Field(description="In the smallest currency unit")
    currency: str = Field(description="e.g. USD")
    total_price: int = Field(description="Charged, in the smallest currency unit")


class UsagePeriod(BillingPeriod):
    start_date: StoredTimestamp = Field(description="Period start")
    end_date: StoredTimestamp = Field(description="Period end")
    # Narrowed to the tool's own item model (pydantic parses into it; mypy calls a narrowed list invariant).
    meters: list[PeriodMeterUsage] = Field(description="Each metered component's usage")  # type: ignore[assignment]


class UsageHistoryPage(BaseModel):
    """One page of billing periods, with what an agent needs to fetch the next one."""

    items: list[UsagePeriod] = Field(description="Billing periods, newest first")
    page_number: int = Field(description="0-based page")
    page_size: int = Field(description="As requested")
    has_more: bool = Field(description="Page full: more may follow")
    next_page_number: int | None = Field(description="Ask for it next; null: the end")

    @classmethod
    def of(cls, items: list[UsagePeriod], query: UsageHistoryQuery) -> UsageHistoryPage:
        return cls(items=items, **paging(len(items), query.page_number, query.page_size))
