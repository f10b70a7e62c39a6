"""usage_history (issue 14, item 3): a subscription's billed usage per period and meter, through a real MCP client.

Against the Dodo double for the exact request Dodo gets; against the sandbox for the figures, which are
checked against an independent computation over the same seeded events: free thresholds, several
periods (calendar months, clamped at a short month's end), each aggregation, meter filters, the
meter_id, start_date and end_date filters and paging. The sandbox's own POST /products and POST
/subscriptions refuse what they do not simulate, naming it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp_types import PromptReference

from dodo_mcp.api.timestamps import format_timestamp
from dodo_mcp.sandbox import SANDBOX_BASE_URL, create_app, open_store, sandbox_backend
from dodo_mcp.sandbox.store import StoredEvent, to_micros
from tests.billing import AUTH, BILLING, Component, create_subscription, subscription, usage_product
from tests.conftest import Session, dodo_settings, text_of, tool_session
from tests.dodo_double import DodoDouble, Reply
from tests.test_insights import create_meters, meter

pytestmark = pytest.mark.anyio

UTC = timezone.utc
# The subscription starts on the 31st: its periods end on Feb 28, Mar 31 and Apr 30 (clamped, never drifting).
SUBSCRIBED = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 4, 15, 9, 0, tzinfo=UTC)
PERIODS = [
    (datetime(2026, 3, 31, 12, 0, tzinfo=UTC), datetime(2026, 4, 30, 12, 0, tzinfo=UTC)),
    (datetime(2026, 2, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 31, 12, 0, tzinfo=UTC)),
    (SUBSCRIBED, datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
]
CUSTOMER, OTHER_CUSTOMER = "cus_bill", "cus_other"


def wire_period(meter_id: str = "mtr_1") -> dict[str, Any]:
    return {
        "start_date": "2026-03-01T00:00:00Z",
        "end_date": "2026-04-01T00:00:00Z",
        "meters": [
            {
                "id": meter_id,
                "name": "API calls",
                "free_threshold": 1000,
                "price_per_unit": "0.5",
                "currency": "USD",
                "total_price": 250,
                "consumed_units": "1500",
                "chargeable_units": "500",
            }
        ],
    }


async def test_usage_history_sends_dodos_path_and_query(dodo: DodoDouble) -> None:
    dodo.script(Reply(body={"items": [wire_period(), wire_period("mtr_2")]}))
    arguments = {
        "subscription_id": "sub 1/a",
        "start_date": "2026-03-01T00:00:00Z",
        "end_date": "2026-03-31T23:59:59Z",
        "meter_id": "mtr_1",
        "page_size": 2,
        "page_number": 3,
    }
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("usage_history", arguments)
    [request] = dodo.requests
    assert (request.method, request.raw_path, request.query) == (
        "GET",
        "/subscriptions/sub%201%2Fa/usage-history",
        [
            ("start_date", "2026-03-01T00:00:00Z"),
            ("end_date", "2026-03-31T23:59:59Z"),
            ("meter_id", "mtr_1"),
            ("page_size", "2"),
            ("page_number", "3"),
        ],
    )
    assert request.headers["authorization"] == f"Bearer {dodo_settings().api_key.get_secret_value()}"  # type: ignore[union-attr]
    assert not result.is_error, text_of(result)
    assert result.structured_content == {
        "items": [wire_period(), wire_period("mtr_2")],
        "page_number": 3,
        "page_size": 2,
        "has_more": True,
        "next_page_number": 4,
    }
    assert json.loads(text_of(result)) == result.structured_content


async def test_a_404_with_meter_id_asks_which_of_the_two_is_missing(dodo: DodoDouble) -> None:
    not_found = Reply(status=404, body={"code": "NOT_FOUND", "message": "Not found"})
    meter_body = {
        "id": "mtr_1",
        "business_id": "bus_1",
        "name": "m",
        "event_name": "e",
        "aggregation": {"type": "count"},
        "measurement_unit": "u",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    dodo.script(not_found, not_found, not_found, Reply(body=meter_body))
    async with tool_session(dodo_settings(dodo.url)) as session:
        meter_missing = await session.call("usage_history", {"subscription_id": "sub_1", "meter_id": "mtr_x"})
        subscription_missing = await session.call("usage_history", {"subscription_id": "sub_x", "meter_id": "mtr_1"})
    assert [(r.method, r.raw_path) for r in dodo.requests] == [
        ("GET", "/subscriptions/sub_1/usage-history"),
        ("GET", "/meters/mtr_x"),
        ("GET", "/subscriptions/sub_x/usage-history"),
        ("GET", "/meters/mtr_1"),
    ]
    assert (meter_missing.is_error, text_of(meter_missing)) == (
        True,
        "Dodo API error 404 NOT_FOUND: Not found. No meter with meter_id 'mtr_x' exists in test_mode. Meter ids are "
        "case-sensitive: check the id in the Dodo dashboard (Meters), and that the key's environment is the meter's.",
    )
    assert (subscription_missing.is_error, text_of(subscription_missing)) == (
        True,
        "Dodo API error 404 NOT_FOUND: Not found. No subscription with subscription_id 'sub_x' exists in test_mode. "
        "Subscription ids are case-sensitive: check the id in the Dodo dashboard (Subscriptions), and that the key's "
        "environment is the subscription's.",
    )


async def test_bad_arguments_name_the_field_and_send_nothing(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url)) as session:
        backwards = await session.call(
            "usage_history",
            {"subscription_id": "sub_1", "start_date": "2026-03-02T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"},
        )
        dots = await session.call("usage_history", {"subscription_id": ".."})
        too_big = await session.call("usage_history", {"subscription_id": "sub_1", "page_size": 101})
        missing = await session.call("usage_history", {})
    assert dodo.requests == []
    assert text_of(backwards).splitlines() == [
        "Invalid arguments (1 problem):",
        "- end_date must not be before start_date (2026-03-02T00:00:00Z)",
        "Nothing was sent to Dodo. Fix the problems above and call usage_history again.",
    ]
    assert text_of(dots).splitlines()[1] == (
        "- subscription_id '..' is not a valid subscription id: URL paths resolve '.' and '..' away, so it could "
        "never be looked up by id"
    )
    assert text_of(too_big).splitlines()[1] == "- page_size must be at most 100 (got 101)"
    assert text_of(missing).splitlines()[1].startswith("- subscription_id is required")


# The figures, against the sandbox.


@dataclass(frozen=True)
class Seeded:
    meters: dict[str, str]  # name -> id
    subscription_id: str
    events: list[StoredEvent]


METERS = {
    "calls": meter("api_request", {"type": "count"}),
    "large_tokens": meter(
        "api_request",
        {"type": "sum", "key": "tokens"},
        {"conjunction": "and", "clauses": [{"key": "model", "operator": "equals", "value": "large"}]},
    ),
    "peak_seats": meter("seats", {"type": "max", "key": "seats"}),
    "unpriced": meter("api_request", {"type": "count"}),
}
# The price: (meter name, price per unit, free units). "unpriced" is not on it.
PRICE = [("calls", "0.5", 3), ("large_tokens", "0.0125", 1000), ("peak_seats", "700", None)]


def seeded_events() -> list[StoredEvent]:
    """Events across the three periods, some of another customer, some the meters' filters leave out; an event
    exactly at a period's end, which is the next period's."""
    events = []
    for day in range(0, 80, 2):
        at = SUBSCRIBED + timedelta(days=day, minutes=day)
        model = "large" if day % 3 else "small"
        events.append(
            StoredEvent(
                f"call-{day}", CUSTOMER, "api_request", to_micros(at), {"tokens": 100 + day * 7, "model": model}
            )
        )
        if day % 10 == 0:
            seats = 2 + day // 10
            events.append(StoredEvent(f"seats-{day}", CUSTOMER, "seats", to_micros(at), {"seats": seats}))
        events.append(StoredEvent(f"other-{day}", OTHER_CUSTOMER, "api_request", to_micros(at), {"tokens": 5}))
    boundary = PERIODS[1][1]  # Mar 31 12:00: the first instant of the newest period
    events.append(
        StoredEvent("at-boundary", CUSTOMER, "api_request", to_micros(boundary), {"tokens": 3, "model": "large"})
    )
    events.append(
        StoredEvent(
            "before-start", CUSTOMER, "api_request", to_micros(SUBSCRIBED - timedelta(seconds=1)), {"tokens": 9}
        )
    )
    events.append(
        StoredEvent(
            "text-tokens",
            CUSTOMER,
            "api_request",
            to_micros(SUBSCRIBED + timedelta(days=1)),
            {"tokens": "12.5", "model": "large"},
        )
    )
    return events  # fmt: skip


def expected_figures(events: list[StoredEvent], meter_ids: dict[str, str]) -> list[dict[str, Any]]:
    """The usage history computed here, independently of the sandbox: plain loops over the events."""
    periods = []
    for start, end in PERIODS:
        inside = [e for e in events if e.customer_id == CUSTOMER and to_micros(start) <= e.ts < to_micros(end)]
        calls = Decimal(sum(1 for e in inside if e.event_name == "api_request"))
        tokens = sum(
            (
                Decimal(str((e.metadata or {})["tokens"]))
                for e in inside
                if e.event_name == "api_request" and (e.metadata or {}).get("model") == "large"
            ),
            Decimal(0),
        )
        seats = [Decimal((e.metadata or {})["seats"]) for e in inside if e.event_name == "seats"]
        consumed = {"calls": calls, "large_tokens": tokens, "peak_seats": max(seats, default=Decimal(0))}
        meters = []
        for name, price, free in PRICE:
            chargeable = max(consumed[name] - (free or 0), Decimal(0))
            total = int((chargeable * Decimal(price)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            meters.append(
                {
                    "id": meter_ids[name],
                    "name": METERS[name]["name"],
                    "consumed_units": format(consumed[name].normalize(), "f"),
                    "free_threshold": free or 0,
                    "chargeable_units": format(chargeable.normalize(), "f"),
                    "price_per_unit": price,
                    "currency": "USD",
                    "total_price": total,
                }
            )
        periods.append({"start_date": format_timestamp(start), "end_date": format_timestamp(end), "meters": meters})
    return periods


async def seed(db: Path) -> Seeded:
    ids = dict(zip(METERS, await create_meters(db, list(METERS.values())), strict=True))
    product = usage_product([Component(ids[name], price, free) for name, price, free in PRICE])
    subscription_id = await create_subscription(db, product, CUSTOMER, SUBSCRIBED)
    # A second customer's subscription to the same product: its usage never counts in the first's.
    await create_subscription(db, product, OTHER_CUSTOMER, SUBSCRIBED)
    events = seeded_events()
    store = open_store(db)
    try:
        store.ingest(events)
    finally:
        store.close()
    return Seeded(ids, subscription_id, events)


@asynccontextmanager
async def billing_session(db: Path) -> AsyncIterator[Session]:
    """dodo-mcp --sandbox on `db`, the sandbox's clock at NOW."""
    store = open_store(db)
    try:
        settings, _ = sandbox_backend(dodo_settings(), store)
        transport = httpx2.ASGITransport(app=create_app(store, clock=lambda: NOW))
        async with tool_session(settings, transport=transport) as session:
            yield session
    finally:
        store.close()


