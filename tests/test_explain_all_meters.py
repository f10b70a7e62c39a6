"""explain_meter_match without meter_id (issue 14, item 2): one event against every active meter, in one call,
over a table of meters x events where each kind of clause fails somewhere. Real client, real sandbox."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx2
import pytest

from dodo_mcp.sandbox import SANDBOX_BASE_URL, create_app, open_store
from tests.conftest import dodo_settings, sandbox_session, text_of, tool_session
from tests.dodo_double import EVENT, DodoDouble, Reply
from tests.test_insights import create_meters, meter

pytestmark = pytest.mark.anyio


def condition(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"conjunction": "and", "clauses": [{"key": key, "operator": operator, "value": value}]}


METERS = [
    meter("api_request", {"type": "count"}),  # no filter
    meter("api_request", {"type": "sum", "key": "tokens"}, condition("model", "equals", "large")),
    meter("upload", {"type": "count"}),  # another event_name
    meter("api_request", {"type": "max", "key": "tokens"}, condition("model", "greater_than", 10)),  # numbers only
    meter("api_request", {"type": "count"}, condition("tokens", "greater_than", 100)),
    meter("api_request", {"type": "count"}),  # archived below: not active, not checked
]
EVENTS = {
    "large": {"tokens": 150, "model": "large"},
    "small": {"tokens": 90, "model": "small"},
    "bare": {"tokens": 5},
}
# (event, meter index) -> (reason, failed_clause, contributes), for the five active meters.
TABLE = {
    "large": [
        ("matched", None, 1),
        ("matched", None, 150),
        ("event_name_mismatch", None, None),
        ("type_mismatch", "clauses[0]", None),
        ("matched", None, 1),
    ],
    "small": [
        ("matched", None, 1),
        ("comparison_failed", "clauses[0]", None),
        ("event_name_mismatch", None, None),
        ("type_mismatch", "clauses[0]", None),
        ("comparison_failed", "clauses[0]", None),
    ],
    "bare": [
        ("matched", None, 1),
        ("missing_key", "clauses[0]", None),
        ("event_name_mismatch", None, None),
        ("missing_key", "clauses[0]", None),
        ("comparison_failed", "clauses[0]", None),
    ],
}


async def archive(db: Path, meter_id: str) -> None:
    store = open_store(db)
    try:
        transport = httpx2.ASGITransport(app=create_app(store))
        async with httpx2.AsyncClient(transport=transport, base_url=SANDBOX_BASE_URL) as http:
            answer = await http.delete(f"/meters/{meter_id}", headers={"Authorization": "Bearer sk_sandbox_local"})
            assert answer.status_code < 300, answer.text
    finally:
        store.close()


async def test_every_active_meter_is_checked_and_each_miss_names_its_first_failing_condition(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    ids = await create_meters(db, METERS)
    await archive(db, ids[-1])
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    events = [
        {"event_id": name, "customer_id": "cus_1", "event_name": "api_request", "timestamp": now, "metadata": data}
        for name, data in EVENTS.items()
    ]
    async with sandbox_session(db) as session:
        ingested = await session.call("ingest_events", {"events": events})
        assert not ingested.is_error
        answers = {name: await session.call("explain_meter_match", {"event_id": name}) for name in EVENTS}
        # With a meter_id, today's answer: one verdict, no list.
        single = await session.call("explain_meter_match", {"event_id": "large", "meter_id": ids[1]})
    for name, expected in TABLE.items():
        result = answers[name].structured_content
        assert result is not None and result["complete"] is True
        by_id = {verdict["meter_id"]: verdict for verdict in result["meters"]}
        assert sorted(by_id) == sorted(ids[:5]), name  # the archived meter is not checked
        got = [(by_id[i]["reason"], by_id[i]["failed_clause"], by_id[i]["contributes"]) for i in ids[:5]]
        assert got == expected, name
        assert result["matched"] is True  # the filterless count meter counts every api_request
        # The counting meters come first, each miss's own explanation follows.
        assert [v["matched"] for v in result["meters"]] == sorted(
            (v["matched"] for v in result["meters"]), reverse=True
        )
        lines = result["explanation"].splitlines()
        counted = sum(1 for row in expected if row[0] == "matched")
        assert lines[0] == f"{counted} of 5 active meters count event {name!r}."
        assert len(lines) == 6 and all(line.startswith(("- Yes: ", "- No: ")) for line in lines[1:])
    assert single.structured_content is not None
    assert set(single.structured_content) == {"matched", "reason", "failed_clause", "explanation", "contributes"}


async def test_no_active_meter_and_the_requests_made(dodo: DodoDouble) -> None:
    dodo.script(Reply(body=EVENT), Reply(body={"items": []}))
    async with tool_session(dodo_settings(dodo.url)) as session:
        result = await session.call("explain_meter_match", {"event_id": "evt_1"})
    assert [(r.method, r.raw_path, r.query) for r in dodo.requests] == [
        ("GET", "/events/evt_1", []),
        ("GET", "/meters", [("page_size", "100"), ("page_number", "0"), ("archived", "false")]),
    ]
    assert result.structured_content == {
        "matched": False,
        "reason": "no_meter",
        "failed_clause": None,
        "explanation": "No active meter exists, so nothing counts this event. Create a meter for its event_name.",
        "contributes": None,
        "meters": [],
        "complete": True,
    }
    assert not result.is_error, text_of(result)


async def test_a_scan_cut_short_says_how_many_meters_were_checked_and_why(dodo: DodoDouble) -> None:
    meters = [
        {
            "id": f"mtr_{i}",
            "business_id": "bus_1",
            "name": f"m{i}",
            "event_name": "upload",
            "aggregation": {"type": "count"},
            "measurement_unit": "calls",
            "created_at": "2026-11-26T10:31:00Z",
            "updated_at": "2026-11-26T10:31:00Z",
        }
        for i in range(100)
    ]
    dodo.script(Reply(body=EVENT), Reply(body={"items": meters}))
    # 4 a minute: the event took 1, so the meter scan may take half of the 3 left, one page of 100.
    async with tool_session(dodo_settings(dodo.url, requests_per_minute=4)) as session:
        result = await session.call("explain_meter_match", {"event_id": "evt_1"})
    assert result.structured_content is not None
    assert (result.structured_content["complete"], len(result.structured_content["meters"])) == (False, 100)
    assert result.structured_content["explanation"].splitlines()[-1] == (
        "Only the first 100 meters were checked: the scan stopped because it used its share (1 pages) of the "
        "requests Dodo's rate limit leaves this minute (100 a minute, shared by every call). Pass meter_id to "
        "check another."
    )
    assert len(dodo.requests) == 2
