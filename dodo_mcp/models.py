"""Pydantic models of every usage-events API shape, with Dodo's limits.

This module is the single source of truth for the API's rules: the tools'
JSON schemas are derived from these models, the tools validate arguments with
them, and the sandbox enforces the same limits by importing them.
Descriptions are Dodo's own wording where the API documents one.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from typing_extensions import Self

# Dodo's documented limits. Change them here and nowhere else.
MAX_EVENTS_PER_REQUEST = 1000
# What one ingest_events call accepts; it is split into API-sized batches.
MAX_EVENTS_PER_CALL = 10_000
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 100
MAX_METADATA_STRING_LENGTH = 500
MAX_TIMESTAMP_AGE = timedelta(hours=1)
MAX_TIMESTAMP_LEAD = timedelta(minutes=5)
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
# Not a documented Dodo limit but ours: an id must fit in a URL (percent-encoded, up to 12 bytes a
# character) to be retrievable, and no sensible deterministic id comes near it.
MAX_ID_LENGTH = 512
# The spec types page_number as int32; a larger number is an agent's mistake.
MAX_PAGE_NUMBER = 2**31 - 1

# RFC 3339 date-time: a full date, a time and a mandatory offset ("Z" or ±hh:mm).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 date-time into an aware datetime, or raise ValueError."""
    if not _RFC3339.match(value):
        raise ValueError(f"{value[:40]!r} is not an RFC 3339 date-time; use a form like 2026-01-15T10:30:00Z")
    try:
        return _parse_rfc3339_shaped(value)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not a valid date-time (check the day and time)") from None


def _parse_rfc3339_shaped(value: str) -> datetime:
    """datetime.fromisoformat of a string with _RFC3339's shape, normalised for it (ValueError if no such moment).

    fromisoformat on 3.10 accepts neither "Z" nor more than 6 fractional digits, so the separator
    becomes "T", a Z "+00:00" and the fraction is cut to microseconds. In a string of that shape only
    those three can need it, and each sits at a known place: after the Z normalisation the string is
    19 characters of date and time, an optional "." and digits, then a 6-character offset.
    """
    text = value
    if text[10] != "T":
        text = f"{text[:10]}T{text[11:]}"
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    if len(text) > 32:  # 19 + "." + 6 digits + 6: more than microseconds
        text = text[:26] + text[-6:]
    return datetime.fromisoformat(text)


def _check_rfc3339(value: str) -> str:
    parse_rfc3339(value)
    return value


def _check_identifier(value: str) -> str:
    found = _CONTROL_CHARACTER.search(value)
    if found:
        raise ValueError(
            f"must not contain control characters (found U+{ord(found.group()):04X} at position {found.start()})"
        )
    return value


def _reject_bool(value: Any) -> Any:
    # JSON true would otherwise pass as the integer 1.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


def _metadata_value(value: Any) -> str | int | float | bool:
    # One clear error instead of one error per member of the union.
    if isinstance(value, str):
        if len(value) > MAX_METADATA_STRING_LENGTH:
            raise ValueError(f"string values may be at most {MAX_METADATA_STRING_LENGTH} characters (got {len(value)})")
        if "\x00" in value:
            raise ValueError("string values must not contain NUL characters")
        return value
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return value
    kind = {dict: "an object", list: "an array", type(None): "null"}.get(type(value), type(value).__name__)
    raise ValueError(f"values must be a string, integer, number or boolean, not {kind}")


Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_check_identifier)]
Timestamp = Annotated[str, AfterValidator(_check_rfc3339), Field(json_schema_extra={"format": "date-time"})]
MetadataValue = Annotated[
    Union[str, int, float, bool],  # noqa: UP007 - pydantic needs the runtime Union on 3.10
    PlainValidator(_metadata_value, json_schema_input_type=Union[str, int, float, bool]),  # noqa: UP007
]
MetadataKey = Annotated[str, Field(max_length=MAX_METADATA_KEY_LENGTH)]
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Field(
        max_length=MAX_METADATA_KEYS,
        description=(
            "Custom metadata. Only key value pairs are accepted, objects or arrays submitted will be rejected. "
            f"At most {MAX_METADATA_KEYS} keys of at most {MAX_METADATA_KEY_LENGTH} characters; values are "
            f"strings (at most {MAX_METADATA_STRING_LENGTH} characters), integers, numbers or booleans."
        ),
    ),
]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE), BeforeValidator(_reject_bool)]
PageNumber = Annotated[int, Field(ge=0, le=MAX_PAGE_NUMBER), BeforeValidator(_reject_bool)]