@pytest.fixture
async def seeded(tmp_path: Path) -> tuple[Path, Seeded]:
    db = tmp_path / "sandbox.sqlite3"
    return db, await seed(db)


async def test_each_periods_figures_are_the_independent_computation(seeded: tuple[Path, Seeded]) -> None:
    db, data = seeded
    expected = expected_figures(data.events, data.meters)
    # The computation is not trivial: every period has chargeable units of every kind, and a free threshold bites.
    assert all(m["chargeable_units"] != "0" for period in expected for m in period["meters"][:2])
    assert any(m["chargeable_units"] != m["consumed_units"] for period in expected for m in period["meters"])
    async with billing_session(db) as session:
        whole = await session.call("usage_history", {"subscription_id": data.subscription_id})
        paged = [
            await session.call(
                "usage_history", {"subscription_id": data.subscription_id, "page_size": 2, "page_number": n}
            )
            for n in (0, 1)
        ]
        one_meter = await session.call(
            "usage_history", {"subscription_id": data.subscription_id, "meter_id": data.meters["large_tokens"]}
        )
        unpriced = await session.call(
            "usage_history", {"subscription_id": data.subscription_id, "meter_id": data.meters["unpriced"]}
        )
        march = await session.call(
            "usage_history",
            {
                "subscription_id": data.subscription_id,
                "start_date": "2026-03-01T00:00:00Z",
                "end_date": "2026-03-31T12:00:00Z",
            },
        )
    assert whole.structured_content == {
        "items": expected,
        "page_number": 0,
        "page_size": 10,
        "has_more": False,
        "next_page_number": None,
    }
    assert [p.structured_content["items"] for p in paged if p.structured_content] == [expected[:2], expected[2:]]
    assert [p.structured_content["next_page_number"] for p in paged if p.structured_content] == [1, None]
    assert one_meter.structured_content is not None
    assert one_meter.structured_content["items"] == [{**period, "meters": [period["meters"][1]]} for period in expected]
    assert unpriced.structured_content is not None
    assert unpriced.structured_content["items"] == [{**period, "meters": []} for period in expected]
    # Both ends inclusive: the period ending Mar 31 12:00 overlaps, and so does the one starting then.
    assert march.structured_content is not None
    assert march.structured_content["items"] == expected[:2]


