"""Products and subscriptions made through the sandbox's own POST /products and POST /subscriptions.

Each is made on the database file with an app whose clock says `at`, so a subscription can start in
the past: the sandbox's periods then cover events the tests ingested (or stored) earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2

from dodo_mcp import demo
from dodo_mcp.config import DEFAULT_SANDBOX_API_KEY
from dodo_mcp.sandbox import SANDBOX_BASE_URL, create_app, open_store

AUTH = {"Authorization": f"Bearer {DEFAULT_SANDBOX_API_KEY}"}
BILLING = demo.BILLING_ADDRESS


@dataclass(frozen=True)
class Component:
    """One metered component of a usage-based price."""

    meter_id: str
    price_per_unit: str
    free_threshold: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"meter_id": self.meter_id, "price_per_unit": self.price_per_unit}
        if self.free_threshold is not None:
            body["free_threshold"] = self.free_threshold
        return body


def usage_product(components: Sequence[Component], *, interval: str = "Month", count: int = 1) -> dict[str, Any]:
    """A POST /products body (the demo's plan): $10 fixed per period in USD, with these metered components."""
    return demo.usage_product([component.body() for component in components], interval=interval, count=count)


def subscription(product_id: str, customer_id: str, quantity: int = 1) -> dict[str, Any]:
    """A POST /subscriptions body for an existing customer."""
    return demo.subscription_body(product_id, customer_id, quantity)


async def create_subscription(db: Path | str, product: dict[str, Any], customer_id: str, at: datetime) -> str:
    """Create `product` and a subscription of `customer_id` to it, both at `at`; the subscription's id."""
    store = open_store(db)
    try:
        transport = httpx2.ASGITransport(app=create_app(store, clock=lambda: at))
        async with httpx2.AsyncClient(transport=transport, base_url=SANDBOX_BASE_URL, headers=AUTH) as http:
            made = await http.post("/products", json=product)
            assert made.status_code == 200, made.text
            subscribed = await http.post("/subscriptions", json=subscription(made.json()["product_id"], customer_id))
            assert subscribed.status_code == 200, subscribed.text
            return str(subscribed.json()["subscription_id"])
    finally:
        store.close()