class Event(BaseModel):
    """A usage event as Dodo stores it."""

    model_config = ConfigDict(extra="ignore")

    business_id: str = Field(description="The business the event belongs to.")
    customer_id: str = Field(description="customer_id of the customer whose usage was tracked.")
    event_id: str = Field(description="The event's idempotency key, exactly as ingested (case-sensitive).")
    event_name: str = Field(description="Name of the event.")
    # Kept as Dodo's own text: parsing and re-printing it could change what the agent sees.
    timestamp: Annotated[str, Field(json_schema_extra={"format": "date-time"})] = Field(
        description="When the event happened (RFC 3339)."
    )
    metadata: dict[str, str | int | float | bool] | None = Field(
        default=None,
        description="Arbitrary key-value metadata. Values can be string, integer, number, or boolean.",
    )


class EventInput(BaseModel):
    """One usage event to ingest."""

    model_config = ConfigDict(extra="forbid")

    event_id: Identifier = Field(
        description=(
            "Event Id acts as an idempotency key. Any subsequent requests with the same event_id will be "
            "ignored. Use a deterministic id, e.g. customer + action + time."
        )
    )
    customer_id: Identifier = Field(description="customer_id of the customer whose usage needs to be tracked")
    event_name: Identifier = Field(description="Name of the event")
    timestamp: Timestamp | None = Field(
        default=None,
        description=(
            "Custom Timestamp (RFC 3339). Defaults to current timestamp in UTC. Timestamps that are older than "
            "1 hour or more than 5 minutes in the future, from current timestamp, will be rejected."
        ),
    )
    metadata: Metadata | None = None

    @field_validator("timestamp")
    @classmethod
    def _within_accepted_window(cls, value: str | None, info: ValidationInfo) -> str | None:
        # The window depends on the clock, so callers pass `now` in the validation context.
        now = (info.context or {}).get("now")
        if value is None or now is None:
            return value
        check_timestamp_window(parse_rfc3339(value), now)
        return value


def check_timestamp_window(moment: datetime, now: datetime) -> None:
    """Raise ValueError unless `moment` lies within Dodo's accepted ingest window around `now`."""
    if moment < now - MAX_TIMESTAMP_AGE:
        raise ValueError(
            f"is more than 1 hour in the past (now is {format_timestamp(now)}); Dodo rejects it. "
            "Send a recent timestamp or omit it to use the current time"
        )
    if moment > now + MAX_TIMESTAMP_LEAD:
        raise ValueError(f"is more than 5 minutes in the future (now is {format_timestamp(now)}); Dodo rejects it")


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a Z suffix."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# The fast path for batches of events.
#
# EventInput above is the reference: its Python validators say exactly what is wrong with a bad
# event, and those messages are a contract. Running them on every event costs tens of microseconds
# per event, so a batch is first validated by pydantic-core alone, against a twin of EventInput
# whose every rule is a core constraint (a pattern instead of a Python check, a strict union instead
# of a PlainValidator), and then its timestamps are parsed and checked in one Python pass. The twin
# is as strict as the reference or stricter, never looser. When it or the timestamp pass finds
# anything at all, the batch is validated again by the reference, which then reports the errors
# (or, for the rare input only the twin refuses, such as bytes for a string, gives the value). So a
# valid batch costs core speed and an invalid one gets the same errors as ever. Nothing publishes
# the twin's schema: the tools' schemas still come from EventInput.

# _CONTROL_CHARACTER as a core pattern (anchored: core patterns search).
_NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
# _RFC3339 with ASCII digits: narrower than \d, so other digits take the reference path.
_RFC3339_ASCII = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_FastIdentifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=_NO_CONTROL_CHARACTERS)]
_FastMetadataValue = Annotated[
    Union[  # noqa: UP007
        # Tried in order, each strict: a string is taken at once; JSON true stays a boolean (no
        # int or float takes it) and 100 an integer (int comes before float, which would take it).
        Annotated[str, Field(strict=True, max_length=MAX_METADATA_STRING_LENGTH, pattern=r"^[^\x00]*$")],
        StrictBool,
        StrictInt,
        Annotated[float, Field(strict=True, allow_inf_nan=False)],
    ],
    Field(union_mode="left_to_right"),
]


