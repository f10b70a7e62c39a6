"""Pydantic models of the usage-events API's wire shapes, with Dodo's limits and Dodo's wording.

These are what DodoClient sends and parses and what the sandbox validates. The tools publish
their own agent-facing models (dodo_mcp.tools.models), derived field by field from these, so a
rule is written once here and enforced by the tools and the sandbox alike.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from dodo_mcp.api.fast_events import EventRecord, FastEvents
from dodo_mcp.api.fast_events import Scalar as Scalar  # re-exported: the models are where the other modules take it
from dodo_mcp.api.limits import (
    DEFAULT_PAGE_SIZE,
    MAX_EVENTS_PER_REQUEST,
    MAX_ID_LENGTH,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
    MAX_PAGE_NUMBER,
    MAX_PAGE_SIZE,
    UNREADABLE_IDS,
)
from dodo_mcp.api.timestamps import check_timestamp_window, end_not_before_start, parse_rfc3339

_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def json_kind(value: Any) -> str:
    """What a JSON value is, in words: "an object", "an array", "null", or its type's name."""
    return {dict: "an object", list: "an array", type(None): "null"}.get(type(value), type(value).__name__)


def scalar(value: Any, expected: str) -> str | int | float | bool:
    """`value` if it is a JSON string, number or boolean (finite), else ValueError "<expected>, not <kind>"."""
    # Strict: JSON true stays a boolean and 100 an integer (no silent coercion to "100" or 100.0).
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return value
    raise ValueError(f"{expected}, not {json_kind(value)}")


def _check_identifier(value: str) -> str:
    found = _CONTROL_CHARACTER.search(value)
    if found:
        raise ValueError(
            f"must not contain control characters (found U+{ord(found.group()):04X} at position {found.start()})"
        )
    return value


def check_path_segment(value: str, what: str) -> str:
    """`value` if it can stand as one URL path segment of /events/{id} or /meters/{id}."""
    if value in UNREADABLE_IDS:
        raise ValueError(
            f"{value!r} is not a valid {what}: URL paths resolve '.' and '..' away, so it could never be looked up by id"
        )
    return value


def _metadata_value(value: Any) -> str | int | float | bool:
    # One clear error instead of one error per member of the union.
    if isinstance(value, str):
        if len(value) > MAX_METADATA_STRING_LENGTH:
            raise ValueError(f"string values may be at most {MAX_METADATA_STRING_LENGTH} characters (got {len(value)})")
        if "\x00" in value:
            raise ValueError("string values must not contain NUL characters")
    return scalar(value, "values must be a string, integer, number or boolean")


def _check_rfc3339(value: str) -> str:
    parse_rfc3339(value)
    return value


def _within_ingest_window(value: str, info: ValidationInfo) -> str:
    # The window depends on the clock, so callers pass `now` in the validation context.
    now = (info.context or {}).get("now")
    if now is not None:
        check_timestamp_window(parse_rfc3339(value), now)
    return value


def _reject_bool(value: Any) -> Any:
    # JSON true would otherwise pass as the integer 1.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_check_identifier)]
EventId = Annotated[Identifier, AfterValidator(lambda value: check_path_segment(value, "event id"))]
MeterId = Annotated[Identifier, AfterValidator(lambda value: check_path_segment(value, "meter id"))]
Timestamp = Annotated[str, AfterValidator(_check_rfc3339), Field(json_schema_extra={"format": "date-time"})]
# A timestamp to ingest: RFC 3339 and, when the validation context has `now`, inside Dodo's window.
IngestTimestamp = Annotated[Timestamp, AfterValidator(_within_ingest_window)]
MetadataValue = Annotated[Scalar, PlainValidator(_metadata_value, json_schema_input_type=Scalar)]
MetadataKey = Annotated[str, Field(max_length=MAX_METADATA_KEY_LENGTH)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_KEYS)]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE), BeforeValidator(_reject_bool)]
PageNumber = Annotated[int, Field(ge=0, le=MAX_PAGE_NUMBER), BeforeValidator(_reject_bool)]
# Kept as Dodo's own text: parsing and re-printing it could change what the agent sees.
StoredTimestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