async def test_unknown_ids_are_named_by_the_sandbox_too(seeded: tuple[Path, Seeded]) -> None:
    db, data = seeded
    async with billing_session(db) as session:
        no_subscription = await session.call("usage_history", {"subscription_id": "sub_nope"})
        other_business = await session.call(
            "usage_history", {"subscription_id": data.subscription_id, "meter_id": "mtr_of_another_business"}
        )
    assert text_of(no_subscription) == (
        "Dodo API error 404 NOT_FOUND: Subscription not found. No subscription with subscription_id 'sub_nope' exists "
        "in test_mode. Subscription ids are case-sensitive: check the id in the Dodo dashboard (Subscriptions), and "
        "that the key's environment is the subscription's."
    )
    assert text_of(other_business) == (
        "Dodo API error 404 NOT_FOUND: Meter not found. No meter with meter_id 'mtr_of_another_business' exists in "
        "test_mode. Meter ids are case-sensitive: check the id in the Dodo dashboard (Meters), and that the key's "
        "environment is the meter's."
    )


async def test_the_subscriptions_customer_completes_its_subscription_id(seeded: tuple[Path, Seeded]) -> None:
    db, data = seeded
    async with billing_session(db) as session:
        prompt = PromptReference(name="explain_usage_bill")
        chosen = await session.client.complete(
            prompt, {"name": "subscription_id", "value": "sub_"}, context_arguments={"customer_id": CUSTOMER}
        )
        any_customer = await session.client.complete(prompt, {"name": "subscription_id", "value": ""})
    assert chosen.completion.values == [data.subscription_id]
    assert len(any_customer.completion.values) == 2
    assert data.subscription_id in any_customer.completion.values