class _FastEventInput(BaseModel):
    """EventInput's rules as core constraints only: the same fields in the same order, strict."""

    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: _FastIdentifier
    customer_id: _FastIdentifier
    event_name: _FastIdentifier
    timestamp: Annotated[str, Field(pattern=_RFC3339_ASCII)] | None = None
    metadata: (
        Annotated[
            dict[Annotated[str, Field(max_length=MAX_METADATA_KEY_LENGTH)], _FastMetadataValue],
            Field(max_length=MAX_METADATA_KEYS),
        ]
        | None
    ) = None


assert list(_FastEventInput.model_fields) == list(EventInput.model_fields)


def _accept_fast(events: list[Any], context: Any, event_class: type[BaseModel]) -> bool:
    """Whether events the twin accepted pass the timestamp checks too; if so they become `event_class`.

    The timestamps' shape was checked by the core pattern; here each is parsed (catching days and
    times that do not exist) and held against the ingest window around the context's `now`.
    """
    now: datetime | None = (context or {}).get("now")
    window = None if now is None else (now - MAX_TIMESTAMP_AGE, now + MAX_TIMESTAMP_LEAD)
    for event in events:
        timestamp = event.timestamp
        if timestamp is not None:
            try:
                moment = _parse_rfc3339_shaped(timestamp)
            except ValueError:
                return False
            if window is not None and not window[0] <= moment <= window[1]:
                return False
    # The twin's instances become EventInput ones in place: the same fields in the same order, the
    # same slots and pydantic state (no private attributes, no extras), so nothing is copied.
    for event in events:
        _set_class(event, "__class__", event_class)
    return True


_set_class = object.__setattr__


def _fast_events(max_length: int) -> WrapValidator:
    """The validator of an `events` field: the fast path, and the reference whenever it finds a problem."""
    fast = TypeAdapter(Annotated[list[_FastEventInput], Field(min_length=1, max_length=max_length, strict=True)])

    def validate(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        try:
            events: list[Any] = fast.validator.validate_python(value)
        except ValidationError:
            return handler(value)
        return events if _accept_fast(events, info.context, EventInput) else handler(value)

    return WrapValidator(validate)


class IngestEventsRequest(BaseModel):
    """The body of POST /events/ingest."""

    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[EventInput], _fast_events(MAX_EVENTS_PER_REQUEST)] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_REQUEST,
        description="List of events to be pushed",
    )

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:  # type: ignore[override]
        """pydantic's model_validate_json, with a faster path for a plain call (only `context`).

        The events field's fast path (see _fast_events) still gets Python objects made from the
        JSON; this one validates the JSON itself against the twin, skipping that step.
        """
        if cls is IngestEventsRequest and set(options) <= {"context"}:
            try:
                fast = _FastIngestEventsRequest.__pydantic_validator__.validate_json(json_data)
            except ValidationError:
                pass
            else:
                if _accept_fast(fast.events, options.get("context"), EventInput):
                    _set_class(fast, "__class__", cls)
                    return fast  # type: ignore[no-any-return]
        return super().model_validate_json(json_data, **options)


class _FastIngestEventsRequest(BaseModel):
    """IngestEventsRequest's twin, for its fast path from JSON."""

    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[_FastEventInput] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)


class IngestEventsResponse(BaseModel):
    """Dodo's answer to POST /events/ingest."""

    model_config = ConfigDict(extra="ignore")

    ingested_count: int = Field(ge=0)