# Dodo's wording, from its OpenAPI spec (with our limits added where the spec states none).
_EVENT_METADATA = "Arbitrary key-value metadata. Values can be string, integer, number, or boolean."
_EVENT_ID = (
    "Event Id acts as an idempotency key. Any subsequent requests with the same event_id will be ignored. "
    "Use a deterministic id, e.g. customer + action + time."
)
_TIMESTAMP = (
    "Custom Timestamp (RFC 3339). Defaults to current timestamp in UTC. Timestamps that are older than 1 hour or "
    "more than 5 minutes in the future, from current timestamp, will be rejected."
)
_METADATA = (
    "Custom metadata. Only key value pairs are accepted, objects or arrays submitted will be rejected. "
    f"At most {MAX_METADATA_KEYS} keys of at most {MAX_METADATA_KEY_LENGTH} characters; values are "
    f"strings (at most {MAX_METADATA_STRING_LENGTH} characters), integers, numbers or booleans."
)
_FILTER_EVENT_NAME = (
    "Filter events by event name. If both event_name and meter_id are provided, they must match the meter's "
    "configured event_name"
)
_FILTER_METER_ID = (
    "Filter events by meter ID. When provided, only events that match the meter's event_name and filter criteria "
    "will be returned"
)
_FILTER_START = "Filter events created after this timestamp (RFC 3339, e.g. 2026-01-14T10:30:00Z)"
_FILTER_END = "Filter events created before this timestamp (RFC 3339, e.g. 2026-01-15T10:30:00Z)"


class Event(BaseModel):
    """A usage event as Dodo stores it: its business_id, customer_id, event_id (exactly as ingested), event_name,
    timestamp (RFC 3339) and metadata. Dodo's spec describes none of the fields but metadata."""

    model_config = ConfigDict(extra="ignore")

    business_id: str
    customer_id: str
    event_id: str
    event_name: str
    timestamp: StoredTimestamp
    metadata: dict[str, Scalar] | None = Field(default=None, description=_EVENT_METADATA)


class EventInput(BaseModel):
    """One usage event to ingest."""

    model_config = ConfigDict(extra="forbid")

    # Refused at ingest too: an event stored under "." could never be retrieved by its id.
    event_id: EventId = Field(description=_EVENT_ID)
    customer_id: Identifier = Field(description="customer_id of the customer whose usage needs to be tracked")
    event_name: Identifier = Field(description="Name of the event")
    timestamp: IngestTimestamp | None = Field(default=None, description=_TIMESTAMP)
    metadata: Metadata | None = Field(default=None, description=_METADATA)


_REQUEST_EVENTS = FastEvents(EventInput, MAX_EVENTS_PER_REQUEST)


class IngestEventsRequest(BaseModel):
    """The body of POST /events/ingest."""

    model_config = ConfigDict(extra="forbid")

    # Validated as EventInput, held as plain EventRecords: what the body is sent and stored as (fast_events).
    events: Annotated[list[EventRecord], _REQUEST_EVENTS.validator, WithJsonSchema(_REQUEST_EVENTS.json_schema())] = (
        Field(
            min_length=1,
            max_length=MAX_EVENTS_PER_REQUEST,
            description="List of events to be pushed",
        )
    )


def parse_ingest_request(body: bytes, now: datetime) -> IngestEventsRequest:
    """POST /events/ingest's body from JSON, validated against the window around `now` (ValidationError if not).

    A valid body takes the fast path straight from the JSON bytes; anything else is validated by
    IngestEventsRequest, whose errors say what is wrong.
    """
    events = _REQUEST_EVENTS.from_json_body(body, now)
    if events is not None:
        return IngestEventsRequest.model_construct(events=events)
    return IngestEventsRequest.model_validate_json(body, context={"now": now})


class IngestEventsResponse(BaseModel):
    """Dodo's answer to POST /events/ingest."""

    model_config = ConfigDict(extra="ignore")

    ingested_count: int = Field(ge=0)


class EventFilters(BaseModel):
    """The filters of GET /events."""

    model_config = ConfigDict(extra="forbid")

    customer_id: Identifier | None = Field(default=None, description="Filter events by customer ID")
    event_name: Identifier | None = Field(default=None, description=_FILTER_EVENT_NAME)
    meter_id: Identifier | None = Field(default=None, description=_FILTER_METER_ID)
    start: Timestamp | None = Field(default=None, description=_FILTER_START)
    end: Timestamp | None = Field(default=None, description=_FILTER_END)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: str | None, info: ValidationInfo) -> str | None:
        end_not_before_start(info.data.get("start"), end)
        return end

    def page(self, page_number: int, page_size: int) -> ListEventsQuery:
        """These filters with one explicit page."""
        filters = {name: getattr(self, name) for name in EventFilters.model_fields}
        return ListEventsQuery.model_construct(**filters, page_size=page_size, page_number=page_number)


class ListEventsQuery(EventFilters):
    """The filters and page of GET /events."""

    page_size: PageSize = Field(
        default=DEFAULT_PAGE_SIZE,
        description=f"Number of events to return per page (1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE})",
    )
    page_number: PageNumber = Field(default=0, description="Page number (0-based, default: 0)")

    def to_params(self) -> dict[str, str | int]:
        """The query string Dodo expects: only the filters that were given, and the page."""
        return self.model_dump(exclude_none=True)


EventT = TypeVar("EventT", bound=Event)


class ListEventsResponse(BaseModel, Generic[EventT]):
    """Dodo's answer to GET /events: the page's items and nothing else (as Event, or a subclass of it)."""

    model_config = ConfigDict(extra="ignore")

    items: list[EventT]
