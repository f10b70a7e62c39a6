"""Contract: our requests and the double's responses validate against Dodo's own OpenAPI spec (the server
in-process behind the SDK's client, the double on 127.0.0.1)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.conftest import counts, dodo_settings, ingest_counts, tool_session
from tests.dodo_double import EVENT, DodoDouble, Recorded

pytestmark = pytest.mark.anyio

SPEC_PATH = Path(__file__).parent / "fixtures" / "openapi_events.yml"


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    document = copy.deepcopy(document)
    # The spec's quirk: an integer matches both "integer" and "number" in its oneOf, so a strict
    # validator rejects every integer although the API documents integers as allowed. anyOf keeps
    # the same four types without that contradiction.
    values = document["components"]["schemas"]["EventMetadata"]["additionalProperties"]
    values["anyOf"] = values.pop("oneOf")
    return document


def validator(component: str) -> Draft202012Validator:
    root = {**spec(), "$ref": f"#/components/schemas/{component}"}
    return Draft202012Validator(root)


def assert_valid(component: str, instance: Any) -> None:
    errors = sorted(validator(component).iter_errors(instance), key=str)
    assert not errors, f"{component}: {[e.message for e in errors]}"


def operation(path: str, method: str) -> dict[str, Any]:
    result: dict[str, Any] = spec()["paths"][path][method]
    return result


def assert_query_matches(request: Recorded, path: str) -> None:
    parameters = {p["name"]: p for p in operation(path, "get")["parameters"] if p["in"] == "query"}
    for name, raw in request.query:
        assert name in parameters, f"{name} is not a documented query parameter of GET {path}"
        schema = parameters[name]["schema"]
        value: Any = int(raw) if schema["type"] == "integer" else raw
        errors = list(Draft202012Validator(schema).iter_errors(value))
        assert not errors, (name, raw, [e.message for e in errors])
        if schema.get("format") == "date-time":
            datetime.fromisoformat(raw.replace("Z", "+00:00"))


def test_the_quirk_is_real_in_the_published_spec() -> None:
    """Without the anyOf fix an integer metadata value fails validation: the fixture is faithful."""
    raw = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    strict = Draft202012Validator({**raw, "$ref": "#/components/schemas/EventMetadata"})
    assert not strict.is_valid({"n": 3})
    assert strict.is_valid({"s": "x", "f": 0.5, "b": True})


def test_the_double_answers_in_the_documented_shapes() -> None:
    assert_valid("Event", EVENT)
    assert_valid("GetEventsResponse", {"items": [EVENT]})
    assert_valid("IngestEventsResponse", {"ingested_count": 3})


async def test_requests_and_results_match_the_spec(dodo: DodoDouble) -> None:
    now = datetime.now(timezone.utc)
    events = [
        {
            "event_id": "cus_1:api:1",
            "customer_id": "cus_1",
            "event_name": "api_request",
            "timestamp": (now - timedelta(minutes=5)).isoformat(),
            "metadata": {"tokens_used": "150", "n": 3, "ratio": 0.5, "cached": True},
        },
        {"event_id": "cus_1:api:2", "customer_id": "cus_1", "event_name": "api_request", "metadata": None},
    ]
    async with tool_session(dodo_settings(dodo.url)) as session:
        retrieved = await session.call("retrieve_event", {"event_id": "cus_1:api:1"})
        listed = await session.call(
            "list_events",
            {
                "customer_id": "cus_1",
                "event_name": "api_request",
                "meter_id": "mtr_1",
                "start": "2026-01-14T10:30:00Z",
                "end": "2026-01-15T10:30:00Z",
                "page_size": 50,
                "page_number": 2,
            },
        )
        ingested = await session.call("ingest_events", {"events": events})

    get_one, get_list, post = dodo.requests
    parameters = operation("/events/{event_id}", "get")["parameters"]
    assert [p["name"] for p in parameters if p["in"] == "path"] == ["event_id"]
    assert get_one.raw_path == "/events/cus_1%3Aapi%3A1"
    assert_query_matches(get_list, "/events")
    assert_valid("IngestEventsRequest", post.json())
    body_schema = operation("/events/ingest", "post")["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/IngestEventsRequest"}

    assert_valid("Event", retrieved.structured_content)
    assert listed.structured_content is not None
    for item in listed.structured_content["items"]:
        assert_valid("Event", item)
    assert counts(ingested.structured_content) == ingest_counts(submitted=2, ingested=2)
