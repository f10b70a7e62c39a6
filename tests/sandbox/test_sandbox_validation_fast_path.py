"""The fast validation path of event batches is invisible: same values, same errors as the reference.

IngestEventsRequest and IngestEventsArguments validate a batch with pydantic-core alone, into plain
records, and fall back to the event model's Python validators when anything is off
(dodo_mcp/api/fast_events.py). Here arbitrary
batches go through both the public models and reference models declared the way they were before
the fast path existed (a plain `list[EventInput]`), from Python objects and from JSON, and must
give identical results: equal events (the references' models as the records they stand for), or
identical error lists (type, location, message, input).
"""

from __future__ import annotations

import json
import string
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dodo_mcp.api.limits import MAX_EVENTS_PER_CALL, MAX_EVENTS_PER_REQUEST
from dodo_mcp.api.models import EventInput, IngestEventsRequest, parse_ingest_request
from dodo_mcp.tools.models import IngestEventsArguments, UsageEventInput

NOW = datetime(2026, 1, 15, 10, 30, tzinfo=timezone.utc)


def reference_models() -> tuple[type[BaseModel], type[BaseModel]]:
    # Named like the public models: pydantic puts the class name in some error messages.
    class IngestEventsRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        events: list[EventInput] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)

    class IngestEventsArguments(BaseModel):
        model_config = ConfigDict(extra="forbid")
        events: list[UsageEventInput] = Field(min_length=1, max_length=MAX_EVENTS_PER_CALL)

    return IngestEventsRequest, IngestEventsArguments


ReferenceRequest, ReferenceArguments = reference_models()


def outcome(validate: Any, data: Any) -> Any:
    try:
        model = validate(data, context={"now": NOW})
    except ValidationError as exc:
        return [
            (e["type"], e["loc"], e["msg"], repr(e.get("input")), repr(e.get("ctx")))
            for e in exc.errors(include_url=False)
        ]
    # The public models hold plain records (what is sent and stored); the references hold models, whose
    # fields left out or null are what a record leaves out.
    return [
        event.model_dump(exclude_none=True) if isinstance(event, BaseModel) else _record(event)
        for event in model.events
    ]


def _record(event: Any) -> Any:
    assert type(event) is dict, type(event)
    assert None not in event.values(), event
    assert list(event) == [name for name in EventInput.model_fields if name in event], event
    return event


def sandbox_parse(data: Any, context: dict[str, Any]) -> IngestEventsRequest:
    """What the sandbox runs on a POST /events/ingest body."""
    return parse_ingest_request(data, context["now"])


text = st.one_of(
    st.text(alphabet=string.ascii_letters + "_-", min_size=1, max_size=12),
    st.text(max_size=8),
    st.sampled_from(["", "a\x00b", "x\x1f", "\x7f", "ü😀", "k" * 513, "\u0660"]),
)
stamp = st.one_of(
    st.none(),
    st.integers(-4000, 400).map(lambda s: (NOW + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")),
    st.sampled_from(
        [
            "2026-01-15T10:00:00Z",
            "2026-01-15t10:00:00z",
            "2026-01-15 10:00:00+00:00",
            "2026-01-15T10:00:00.123456789Z",
            "2026-01-15T11:34:00+01:00",
            "2026-02-30T10:00:00Z",
            "2026-01-15T10:00:00",
            "2026-01-15T10:00:00Z\n",
            "٢٠٢٦-01-15T10:00:00Z",
            "yesterday",
        ]
    ),
    st.integers(),
)
value = st.one_of(
    st.text(max_size=6),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.sampled_from(["x" * 500, "x" * 501, "a\x00", None, [1], {"a": 1}, 1.0, 0.0, -0.0]),
)
metadata = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=3), value, max_size=4),
    st.dictionaries(st.sampled_from(["k" * 100, "k" * 101]), value, max_size=1),
    st.just({f"k{i}": i for i in range(51)}),
    st.integers(),
)
event: st.SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries(
        {"event_id": text, "customer_id": text, "event_name": text},
        optional={"timestamp": stamp, "metadata": metadata, "extra": st.integers()},
    ),
    st.sampled_from([7, None, "e", [], {}]),
)
batch = st.one_of(
    st.fixed_dictionaries({"events": st.lists(event, max_size=5)}),
    st.fixed_dictionaries({"events": st.lists(event, max_size=3)}, optional={"other": st.integers()}),
    st.sampled_from([{"events": "nope"}, {}, [], {"events": None}]),
)


def pairs(data: Any) -> list[tuple[Any, Any]]:
    body = json.dumps(data, allow_nan=True)
    return [
        (outcome(IngestEventsRequest.model_validate, data), outcome(ReferenceRequest.model_validate, data)),
        (
            outcome(IngestEventsArguments.model_validate, data),
            outcome(ReferenceArguments.model_validate, data),
        ),
        (
            outcome(IngestEventsRequest.model_validate_json, body),
            outcome(ReferenceRequest.model_validate_json, body),
        ),
        (outcome(sandbox_parse, body.encode()), outcome(ReferenceRequest.model_validate_json, body)),
    ]


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch)
@example({"events": [{"event_id": "e", "customer_id": "c", "event_name": "n", "metadata": {"b": True, "i": 1}}]})
@example({"events": [{"event_id": "e", "customer_id": "c", "event_name": "n", "metadata": {"f": float("inf")}}]})
@example({"events": [{"event_id": f"e{i}", "customer_id": "c", "event_name": "n"} for i in range(1001)]})
def test_fast_path_matches_the_reference(data: Any) -> None:
    for fast, reference in pairs(data):
        assert fast == reference


def test_values_keep_their_json_types() -> None:
    data = {
        "events": [
            {
                "event_id": "e",
                "customer_id": "c",
                "event_name": "n",
                "metadata": {"b": True, "i": 1, "f": 1.0, "s": "1"},
            }
        ]
    }
    for model in (IngestEventsRequest, IngestEventsArguments):
        for validated in (
            model.model_validate(data, context={"now": NOW}),
            model.model_validate_json(json.dumps(data), context={"now": NOW}),
            parse_ingest_request(json.dumps(data).encode(), NOW),
        ):
            values = validated.events[0]["metadata"]
            assert [(k, type(v)) for k, v in values.items()] == [("b", bool), ("i", int), ("f", float), ("s", str)]
