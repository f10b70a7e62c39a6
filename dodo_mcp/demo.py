"""`dodo-mcp demo`: watch a real MCP client drive every tool against the local sandbox.

It creates a throwaway sandbox database with one meter, a product that prices it and the
customer's subscription (through the sandbox's own POST /meters, /products and /subscriptions,
as you would against Dodo), starts `dodo-mcp --sandbox` on it as a subprocess, connects over
stdio with the MCP SDK's client, and prints each call and its result. No account, no key and no
network are involved.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, SANDBOX_BASE_URL, create_app, open_store
from dodo_mcp.tools.messages import IDEMPOTENT

METER = {
    "name": "Tokens on the large model",
    "event_name": "api_request",
    "measurement_unit": "tokens",
    "aggregation": {"type": "sum", "key": "tokens"},
    "filter": {"conjunction": "and", "clauses": [{"key": "model", "operator": "equals", "value": "large"}]},
}


# The customer's plan: $10 a month, the meter's first 1,000 tokens free, then half a cent a token.
PLAN_FREE_TOKENS = 1000
PLAN_PRICE_PER_TOKEN = "0.5"
BILLING_ADDRESS = {"country": "US", "state": "CA", "city": "San Francisco", "street": "1 Market St", "zipcode": "94105"}


async def create_billing(db: Path, subscribed_at: datetime) -> tuple[str, str]:
    """The meter, a usage-based product pricing it, and cus_ada's subscription from `subscribed_at`: their ids."""
    store = open_store(db)
    try:
        transport = httpx2.ASGITransport(app=create_app(store, clock=lambda: subscribed_at))
        headers = {"Authorization": f"Bearer {DEFAULT_SANDBOX_API_KEY}"}
        async with httpx2.AsyncClient(transport=transport, base_url=SANDBOX_BASE_URL, headers=headers) as http:
            meter = await http.post("/meters", json=METER)
            meter.raise_for_status()
            meter_id: str = meter.json()["id"]
            component = {
                "meter_id": meter_id,
                "price_per_unit": PLAN_PRICE_PER_TOKEN,
                "free_threshold": PLAN_FREE_TOKENS,
            }
            product = await http.post("/products", json=usage_product([component]))
            product.raise_for_status()
            subscription = await http.post(
                "/subscriptions", json=subscription_body(product.json()["product_id"], "cus_ada")
            )
            subscription.raise_for_status()
            subscription_id: str = subscription.json()["subscription_id"]
            return meter_id, subscription_id
    finally:
        store.close()


def usage_product(meters: list[dict[str, Any]], *, interval: str = "Month", count: int = 1) -> dict[str, Any]:
    """A POST /products body: a usage-based price in USD, $10 fixed per period, with these metered components."""
    price = {
        "type": "usage_based_price",
        "currency": "USD",
        "fixed_price": 1000,
        "discount": 0,
        "purchasing_power_parity": False,
        "payment_frequency_count": count,
        "payment_frequency_interval": interval,
        "subscription_period_count": 12,
        "subscription_period_interval": "Month",
        "meters": meters,
    }
    return {"name": "API plan", "tax_category": "saas", "price": price}


def subscription_body(product_id: str, customer_id: str, quantity: int = 1) -> dict[str, Any]:
    """A POST /subscriptions body for an existing customer."""
    return {
        "product_id": product_id,
        "quantity": quantity,
        "customer": {"customer_id": customer_id},
        "billing": BILLING_ADDRESS,
    }


def _events(now: datetime) -> list[dict[str, Any]]:
    minute = timedelta(minutes=1)
    return [
        {
            "event_id": f"cus_ada:api_request:{(now - i * minute).strftime('%H%M')}",
            "customer_id": "cus_ada",
            "event_name": "api_request",
            "timestamp": (now - i * minute).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "metadata": {"tokens": tokens, "model": model},
        }
        for i, (tokens, model) in enumerate([(1200, "large"), (300, "small"), (950, "large")])
    ]


# A shown object keeps this many of its keys, and a shown string this many characters: whole events fit
# on a line, and an event built to break a limit (51 metadata keys) shows what breaks it.
SHOWN_KEYS = 6
SHOWN_CHARS = 120
SHORTENED = "\u2026"


def shown(value: Any) -> str:
    """`value` as compact JSON on one line; an object with more than SHOWN_KEYS keys, or a string longer
    than SHOWN_CHARS, is shortened, and each shortening is marked with '…'."""
    if isinstance(value, dict):
        items = [f"{json.dumps(key)}: {shown(item)}" for key, item in value.items()]
        if len(items) > SHOWN_KEYS:
            head = SHOWN_KEYS // 2
            items = [*items[:head], f"{SHORTENED} {len(items) - head - 1} more {SHORTENED}", items[-1]]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(shown(item) for item in value) + "]"
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return json.dumps(value[:SHOWN_CHARS])[:-1] + SHORTENED + '"'
    return json.dumps(value)


def shown_call(tool: str, arguments: dict[str, Any]) -> str:
    """The request line; a list of events is shown one event a line, by index, as the errors name them."""
    events = arguments.get("events")
    if tool != "ingest_events" or not isinstance(events, list):
        return f"> {tool} {shown(arguments)}\n"
    lines = [f"> {tool} with {len(events)} events:"]
    lines += [f"  events[{index}] {shown(event)}" for index, event in enumerate(events)]
    return "\n".join(lines) + "\n"