# The sandbox's products and subscriptions: Dodo's shapes, and a clear refusal of what it does not simulate.


@asynccontextmanager
async def sandbox_http(db: Path | str) -> AsyncIterator[httpx2.AsyncClient]:
    store = open_store(db)
    try:
        transport = httpx2.ASGITransport(app=create_app(store, clock=lambda: SUBSCRIBED))
        async with httpx2.AsyncClient(transport=transport, base_url=SANDBOX_BASE_URL, headers=AUTH) as http:
            yield http
    finally:
        store.close()


def refusals() -> Iterator[tuple[str, dict[str, Any], int, dict[str, str]]]:
    product = usage_product([Component("mtr_x", "1")])
    recurring = {**product, "price": {**product["price"], "type": "recurring_price"}}
    with_addons = {**product, "addons": ["adn_1"], "metadata": {"a": "b"}}
    cheap = usage_product([Component("mtr_x", "0")])
    yield (
        "/products",
        recurring,
        422,
        {
            "code": "UNSUPPORTED_IN_SANDBOX",
            "message": "price.type: the sandbox simulates usage_based_price products only, not 'recurring_price' "
            "(one_time_price and recurring_price are Dodo's, not the sandbox's)",
        },
    )
    yield (
        "/products",
        with_addons,
        422,
        {
            "code": "UNSUPPORTED_IN_SANDBOX",
            "message": "addons, metadata: outside what the sandbox simulates, so refused rather than ignored (a product "
            "takes name, description, tax_category and price)",
        },
    )
    yield (
        "/products",
        cheap,
        400,
        {"code": "INVALID_REQUEST_BODY", "message": "price.meters[0].price_per_unit: must be greater than zero"},
    )
    yield (
        "/products",
        product,
        422,
        {"code": "INVALID_REQUEST_BODY", "message": "price.meters[0].meter_id: no meter 'mtr_x' in this business"},
    )
    yield (
        "/subscriptions",
        {**subscription("pdt_1", "cus_1"), "trial_period_days": 7, "customer": {"customer_id": "c", "email": "e"}},
        422,
        {
            "code": "UNSUPPORTED_IN_SANDBOX",
            "message": "customer.email, trial_period_days: outside what the sandbox simulates, so refused rather than "
            "ignored (customer takes customer_id, or email, name and phone_number; a subscription takes product_id, "
            "quantity, customer and billing)",
        },
    )
    yield (
        "/subscriptions",
        subscription("pdt_nope", "cus_1"),
        404,
        {"code": "NOT_FOUND", "message": "Product pdt_nope not found"},
    )