class ListEventsQuery(BaseModel):
    """The filters and page of GET /events."""

    model_config = ConfigDict(extra="forbid")

    customer_id: Identifier | None = Field(default=None, description="Filter events by customer ID")
    event_name: Identifier | None = Field(
        default=None,
        description=(
            "Filter events by event name. If both event_name and meter_id are provided, they must match the "
            "meter's configured event_name"
        ),
    )
    meter_id: Identifier | None = Field(
        default=None,
        description=(
            "Filter events by meter ID. When provided, only events that match the meter's event_name and "
            "filter criteria will be returned"
        ),
    )
    start: Timestamp | None = Field(
        default=None, description="Filter events created after this timestamp (RFC 3339, e.g. 2026-01-14T10:30:00Z)"
    )
    end: Timestamp | None = Field(
        default=None, description="Filter events created before this timestamp (RFC 3339, e.g. 2026-01-15T10:30:00Z)"
    )
    page_size: PageSize = Field(
        default=DEFAULT_PAGE_SIZE,
        description=f"Number of events to return per page (1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE})",
    )
    page_number: PageNumber = Field(default=0, description="Page number (0-based, default: 0)")

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: str | None, info: ValidationInfo) -> str | None:
        start = info.data.get("start")
        if end is not None and start is not None and parse_rfc3339(end) < parse_rfc3339(start):
            raise ValueError(f"must not be before start ({start})")
        return end

    def to_params(self) -> dict[str, str | int]:
        """The query string Dodo expects: only the filters that were given, and the page."""
        return self.model_dump(exclude_none=True)


class ListEventsResponse(BaseModel):
    """Dodo's answer to GET /events: the page's items and nothing else."""

    model_config = ConfigDict(extra="ignore")

    items: list[Event]


# What the tools take and return. Tool schemas are derived from these.


def _check_path_segment(value: str) -> str:
    # "." and ".." would be resolved away by URL normalisation and reach another route.
    if value in (".", ".."):
        raise ValueError(f"{value!r} is not a valid event id")
    return value


class RetrieveEventArguments(BaseModel):
    """Arguments of the retrieve_event tool."""

    model_config = ConfigDict(extra="forbid")

    event_id: Annotated[Identifier, AfterValidator(_check_path_segment)] = Field(
        description="The event_id given at ingestion. Event IDs are case-sensitive and must match exactly."
    )


class ListEventsArguments(ListEventsQuery):
    """Arguments of the list_events tool: Dodo's filters and an explicit 0-based page."""


class IngestEventsArguments(BaseModel):
    """Arguments of the ingest_events tool: up to MAX_EVENTS_PER_CALL events, sent in API-sized batches."""

    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[EventInput], _fast_events(MAX_EVENTS_PER_CALL)] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_CALL,
        description=(
            f"The usage events to record, 1 to {MAX_EVENTS_PER_CALL}. More than {MAX_EVENTS_PER_REQUEST} are sent "
            "to Dodo in batches; event_ids must be unique across the whole call."
        ),
    )


class EventPage(BaseModel):
    """One page of events, with what an agent needs to fetch the next one."""

    items: list[Event] = Field(description="The events on this page, newest first.")
    page_number: int = Field(description="The 0-based page these items come from.")
    page_size: int = Field(description="The page size that was requested.")
    has_more: bool = Field(
        description=(
            "True when this page came back full, so another page may follow; "
            "the page after the last one comes back empty with has_more false."
        )
    )
    next_page_number: int | None = Field(
        description="The page_number to ask for next, or null when there are no more events."
    )


class IngestBatch(BaseModel):
    """The outcome of one request to POST /events/ingest."""

    first_index: int = Field(description="Index in `events` of the batch's first event.")
    event_count: int = Field(description="How many events the batch carried.")
    confirmed: bool = Field(description="True when Dodo answered that it holds every event of the batch.")
    ingested_count: int | None = Field(description="New events Dodo recorded from this batch (null if unconfirmed).")
    ignored_count: int | None = Field(description="Events Dodo already had, by event_id (null if unconfirmed).")
    attempts: int = Field(description="Requests made for this batch, retries included.")
    error: str | None = Field(default=None, description="Why the batch is unconfirmed, and what to do.")


class IngestResult(BaseModel):
    """What happened to the events sent to ingest_events."""

    submitted_count: int = Field(description="How many events the call carried.")
    ingested_count: int = Field(description="How many Dodo recorded as new events.")
    ignored_count: int = Field(
        description=(
            "How many Dodo ignored because it already had their event_id (ingest is idempotent by event_id). "
            "After a retried batch this includes events its earlier, unanswered attempt had stored."
        )
    )
    unconfirmed_count: int = Field(description="How many events are in batches Dodo never confirmed.")
    unconfirmed_event_ids: list[str] = Field(
        description="The event_ids of every unconfirmed event: re-send exactly these events; it is safe."
    )
    batches: list[IngestBatch] = Field(description="One entry per request to Dodo, in order.")