def shown_ingest(result: dict[str, Any]) -> str:
    """An ingest_events result: its counts, then only the batches that tell something (retried or unconfirmed)."""
    counts = {key: result[key] for key in ("submitted_count", "ingested_count", "ignored_count", "unconfirmed_count")}
    batches = result.get("batches") or []
    notable = [batch for batch in batches if not batch["confirmed"] or batch["attempts"] > 1 or batch["error"]]
    if notable:
        lines = [f"< {shown(counts)}"]
    else:
        each = "1 batch, confirmed" if len(batches) == 1 else f"{len(batches)} batches, each confirmed"
        lines = [f"< {shown(counts)} ({each} at the first attempt)"]
    for batch in notable:
        first, last = batch["first_index"], batch["first_index"] + batch["event_count"] - 1
        outcome = "confirmed" if batch["confirmed"] else "NOT confirmed"
        error = f": {batch['error']}" if batch["error"] else ""
        lines.append(f"  batch events[{first}..{last}]: {outcome} after {batch['attempts']} attempts{error}")
    if result.get("unconfirmed_event_ids"):
        lines.append(f"  re-send these (it is safe): {shown(result['unconfirmed_event_ids'])}")
    return "\n".join(lines) + "\n"


async def run_demo(out: TextIO, now: datetime | None = None) -> None:
    """Drive every tool and write what happens to `out`; `now` (default: the current time) dates the events."""
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="dodo-mcp-demo-") as folder:
        db = Path(folder) / "sandbox.sqlite3"
        # Subscribed an hour ago, so the events just sent fall in its first billing period.
        meter_id, subscription_id = await create_billing(db, now - timedelta(hours=1))
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "dodo_mcp", "--sandbox", "--sandbox-db", str(db), "--log-level", "WARNING"],
        )
        events = _events(now)
        stale = {**events[0], "event_id": "stale", "timestamp": (now - timedelta(hours=2)).isoformat()}
        crowded = {**events[0], "event_id": "crowded", "metadata": {f"k{i}": i for i in range(51)}}
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("Record three usage events", "ingest_events", {"events": events}),
            (f"Send the same events again: {IDEMPOTENT}", "ingest_events", {"events": events}),
            (
                "Bad events are refused before anything is sent",
                "ingest_events",
                {"events": [events[0], events[0], stale, crowded]},
            ),
            ("Find the meters, and their ids", "list_meters", {}),
            ("List the customer's events, newest first", "list_events", {"customer_id": "cus_ada", "page_size": 2}),
            ("Next page", "list_events", {"customer_id": "cus_ada", "page_size": 2, "page_number": 1}),
            ("Only the events the meter counts (model = large)", "list_events", {"meter_id": meter_id}),
            ("Fetch one event by its id", "retrieve_event", {"event_id": events[1]["event_id"]}),
            ("Event ids are case-sensitive", "retrieve_event", {"event_id": events[1]["event_id"].upper()}),
            (
                "How many tokens did the customer use, per model? (one call instead of paging)",
                "summarize_events",
                {
                    "customer_id": "cus_ada",
                    "group_by": ["metadata.model"],
                    "aggregation": {"type": "sum", "key": "tokens"},
                },
            ),
            (
                "Why doesn't the meter count this event?",
                "explain_meter_match",
                {"event_id": events[1]["event_id"], "meter_id": meter_id},
            ),
            (
                "What is the customer billed for it? (the first 1,000 tokens free, then half a cent each)",
                "usage_history",
                {"subscription_id": subscription_id},
            ),
        ]
        async with Client(stdio_client(params)) as client:  # type: ignore[arg-type]
            tools = await client.list_tools()
            out.write(f"dodo-mcp --sandbox is running; its tools: {', '.join(t.name for t in tools.tools)}\n")
            out.write(f"(a sandbox meter {meter_id} sums `tokens` of api_request events with model = large;\n")
            out.write(f" cus_ada's subscription {subscription_id} bills it)\n")
            for title, tool, arguments in steps:
                result = await client.call_tool(tool, arguments)
                out.write(f"\n## {title}\n{shown_call(tool, arguments)}")
                if result.is_error:
                    text = result.content[0].text if result.content and result.content[0].type == "text" else ""
                    out.write(f"< error (isError: true):\n{text}\n")
                elif tool == "ingest_events" and result.structured_content is not None:
                    out.write(shown_ingest(result.structured_content))
                else:
                    out.write(f"< {json.dumps(result.structured_content, indent=2)}\n")
        out.write("\nDone. Add `dodo-mcp --sandbox` to your MCP client to try it yourself (see README).\n")
        out.flush()


def main() -> int:
    try:
        anyio.run(run_demo, sys.stdout)
    except BaseException as exc:
        if not _broken_pipe(exc):
            raise
        # `dodo-mcp demo | head`: the reader has gone, which ends the demo; nothing is wrong. Later writes
        # (the interpreter's flush at exit) go nowhere instead of failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _broken_pipe(exc: BaseException) -> bool:
    """Whether `exc` is, or is a group made only of, BrokenPipeError (anyio's task groups wrap it)."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and inner:
        return all(_broken_pipe(part) for part in inner)
    return isinstance(exc, BrokenPipeError)
