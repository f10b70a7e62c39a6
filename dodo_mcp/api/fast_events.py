"""The fast path for validating a batch of events; the event model itself is the reference.

An event model (EventInput, or the tools' UsageEventInput derived from it) says exactly what is wrong
with a bad event through its Python validators, and those messages are a contract. Running them on
every event costs tens of microseconds an event, so a batch is first validated by pydantic-core
alone, against a strict twin of the model (`_StrictRecord`, a TypedDict with the model's fields in
its order) whose every rule is a core constraint (a pattern instead of a Python check, a strict
union instead of a PlainValidator); then its timestamps are parsed and held against the ingest
window in one Python pass, which also drops a null timestamp or metadata ("not given"). The twin is
as strict as the reference or stricter, never looser. When the twin or the timestamp pass finds
anything at all, the batch is validated again by the model itself, which reports the errors (or, for
the rare input only the twin refuses, such as non-ASCII digits in a timestamp, takes the value). A
valid batch costs core speed; an invalid one gets the same errors as ever. Nothing publishes the
twin's schema: the events field publishes the reference model's.

A tool call read whole from its JSON (tools.one_pass) has its events validated by the twin as they
are parsed, through `FastEvents.in_json`: they arrive as CheckedEvents, which the events field's
validator takes with only the Python rules left to run. From JSON text with no backslash and no DEL
byte, whose strings can hold no control character, the twin without the control-character patterns
(`_EscapeFreeRecord`) reads them.

Either way the events come out as EventRecords, plain dicts without nulls: what the ingest body
carries, so DodoClient serialises them straight from the dicts (api.client.ingest_body) and the sandbox
stores them as they are, with no model instance built on the way and no second walk to leave nulls
out. Measured with `bench/validation_bench.py --runs 60 --before-rev 0664e06` (1,000 events, each
with an id, a timestamp and 3 metadata keys; fastest of the runs on this project's shared 2-core
machine): the tool's arguments validate in 1.81 ms (the model-instance twin: 2.19 ms) and become
Dodo's body in 2.35 ms (4.20 ms); the reference alone takes about 7.9 ms.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    with_config,
)
from typing_extensions import NotRequired, TypedDict

from dodo_mcp.api.limits import (
    MAX_ID_LENGTH,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
    UNREADABLE_IDS,
)
from dodo_mcp.api.timestamps import RFC3339_ASCII, in_ingest_window, parse_rfc3339_shaped

EventT = TypeVar("EventT", bound=BaseModel)
# A metadata value. Defined here, not in dodo_mcp.api.models (which re-exports it), since that imports this.
Scalar = Union[str, int, float, bool]  # noqa: UP007 - pydantic needs the runtime Union on 3.10

# The identifier rule (no control characters) as a core pattern, anchored: core patterns search.
_NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
_Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
_StrictIdentifier = Annotated[_Identifier, Field(pattern=_NO_CONTROL_CHARACTERS)]
_MetadataString = Annotated[str, Field(strict=True, max_length=MAX_METADATA_STRING_LENGTH)]
_MetadataKey = Annotated[str, Field(max_length=MAX_METADATA_KEY_LENGTH)]
_StrictMetadataValue = Annotated[
    Union[  # noqa: UP007 - pydantic needs the runtime Union on 3.10
        # Tried in order, each strict: a string is taken at once; JSON true stays a boolean (no
        # int or float takes it) and 100 an integer (int comes before float, which would take it).
        Annotated[_MetadataString, Field(pattern=r"^[^\x00]*$")],
        StrictBool,
        StrictInt,
        Annotated[float, Field(strict=True, allow_inf_nan=False)],
    ],
    Field(union_mode="left_to_right"),
]
_StrictMetadata = Annotated[dict[_MetadataKey, _StrictMetadataValue], Field(max_length=MAX_METADATA_KEYS)]
_StrictTimestamp = Annotated[str, Field(pattern=RFC3339_ASCII)]

# The twin's types for strings read from JSON text with no escape sequence (no backslash) and no DEL
# byte. JSON forbids raw control characters in a string, so none read from such text holds one, and the
# patterns that say so (the identifiers', the metadata strings' no-NUL) can be left out (see in_json).
_EscapeFreeMetadataValue = Annotated[
    Union[  # noqa: UP007 - pydantic needs the runtime Union on 3.10
        _MetadataString,
        StrictBool,
        StrictInt,
        Annotated[float, Field(strict=True, allow_inf_nan=False)],
    ],
    Field(union_mode="left_to_right"),
]
_EscapeFreeMetadata = Annotated[dict[_MetadataKey, _EscapeFreeMetadataValue], Field(max_length=MAX_METADATA_KEYS)]


class EventRecord(TypedDict):
    """A valid event as plain data, what an ingest request's body carries: keys left out when not given (or null)."""

    event_id: str
    customer_id: str
    event_name: str
    timestamp: NotRequired[str]
    metadata: NotRequired[dict[str, Scalar]]


@with_config(ConfigDict(extra="forbid", strict=True))
class _StrictRecord(TypedDict):
    # EventRecord with every rule of the event model a pydantic-core constraint (see the module's docstring).
    event_id: _StrictIdentifier
    customer_id: _StrictIdentifier
    event_name: _StrictIdentifier
    timestamp: NotRequired[_StrictTimestamp | None]
    metadata: NotRequired[_StrictMetadata | None]