@pytest.mark.parametrize(("path", "body", "status", "answer"), list(refusals()), ids=lambda v: str(v)[:30])
async def test_the_sandbox_refuses_what_it_does_not_simulate_and_says_so(
    path: str, body: dict[str, Any], status: int, answer: dict[str, str]
) -> None:
    async with sandbox_http(":memory:") as http:
        response = await http.post(path, json=body)
    assert (response.status_code, response.json()) == (status, answer)


async def test_products_and_subscriptions_answer_in_dodos_shape(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    [meter_id] = await create_meters(db, [METERS["calls"]])
    async with sandbox_http(db) as http:
        product = (await http.post("/products", json=usage_product([Component(meter_id, "0.5", 3)]))).json()
        made = await http.post(
            "/subscriptions",
            json={
                **subscription(product["product_id"], "x"),
                "quantity": 2,
                "customer": {"email": "ada@example.com", "name": "Ada"},
            },
        )
        listed = await http.get("/subscriptions", params={"customer_id": made.json()["customer"]["customer_id"]})
        read = await http.get(f"/products/{product['product_id']}")
    body = made.json()
    customer_id = body["customer"]["customer_id"]
    assert product["price"]["meters"] == [
        {
            "meter_id": meter_id,
            "price_per_unit": "0.5",
            "free_threshold": 3,
            "name": "count api_request",
            "description": None,
            "measurement_unit": "units",
        }
    ]
    assert read.json() == product
    assert (made.status_code, body["recurring_pre_tax_amount"], body["customer"]) == (
        200,
        2000,
        {"customer_id": customer_id, "name": "Ada", "email": "ada@example.com"},
    )
    [item] = listed.json()["items"]
    assert {key: item[key] for key in ("subscription_id", "product_id", "status", "quantity", "billing")} == {
        "subscription_id": body["subscription_id"],
        "product_id": product["product_id"],
        "status": "active",
        "quantity": 2,
        "billing": BILLING,
    }
    assert (item["previous_billing_date"], item["next_billing_date"]) == (
        "2026-01-31T12:00:00Z",
        "2026-02-28T12:00:00Z",
    )
