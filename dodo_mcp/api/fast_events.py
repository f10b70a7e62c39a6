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

Either way the events come out as EventRecords, plain dicts without nulls: what the ingest body
carries, so DodoClient serialises them with pydantic-core straight from the dicts and the sandbox
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
_StrictIdentifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=_NO_CONTROL_CHARACTERS)]
_StrictMetadataValue = Annotated[
    Union[  # noqa: UP007 - pydantic needs the runtime Union on 3.10
        # Tried in order, each strict: a string is taken at once; JSON true stays a boolean (no
        # int or float takes it) and 100 an integer (int comes before float, which would take it).
        Annotated[str, Field(strict=True, max_length=MAX_METADATA_STRING_LENGTH, pattern=r"^[^\x00]*$")],
        StrictBool,
        StrictInt,
        Annotated[float, Field(strict=True, allow_inf_nan=False)],
    ],
    Field(union_mode="left_to_right"),
]
_StrictMetadata = Annotated[
    dict[Annotated[str, Field(max_length=MAX_METADATA_KEY_LENGTH)], _StrictMetadataValue],
    Field(max_length=MAX_METADATA_KEYS),
]
_StrictTimestamp = Annotated[str, Field(pattern=RFC3339_ASCII)]


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


def python_rules_pass(records: list[Any], now: datetime | None) -> bool:
    """Whether the records pass the rules core constraints can't state: readable ids (a core pattern has no
    lookahead), and timestamps, already of RFC 3339 shape, that are real moments inside the window around `now`.

    A null timestamp or metadata is dropped on the way (it means "not given"), so a record holds no null."""
    for record in records:
        if record["event_id"] in UNREADABLE_IDS:
            return False
        timestamp = record.get("timestamp", _ABSENT)
        if timestamp is None:
            del record["timestamp"]
        elif timestamp is not _ABSENT:
            try:
                moment = parse_rfc3339_shaped(timestamp)
            except ValueError:
                return False
            if now is not None and not in_ingest_window(moment, now):
                return False
        if record.get("metadata", _ABSENT) is None:
            del record["metadata"]
    return True


_ABSENT = object()


class FastEvents(Generic[EventT]):
    """The fast path for a list of 1 to `max_length` events whose reference is the event model `model`."""

    def __init__(self, model: type[EventT], max_length: int) -> None:
        # The same fields in the same order, or the records would say what the model does not.
        assert list(_StrictRecord.__annotations__) == list(model.model_fields), model
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

    def json_schema(self) -> dict[str, Any]:
        """The list's JSON schema, the reference model's, inlined (a field's own schema can't hold $defs)."""
        schema = self._reference.json_schema()
        definitions = schema.pop("$defs")
        (item,) = definitions.values()
        return {**schema, "items": item}

    def _validate(self, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> list[EventRecord]:
        """The validator of an events field: the fast path, and the reference whenever it finds a problem."""
        now = (info.context or {}).get("now")
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
