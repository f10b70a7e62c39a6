"""list_meters (issue 14, item 1): the business's meters, paged explicitly, active or archived, through a real
MCP client: against the Dodo double for the exact request, and against the sandbox for the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from dodo_mcp.sandbox import SANDBOX_BASE_URL, create_app, open_store
from tests.conftest import dodo_settings, sandbox_session, text_of, tool_session
from tests.dodo_double import DodoDouble, Reply
from tests.test_insights import create_meters, meter

pytestmark = pytest.mark.anyio

STAMP = "2026-11-26T10:31:00Z"


def wire_meter(meter_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": meter_id,
        "business_id": "bus_1",
        "name": f"meter {meter_id}",
        "event_name": "api_request",
        "aggregation": {"type": "count"},
        "measurement_unit": "calls",
        "created_at": STAMP,
        "updated_at": STAMP,
        **fields,
    }


async def test_list_meters_sends_dodos_query_and_pages_explicitly(dodo: DodoDouble) -> None:
    dodo.script(Reply(body={"items": [wire_meter("mtr_a"), wire_meter("mtr_b", description="B")]}))
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("list_meters", {"page_size": 2, "page_number": 1, "archived": True})
    [request] = dodo.requests
    assert (request.method, request.raw_path, request.query) == (
        "GET",
        "/meters",
        [("page_size", "2"), ("page_number", "1"), ("archived", "true")],
    )
    assert not result.is_error, text_of(result)
    page = result.structured_content
    assert page is not None
    assert (page["page_number"], page["page_size"], page["has_more"], page["next_page_number"]) == (1, 2, True, 2)
    assert [(m["id"], m["archived"], m["description"], m["filter"]) for m in page["items"]] == [
        ("mtr_a", True, None, None),
        ("mtr_b", True, "B", None),
    ]


async def test_bad_arguments_name_the_field_and_send_nothing(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url)) as session:
        too_big = await session.call("list_meters", {"page_size": 101})
        unknown = await session.call("list_meters", {"archive": True})
    assert text_of(too_big).splitlines()[1] == "- page_size must be at most 100 (got 101)"
    assert (
        text_of(unknown).splitlines()[1] == "- archive is not a known field; allowed: page_size, page_number, archived"
    )
    assert dodo.requests == []


async def test_active_and_archived_meters_from_the_sandbox(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    large = {"conjunction": "and", "clauses": [{"key": "model", "operator": "equals", "value": "large"}]}
    ids = await create_meters(
        db,
        [
            meter("api_request", {"type": "sum", "key": "tokens"}, large),
            meter("upload", {"type": "count"}),
            meter("download", {"type": "max", "key": "bytes"}),
        ],
    )
    store = open_store(db)
    try:
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=create_app(store)), base_url=SANDBOX_BASE_URL
        ) as http:
            archived = await http.delete(f"/meters/{ids[2]}", headers={"Authorization": "Bearer sk_sandbox_local"})
            assert archived.status_code < 300, archived.text
    finally:
        store.close()
    async with sandbox_session(db) as session:
        first = await session.call("list_meters", {"page_size": 1})
        second = await session.call("list_meters", {"page_size": 1, "page_number": 1})
        last = await session.call("list_meters", {"page_size": 1, "page_number": 2})
        gone = await session.call("list_meters", {"archived": True})
    pages = [page.structured_content for page in (first, second, last, gone)]
    assert all(page is not None for page in pages)
    seen = [item["id"] for page in pages[:3] for item in page["items"]]  # type: ignore[index]
    assert sorted(seen) == sorted(ids[:2])
    assert [page["next_page_number"] for page in pages[:3]] == [1, 2, None]  # type: ignore[index]
    [archived_meter] = pages[3]["items"]  # type: ignore[index]
    assert (archived_meter["id"], archived_meter["archived"], archived_meter["event_name"]) == (
        ids[2],
        True,
        "download",
    )
    by_id = {item["id"]: item for page in pages[:2] for item in page["items"]}  # type: ignore[index]
    assert by_id[ids[0]]["filter"] == large
    assert by_id[ids[0]]["aggregation"] == {"type": "sum", "key": "tokens"}
    assert all(item["archived"] is False for item in by_id.values())