@with_config(ConfigDict(extra="forbid", strict=True))
class _EscapeFreeRecord(TypedDict):
    # _StrictRecord for strings that can hold no control character (see _EscapeFreeMetadataValue).
    event_id: _Identifier
    customer_id: _Identifier
    event_name: _Identifier
    timestamp: NotRequired[_StrictTimestamp | None]
    metadata: NotRequired[_EscapeFreeMetadata | None]


def python_rules_pass(records: list[Any], now: datetime | None) -> bool:
    """Whether the records pass the rules core constraints can't state: readable ids (a core pattern has no
    lookahead), and timestamps, already of RFC 3339 shape, that are real moments inside the window around `now`.

    A record with a null timestamp or metadata (it means "not given") is replaced in `records` by a copy
    without it, so no record holds a null; the record itself is left as it was (it may be the client's
    own arguments: CheckedEvents)."""
    for index, record in enumerate(records):
        if record["event_id"] in UNREADABLE_IDS:
            return False
        timestamp = record.get("timestamp", _ABSENT)
        if timestamp is not None and timestamp is not _ABSENT:
            try:
                moment = parse_rfc3339_shaped(timestamp)
            except ValueError:
                return False
            if now is not None and not in_ingest_window(moment, now):
                return False
        if timestamp is None or record.get("metadata", _ABSENT) is None:
            records[index] = {key: value for key, value in record.items() if value is not None}
    return True


_ABSENT = object()


class CheckedEvents(list):  # type: ignore[type-arg]
    """A tool call's events, read from its JSON straight into records that `checked_by`'s core checks passed.

    They stand in the call's arguments where the parsed JSON list would (equal to it, item for item), so
    everything that reads the arguments sees what the client sent; the events field's validator knows
    them and skips the walk it would repeat (see FastEvents.in_json)."""

    __slots__ = ("checked_by",)

    def __init__(self, checked_by: FastEvents[Any], records: list[Any]) -> None:
        super().__init__(records)
        self.checked_by = checked_by


class FastEvents(Generic[EventT]):
    """The fast path for a list of 1 to `max_length` events whose reference is the event model `model`."""

    def __init__(self, model: type[EventT], max_length: int) -> None:
        # The same fields in the same order, or the records would say what the model does not.
        assert list(_StrictRecord.__annotations__) == list(model.model_fields), model
        assert list(_EscapeFreeRecord.__annotations__) == list(model.model_fields), model
        self.model = model
        length = Field(min_length=1, max_length=max_length, strict=True)
        self._list: TypeAdapter[list[Any]] = TypeAdapter(Annotated[list[_StrictRecord], length])
        self._reference: TypeAdapter[list[EventT]] = TypeAdapter(Annotated[list[model], length])  # type: ignore[arg-type, valid-type]
        body = create_model(
            f"Strict{model.__name__}Body",
            __config__=ConfigDict(extra="forbid", strict=True),
            events=(Annotated[list[_StrictRecord], length], ...),
        )
        self._body: Callable[[bytes], Any] = body.model_validate_json
        self.validator = WrapValidator(self._validate)
        # For a field of a larger schema read with validate_json (a whole tools/call): the list read from
        # the JSON straight into records, checked by core, and marked so `validator` need not walk it again.
        # The second is for JSON text without a backslash or a DEL byte, whose strings can hold no control
        # character: its twin leaves out the patterns (some 13% of the twin's time on 1,000 events).
        checked = AfterValidator(self._checked)
        self.in_json: Any = Annotated[list[_StrictRecord], length, checked]
        self.in_escape_free_json: Any = Annotated[list[_EscapeFreeRecord], length, checked]

    def _checked(self, records: list[Any]) -> CheckedEvents:
        return CheckedEvents(self, records)

    def json_schema(self) -> dict[str, Any]:
        """The list's JSON schema, the reference model's, inlined (a field's own schema can't hold $defs)."""
        schema = self._reference.json_schema()
        definitions = schema.pop("$defs")
        (item,) = definitions.values()
        return {**schema, "items": item}

    def _validate(self, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> list[EventRecord]:
        """The validator of an events field: the fast path, and the reference whenever it finds a problem."""
        now = (info.context or {}).get("now")
        if isinstance(value, CheckedEvents) and value.checked_by is self:
            # Core checked them as they were read: only the Python rules are left.
            checked: list[Any] = list(value)
            records = checked if python_rules_pass(checked, now) else None
        else:
            records = self.records(value, now)
        if records is not None:
            return records
        # The reference says what is wrong (raised with its locations), or takes the rare value only the fast
        # path refuses (non-ASCII digits in a timestamp); as records, like the fast path's.
        events = self._reference.validate_python(value, context=info.context)
        return [event.model_dump(exclude_none=True) for event in events]  # type: ignore[misc]

    def records(self, value: Any, now: datetime | None) -> list[EventRecord] | None:
        """The events as records when the fast path accepts all of them, else None."""
        try:
            records: list[Any] = self._list.validate_python(value)
        except ValidationError:
            return None
        return records if python_rules_pass(records, now) else None

    def from_json_body(self, body: bytes, now: datetime | None) -> list[EventRecord] | None:
        """The events of a `{"events": [...]}` JSON body when the fast path accepts all of it, else None."""
        try:
            records: list[Any] = self._body(body).events
        except ValidationError:
            return None
        return records if python_rules_pass(records, now) else None
