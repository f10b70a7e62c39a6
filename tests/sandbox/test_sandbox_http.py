"""The sandbox's HTTP contract, through a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx2
import pytest

from dodo_mcp.api.timestamps import format_timestamp
from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, SandboxStore
from dodo_mcp.sandbox.app import MAX_BODY_BYTES

from .conftest import LiveSandbox


def now(offset: timedelta = timedelta()) -> str:
    return format_timestamp(datetime.now(timezone.utc) + offset)


def ev(event_id: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": "cus_1", "event_name": "api_request", **fields}


def ingest(http: httpx2.Client, *events: dict[str, Any]) -> httpx2.Response:
    return http.post("/events/ingest", json={"events": list(events)})


def error(response: httpx2.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"code", "message"}
    return response.status_code, body["code"], body["message"]


METER = {
    "name": "Premium tokens",
    "event_name": "api_request",
    "measurement_unit": "tokens",
    "aggregation": {"type": "sum", "key": "tokens"},
    "filter": {"conjunction": "and", "clauses": [{"key": "plan", "operator": "equals", "value": "premium"}]},
}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": DEFAULT_SANDBOX_API_KEY}, {"Authorization": "Basic x"}],
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/events"), ("POST", "/events/ingest"), ("GET", "/meters/x")])
def test_every_endpoint_requires_the_bearer_key(
    live: LiveSandbox, headers: dict[str, str], method: str, path: str
) -> None:
    with live.client(headers=headers) as client:
        response = client.request(method, path)
    assert error(response) == (
        401,
        "UNAUTHORIZED",
        "Missing or invalid API key: send 'Authorization: Bearer <key>' with the key this sandbox was started with",
    )


def test_a_custom_key_is_enforced(store: SandboxStore) -> None:
    with LiveSandbox(store, api_key="sk_custom") as live:
        with live.client(headers={"Authorization": "Bearer sk_custom"}) as client:
            assert client.get("/events").json() == {"items": []}
        with live.client() as client:
            assert client.get("/events").status_code == 401


def test_ingest_then_retrieve_with_percent_encoded_ids(http: httpx2.Client) -> None:
    ids = ["a/b", "Case", "case", "sp ace", "ünï", "100%", "?q=1#x", "ingest"]
    stamp = now(-timedelta(minutes=5))
    response = ingest(http, *(ev(i, timestamp=stamp, metadata={"n": 1}) for i in ids))
    assert (response.status_code, response.json()) == (200, {"ingested_count": len(ids)})
    for event_id in ids:
        from urllib.parse import quote

        got = http.get("/events/" + quote(event_id, safe=""))
        assert got.status_code == 200, event_id
        assert got.json() == {
            "business_id": "bus_sandbox",
            "customer_id": "cus_1",
            "event_id": event_id,
            "event_name": "api_request",
            "timestamp": stamp,
            "metadata": {"n": 1},
        }
    assert error(http.get("/events/a")) == (404, "NOT_FOUND", "Event not found")
    assert error(http.get("/events/CASE")) == (404, "NOT_FOUND", "Event not found")


def test_reingesting_the_same_ids_counts_zero(http: httpx2.Client) -> None:
    events = [ev(f"e{i}") for i in range(3)]
    assert ingest(http, *events).json() == {"ingested_count": 3}
    assert ingest(http, *events).json() == {"ingested_count": 0}
    assert ingest(http, ev("e0"), ev("e3")).json() == {"ingested_count": 1}


def test_timestamp_defaults_to_now(http: httpx2.Client) -> None:
    before = datetime.now(timezone.utc)
    ingest(http, ev("now"))
    stamp = datetime.fromisoformat(http.get("/events/now").json()["timestamp"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(timezone.utc)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"events": [ev("d"), ev("x"), ev("d")]},
            400,
            "Duplicate event_id within one request: 'd' (events[0] and events[2]). "
            "The whole request was rejected; nothing was stored",
        ),
        ({"events": []}, 400, "events: List should have at least 1 item after validation, not 0"),
        (
            {"events": [ev(f"m{i}") for i in range(1001)]},
            400,
            "events: List should have at most 1000 items after validation, not 1001",
        ),
        (
            {"events": [ev("k", metadata={f"k{i}": i for i in range(51)})]},
            400,
            "events[0].metadata: metadata may have at most 50 keys (got 51)",
        ),
        (
            {"events": [ev("k", metadata={"k" * 101: 1})]},
            400,
            f"events[0].metadata.{'k' * 101}.[key]: String should have at most 100 characters",
        ),
        (
            {"events": [ev("v", metadata={"v": "x" * 501})]},
            400,
            "events[0].metadata.v: string values may be at most 500 characters (got 501)",
        ),
        (
            {"events": [ev("o", metadata={"o": {"nested": 1}})]},
            400,
            "events[0].metadata.o: values must be a string, integer, number or boolean, not an object",
        ),
        (
            {"events": [ev("t", timestamp="yesterday")]},
            400,
            "events[0].timestamp: 'yesterday' is not an RFC 3339 date-time; use a form like 2026-01-15T10:30:00Z",
        ),
        *(
            (
                {"events": [ev("readable"), ev(unreadable)]},
                400,
                f"events[1].event_id: {unreadable!r} is not a valid event id: URL paths resolve '.' and '..' away, "
                "so it could never be looked up by id",
            )
            for unreadable in (".", "..")
        ),
        ({"events": [{"event_id": "x", "customer_id": "c"}]}, 422, "events[0].event_name: Field required"),
        ({"events": [ev("x", extra=1)]}, 422, "events[0].extra: Extra inputs are not permitted"),
        ({"events": [ev("x", customer_id=5)]}, 422, "events[0].customer_id: Input should be a valid string"),
        ({"events": "nope"}, 422, "events: Input should be a valid array"),
        ([], 422, "body: Input should be an object"),
    ],
)
def test_ingest_rejections_store_nothing(http: httpx2.Client, body: Any, status: int, message: str) -> None:
    response = http.post("/events/ingest", json=body)
    assert error(response) == (status, "INVALID_REQUEST_BODY", message)
    assert http.get("/events", params={"page_size": 100}).json() == {"items": []}


@pytest.mark.parametrize(
    ("offset", "words"),
    [(timedelta(hours=-1, minutes=-1), "1 hour in the past"), (timedelta(minutes=6), "5 minutes in the future")],
)
def test_timestamps_outside_the_window_reject_the_batch(http: httpx2.Client, offset: timedelta, words: str) -> None:
    response = ingest(http, ev("fine"), ev("bad", timestamp=now(offset)))
    status, code, message = error(response)
    assert (status, code) == (400, "INVALID_REQUEST_BODY")
    assert message.startswith(f"events[1].timestamp: is more than {words} (now is ")
    assert error(http.get("/events/fine")) == (404, "NOT_FOUND", "Event not found")


def test_malformed_json_is_422(http: httpx2.Client) -> None:
    response = http.post("/events/ingest", content=b'{"events": [', headers={"Content-Type": "application/json"})
    assert error(response) == (
        422,
        "INVALID_REQUEST_BODY",
        "body: Invalid JSON: EOF while parsing a list at line 1 column 12",
    )


def test_too_large_bodies_are_413(http: httpx2.Client) -> None:
    response = http.post("/events/ingest", content=b" " * (MAX_BODY_BYTES + 1))
    assert error(response) == (
        413,
        "PAYLOAD_TOO_LARGE",
        f"The request body exceeds {MAX_BODY_BYTES} bytes; send fewer events",
    )


def test_list_filters_order_and_pages(http: httpx2.Client) -> None:
    base = datetime.now(timezone.utc) - timedelta(minutes=30)
    events = [
        ev(
            f"e{i:02}",
            customer_id=f"cus_{i % 2}",
            event_name="a" if i < 6 else "b",
            timestamp=format_timestamp(base + timedelta(minutes=i)),
        )
        for i in range(10)
    ]
    ingest(http, *events)

    def listed(**params: Any) -> list[str]:
        response = http.get("/events", params=params)
        assert response.status_code == 200, response.text
        return [item["event_id"] for item in response.json()["items"]]

    assert listed() == [f"e{i:02}" for i in range(9, -1, -1)]  # default page_size 10, newest first
    assert listed(page_size=3, page_number=0) == ["e09", "e08", "e07"]
    assert listed(page_size=3, page_number=1) == ["e06", "e05", "e04"]
    assert listed(page_size=3, page_number=3) == ["e00"]
    assert listed(page_size=3, page_number=4) == []
    assert listed(customer_id="cus_1") == ["e09", "e07", "e05", "e03", "e01"]
    assert listed(event_name="a", customer_id="cus_0") == ["e04", "e02", "e00"]
    start, end = format_timestamp(base + timedelta(minutes=2)), format_timestamp(base + timedelta(minutes=4))
    assert listed(start=start, end=end) == ["e04", "e03", "e02"]  # inclusive at both ends
    assert listed(unknown_param="ignored", page_size=1) == ["e09"]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"page_size": "ten"}, 422, "page_size: Input should be a valid integer, unable to parse string as an integer"),
        ({"page_size": "0"}, 422, "page_size: Input should be greater than or equal to 1"),
        ({"page_size": "101"}, 422, "page_size: Input should be less than or equal to 100"),
        ({"page_number": "-1"}, 422, "page_number: Input should be greater than or equal to 0"),
        (
            {"start": "2026-13-01"},
            400,
            "start: '2026-13-01' is not an RFC 3339 date-time; use a form like 2026-01-15T10:30:00Z",
        ),
        (
            {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            400,
            "end: must not be before start (2026-01-02T00:00:00Z)",
        ),
    ],
)
def test_bad_queries(http: httpx2.Client, params: dict[str, str], status: int, message: str) -> None:
    assert error(http.get("/events", params=params)) == (status, "INVALID_QUERY_PARAMS", message)


def test_meters_create_get_list_archive_and_filter_events(http: httpx2.Client) -> None:
    created = http.post("/meters", json=METER)
    assert created.status_code == 201
    meter = created.json()
    assert meter["id"].startswith("mtr_")
    assert {k: meter[k] for k in METER} == METER
    assert meter["business_id"] == "bus_sandbox" and meter["description"] is None
    assert http.get(f"/meters/{meter['id']}").json() == meter
    assert http.get("/meters").json() == {"items": [meter]}

    ingest(
        http,
        ev("p1", metadata={"plan": "premium", "tokens": "150"}),
        ev("f1", metadata={"plan": "free", "tokens": 10}),
        ev("x1"),  # no metadata: the filtered key is missing, so no match
        ev("p2", event_name="other", metadata={"plan": "premium"}),
    )
    by_meter = http.get("/events", params={"meter_id": meter["id"]}).json()["items"]
    assert [item["event_id"] for item in by_meter] == ["p1"]
    same_name = http.get("/events", params={"meter_id": meter["id"], "event_name": "api_request"})
    assert [item["event_id"] for item in same_name.json()["items"]] == ["p1"]
    assert error(http.get("/events", params={"meter_id": meter["id"], "event_name": "other"})) == (
        400,
        "INVALID_QUERY_PARAMS",
        "event_name 'other' does not match the meter's event_name 'api_request'; "
        "leave event_name out or pass the meter's own",
    )
    assert error(http.get("/events", params={"meter_id": "mtr_nope"})) == (404, "NOT_FOUND", "Meter not found")

    deleted = http.delete(f"/meters/{meter['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert http.get("/meters").json() == {"items": []}
    assert [m["id"] for m in http.get("/meters", params={"archived": "true"}).json()["items"]] == [meter["id"]]
    assert http.post(f"/meters/{meter['id']}/unarchive").status_code == 200
    assert [m["id"] for m in http.get("/meters").json()["items"]] == [meter["id"]]
    assert error(http.get("/meters/mtr_nope")) == (404, "NOT_FOUND", "Meter not found")
    assert error(http.delete("/meters/mtr_nope")) == (404, "NOT_FOUND", "Meter not found")


def test_meter_pages_and_limits(http: httpx2.Client) -> None:
    made = [http.post("/meters", json={**METER, "name": f"m{i}"}).json()["id"] for i in range(3)]
    assert [m["id"] for m in http.get("/meters", params={"page_size": 2}).json()["items"]] == made[::-1][:2]
    assert [m["id"] for m in http.get("/meters", params={"page_size": 2, "page_number": 1}).json()["items"]] == made[:1]
    assert error(http.get("/meters", params={"page_size": 101})) == (
        422,
        "INVALID_QUERY_PARAMS",
        "page_size: Input should be less than or equal to 100",
    )


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (
            {"aggregation": {"type": "sum"}},
            400,
            "aggregation: key is required when type is 'sum' (only count works without a key)",
        ),
        (
            {"aggregation": {"type": "median", "key": "t"}},
            422,
            "aggregation.type: Input should be 'count', 'sum', 'max' or 'last'",
        ),
        ({"name": None}, 422, "name: Input should be a valid string"),
        (
            {"filter": {"conjunction": "and", "clauses": []}},
            400,
            "filter.clauses: Value should have at least 1 item after validation, not 0",
        ),
    ],
)
def test_invalid_meters(http: httpx2.Client, change: dict[str, Any], status: int, message: str) -> None:
    assert error(http.post("/meters", json={**METER, **change})) == (status, "INVALID_REQUEST_BODY", message)


def test_reset_deletes_everything(http: httpx2.Client) -> None:
    ingest(http, ev("a"))
    http.post("/meters", json=METER)
    assert http.post("/sandbox/reset").json() == {"reset": True}
    assert http.get("/events").json() == {"items": []}
    assert http.get("/meters").json() == {"items": []}


def test_unknown_routes_and_methods(http: httpx2.Client) -> None:
    assert error(http.get("/nothing")) == (404, "NOT_FOUND", "No such endpoint: GET /nothing")
    assert error(http.delete("/events")) == (405, "METHOD_NOT_ALLOWED", "DELETE is not allowed here; use GET")
    assert error(http.put("/events/x")) == (405, "METHOD_NOT_ALLOWED", "PUT is not allowed here; use GET")
