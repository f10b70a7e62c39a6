"""The sandbox's responses validate against Dodo's OpenAPI component schemas (tests/fixtures copy)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx2
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from dodo_mcp.api.timestamps import parse_rfc3339

SPEC_PATH = Path(__file__).parent.parent / "fixtures" / "openapi_events_meters.yml"


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def lenient_spec() -> dict[str, Any]:
    """The spec with its one known quirk allowed: an integer metadata value matches both integer and
    number, so `oneOf` rejects every integer although the API documents integers as allowed."""
    spec = copy.deepcopy(load_spec())
    values = spec["components"]["schemas"]["EventMetadata"]["additionalProperties"]
    values["anyOf"] = values.pop("oneOf")
    return spec


def validator(spec: dict[str, Any], component: str) -> jsonschema.protocols.Validator:
    schema = {"$ref": f"#/components/schemas/{component}", "components": spec["components"]}
    cls = jsonschema.validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


def check(component: str, instance: Any) -> None:
    validator(lenient_spec(), component).validate(instance)


def test_the_quirk_is_real_and_only_integers_need_the_allowance() -> None:
    strict = validator(load_spec(), "Event")
    event = {
        "business_id": "b",
        "customer_id": "c",
        "event_id": "e",
        "event_name": "n",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    strict.validate({**event, "metadata": {"s": "x", "f": 1.5, "b": True}})
    with pytest.raises(jsonschema.ValidationError):
        strict.validate({**event, "metadata": {"i": 1}})
    check("Event", {**event, "metadata": {"i": 1}})


def test_events_and_meters_responses_match_the_spec(http: httpx2.Client) -> None:
    events = [
        {"event_id": "c1", "customer_id": "cus_1", "event_name": "api", "metadata": {"i": 7, "f": 0.5, "b": False}},
        {"event_id": "c2", "customer_id": "cus_1", "event_name": "api", "metadata": {"plan": "premium", "t": "150"}},
        {"event_id": "c3", "customer_id": "cus_2", "event_name": "api", "metadata": None},
        {"event_id": "c4", "customer_id": "cus_2", "event_name": "api"},
    ]
    # The request itself is valid per the spec too: the sandbox accepts what the spec describes.
    check("IngestEventsRequest", {"events": events})
    ingested = http.post("/events/ingest", json={"events": events})
    assert ingested.status_code == 200
    check("IngestEventsResponse", ingested.json())

    listed = http.get("/events").json()
    check("GetEventsResponse", listed)
    assert len(listed["items"]) == 4
    for item in listed["items"]:
        parse_rfc3339(item["timestamp"])  # format: date-time, checked whether or not jsonschema can
        one = http.get(f"/events/{item['event_id']}").json()
        check("Event", one)
        assert one == item

    meter_body = {
        "name": "premium",
        "event_name": "api",
        "measurement_unit": "calls",
        "description": "Premium calls",
        "aggregation": {"type": "count"},
        "filter": {
            "conjunction": "or",
            "clauses": [
                {"conjunction": "and", "clauses": [{"key": "plan", "operator": "equals", "value": "premium"}]},
                {"conjunction": "and", "clauses": [{"key": "i", "operator": "greater_than", "value": 5}]},
            ],
        },
    }
    check("CreateMeterRequest", meter_body)
    created = http.post("/meters", json=meter_body)
    assert created.status_code == 201
    meter = created.json()
    check("MeterResponse", meter)
    check("MeterResponse", http.get(f"/meters/{meter['id']}").json())
    check("ListMetersResponse", http.get("/meters").json())
    by_meter = http.get("/events", params={"meter_id": meter["id"]}).json()
    check("GetEventsResponse", by_meter)
    assert [item["event_id"] for item in by_meter["items"]] == ["c1", "c2"]  # same timestamp: ties by event_id
