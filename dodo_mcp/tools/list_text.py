"""list_events' text content: the page as compact JSON, with the fields every item shares stated once."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json

# The fields a page of one customer's (or one event name's) events repeats in every item.
_SHAREABLE = ("business_id", "customer_id", "event_name")


def page_text(page: dict[str, Any]) -> str:
    """A page as compact JSON, with the fields every item shares stated once under "common".

    The model reads this text on every call, so repetition costs context: a page of one customer's
    events repeats business_id, customer_id and event_name in each item. Nothing is lost: each item
    is its "common" fields plus its own. structuredContent keeps the full items.
    """
    items: list[dict[str, Any]] = page["items"]
    common: dict[str, Any] = {}
    if len(items) > 1:
        for key in _SHAREABLE:
            values = {item.get(key) for item in items}
            if len(values) == 1:
                common[key] = items[0][key]
    compact = [{k: v for k, v in item.items() if k not in common and v is not None} for item in items]
    body = {"common": common, "items": compact} if common else {"items": compact}
    rest = {k: v for k, v in page.items() if k != "items"}
    return to_json({**body, **rest}).decode()
