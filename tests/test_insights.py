"""summarize_events and explain_meter_match through the SDK's client, with the server in-process on the sandbox.

Events are seeded with ingest_events and meters with the sandbox's own POST /meters. Every summary is
checked against an independent computation over the same seeded events (plain Python here, not the
server's engine); explain_meter_match against a table of meters and events.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import DodoError
from dodo_mcp.config import Settings
from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, SANDBOX_BASE_URL, create_app, open_store
from dodo_mcp.tools.models import SummarizeEventsArguments
from dodo_mcp.tools.summarize import summarize
from tests.conftest import sandbox_session, text_of

pytestmark = pytest.mark.anyio

CUSTOMERS = ("cus_a", "cus_b", "cus_c")
NAMES = ("api_request", "upload")
# Numbers whose sums are exact in binary floating point, so the order of addition cannot matter;
# numeric strings are counted as numbers, the rest are skipped.
TOKENS: tuple[Any, ...] = (150, 90, "150", "12.5", 7.5, "-2", "1e2", "n/a", "", True, None)
MODELS = ("small", "large", None)
EVENT_COUNT = 250


async def create_meters(db: Path, meters: Sequence[dict[str, Any]]) -> list[str]:
    """Create meters through the sandbox's POST /meters on the same database file; their ids in order."""
    store = open_store(db)
    try:
        transport = httpx2.ASGITransport(app=create_app(store))
        async with httpx2.AsyncClient(transport=transport, base_url=SANDBOX_BASE_URL) as http:
            ids = []
            for meter in meters:
                response = await http.post(
                    "/meters", json=meter, headers={"Authorization": f"Bearer {DEFAULT_SANDBOX_API_KEY}"}
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
            return ids
    finally:
        store.close()


def meter(event_name: str, aggregation: dict[str, Any], meter_filter: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{aggregation['type']} {event_name}",
        "event_name": event_name,
        "measurement_unit": "units",
        "aggregation": aggregation,
    }
    if meter_filter is not None:
        body["filter"] = meter_filter
    return body


def seeded_events(now: datetime, count: int = EVENT_COUNT) -> list[dict[str, Any]]:
    """`count` events ten seconds apart (newest first: one second ago), with mixed metadata."""
    rng = random.Random(8)
    events = []
    for i in range(count):
        metadata: dict[str, Any] = {}
        tokens = rng.choice(TOKENS)
        if tokens is not None:
            metadata["tokens"] = tokens
        model = rng.choice(MODELS)
        if model is not None:
            metadata["model"] = model
        events.append(
            {
                "event_id": f"evt-{i:04d}",
                "customer_id": rng.choice(CUSTOMERS),
                "event_name": rng.choice(NAMES),
                "timestamp": (now - timedelta(seconds=1 + 10 * i)).isoformat(timespec="seconds"),
                "metadata": metadata,
            }
        )
    return events


async def ingest(session: Any, events: list[dict[str, Any]]) -> None:
    result = await session.call("ingest_events", {"events": events})
    assert not result.is_error, text_of(result)
    assert result.structured_content["ingested_count"] == len(events)


# The independent computation.


def number(value: Any) -> int | float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return None


def bucket(event: dict[str, Any], dimension: str) -> Any:
    if dimension in ("customer_id", "event_name"):
        return event[dimension]
    moment = datetime.fromisoformat(event["timestamp"]).astimezone(timezone.utc)
    if dimension == "hour":
        return moment.strftime("%Y-%m-%dT%H:00:00Z")
    if dimension == "day":
        return moment.strftime("%Y-%m-%d")
    return event["metadata"].get(dimension.removeprefix("metadata."))


def expected_groups(
    events: list[dict[str, Any]], group_by: list[str], aggregation: dict[str, Any]
) -> dict[str, tuple[Any, int, int]]:
    """{json of the group's key: (value, events, skipped)}, over events given newest first."""
    members: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        dimensions = {dimension: bucket(event, dimension) for dimension in group_by}
        members.setdefault(json.dumps(dimensions, sort_keys=True), []).append(event)
    out: dict[str, tuple[Any, int, int]] = {}
    for key, group in members.items():
        kind = aggregation["type"]
        if kind == "count":
            out[key] = (len(group), len(group), 0)
            continue
        values = [number(event["metadata"].get(aggregation["key"])) for event in group]
        numeric = [v for v in values if v is not None]
        skipped = len(values) - len(numeric)
        if kind == "sum":
            value: Any = sum(numeric)
        elif kind == "max":
            value = max(numeric) if numeric else None
        else:
            value = numeric[0] if numeric else None  # the newest: events are newest first
        out[key] = (value, len(group), skipped)
    return out


def actual_groups(structured: dict[str, Any]) -> dict[str, tuple[Any, int, int]]:
    return {
        json.dumps(group["key"], sort_keys=True): (group["value"], group["events"], group["skipped"])
        for group in structured["groups"]
    }


AGGREGATIONS = [
    {"type": "count"},
    {"type": "sum", "key": "tokens"},
    {"type": "max", "key": "tokens"},
    {"type": "last", "key": "tokens"},
]
GROUPINGS = [
    [],
    ["customer_id"],
    ["event_name"],
    ["metadata.model"],
    ["metadata.tokens"],
    ["hour"],
    ["day"],
    ["customer_id", "event_name", "metadata.model"],
]


async def test_every_grouping_and_aggregation_matches_an_independent_computation(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    events = seeded_events(datetime.now(timezone.utc))
    async with sandbox_session(db) as session:
        await ingest(session, events)
        for group_by in GROUPINGS:
            for aggregation in AGGREGATIONS:
                result = await session.call("summarize_events", {"group_by": group_by, "aggregation": aggregation})
                assert not result.is_error, text_of(result)
                data = result.structured_content
                assert data is not None
                assert actual_groups(data) == expected_groups(events, group_by, aggregation), (group_by, aggregation)
                assert (data["scanned"], data["complete"], data["note"], data["omitted_groups"]) == (
                    EVENT_COUNT,
                    True,
                    None,
                    0,
                )
                kind = aggregation["type"]
                assert data["aggregation"] == ("count of events" if kind == "count" else f"{kind} of tokens")
                if group_by in (["hour"], ["day"]):
                    keys = [group["key"][group_by[0]] for group in data["groups"]]
                    assert keys == sorted(keys)


async def test_the_text_is_the_structured_content_in_the_same_shape_with_zero_skips_left_out(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    events = seeded_events(datetime.now(timezone.utc))
    # A group of its own with no model and nothing skipped.
    events.append({**events[0], "event_id": "solo", "customer_id": "cus_solo", "metadata": {"tokens": 7}})
    async with sandbox_session(db) as session:
        await ingest(session, events)
        result = await session.call(
            "summarize_events",
            {"group_by": ["customer_id", "metadata.model"], "aggregation": {"type": "sum", "key": "tokens"}},
        )
    data = result.structured_content
    assert data is not None
    assert (data["note"], data["oldest_scanned"], data["omitted_groups"]) == (None, None, 0)
    assert any(group["skipped"] == 0 for group in data["groups"])
    assert any(group["key"]["metadata.model"] is None for group in data["groups"])
    groups = [{k: v for k, v in group.items() if k != "skipped" or v} for group in data["groups"]]
    assert json.loads(text_of(result)) == {
        "aggregation": "sum of tokens",
        "groups": groups,
        "scanned": EVENT_COUNT + 1,
        "complete": True,
    }
    assert sorted({group["key"]["customer_id"] for group in groups}) == sorted([*CUSTOMERS, "cus_solo"])


async def test_filters_and_a_meters_own_aggregation(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    large = {"conjunction": "and", "clauses": [{"key": "model", "operator": "equals", "value": "large"}]}
    [meter_id] = await create_meters(db, [meter("api_request", {"type": "sum", "key": "tokens"}, large)])
    events = seeded_events(datetime.now(timezone.utc))
    start, end = events[180]["timestamp"], events[20]["timestamp"]
    async with sandbox_session(db) as session:
        await ingest(session, events)
        by_meter = await session.call("summarize_events", {"meter_id": meter_id, "group_by": ["customer_id"]})
        counted = await session.call(
            "summarize_events", {"meter_id": meter_id, "aggregation": {"type": "count"}, "customer_id": "cus_b"}
        )
        window = await session.call(
            "summarize_events", {"event_name": "upload", "start": start, "end": end, "group_by": ["metadata.model"]}
        )
    in_meter = [e for e in events if e["event_name"] == "api_request" and e["metadata"].get("model") == "large"]
    assert by_meter.structured_content is not None
    assert by_meter.structured_content["aggregation"] == "sum of tokens"
    assert actual_groups(by_meter.structured_content) == expected_groups(
        in_meter, ["customer_id"], {"type": "sum", "key": "tokens"}
    )
    assert counted.structured_content is not None
    assert actual_groups(counted.structured_content) == expected_groups(
        [e for e in in_meter if e["customer_id"] == "cus_b"], [], {"type": "count"}
    )
    # start and end are inclusive in the sandbox: events 20 to 180.
    assert window.structured_content is not None
    assert actual_groups(window.structured_content) == expected_groups(
        [e for e in events[20:181] if e["event_name"] == "upload"], ["metadata.model"], {"type": "count"}
    )


async def test_a_truncated_scan_says_so_and_how_to_cover_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    events = seeded_events(datetime.now(timezone.utc))
    reported: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, total, message))

    aggregation = {"type": "sum", "key": "tokens"}
    async with sandbox_session(db) as session:
        await ingest(session, events)
        first = await session.client.call_tool(
            "summarize_events",
            {"group_by": ["event_name"], "aggregation": aggregation, "max_events": 130},
            progress_callback=on_progress,
        )
        assert first.structured_content is not None
        oldest = first.structured_content["oldest_scanned"]
        rest = await session.call(
            "summarize_events", {"group_by": ["event_name"], "aggregation": aggregation, "end": oldest}
        )
        exact = await session.call("summarize_events", {"max_events": EVENT_COUNT})
    data = first.structured_content
    assert actual_groups(data) == expected_groups(events[:130], ["event_name"], aggregation)
    assert (data["scanned"], data["complete"], oldest) == (130, False, events[129]["timestamp"].replace("+00:00", "Z"))
    assert data["note"] == (
        "Incomplete: the scan stopped because it reached max_events (130), after the newest 130 matching events "
        f"(back to {oldest}). Narrow the query for a complete answer: a shorter start/end window, or "
        "customer_id, event_name or meter_id; or raise max_events (up to 5000). For the older events, call again "
        f"with end={oldest} (an event at exactly that time is counted again)."
    )
    assert reported == [(100, 130, "100 events scanned"), (130, 130, "130 events scanned")]
    # Following the note covers the rest, the oldest scanned event once more.
    assert rest.structured_content is not None
    assert rest.structured_content["complete"] is True
    assert actual_groups(rest.structured_content) == expected_groups(events[129:], ["event_name"], aggregation)
    # Exactly as many events as max_events, ending on a short page: complete.
    assert exact.structured_content is not None
    assert (exact.structured_content["scanned"], exact.structured_content["complete"]) == (EVENT_COUNT, True)


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"group_by": ["model"]}, "group_by[0] must be customer_id, event_name, hour, day or metadata.<key>, not 'model'"),
        ({"group_by": ["day", "day"]}, "group_by must not repeat a dimension (day)"),
        ({"group_by": ["day", "hour", "event_name", "customer_id"]}, "group_by may have at most 3 items (got 4)"),
        ({"aggregation": {"type": "sum"}}, "aggregation key is required when type is 'sum' (only count works without a key)"),
        ({"max_events": 5001}, "max_events must be at most 5000 (got 5001)"),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end must not be before start (2026-01-02T00:00:00Z)"),
    ],
)  # fmt: skip
async def test_bad_summary_arguments_are_explained(arguments: dict[str, Any], problem: str) -> None:
    async with sandbox_session() as session:
        result = await session.call("summarize_events", arguments)
    assert result.is_error
    assert text_of(result) == (
        f"Invalid arguments (1 problem):\n- {problem}\n"
        "Nothing was sent to Dodo. Fix the problems above and call summarize_events again."
    )


# The scan's bounds, with DodoClient over an in-process transport: a page takes as long as we say.


def page_of(page_number: int, size: int = 100) -> dict[str, Any]:
    now = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)
    return {
        "items": [
            {
                "business_id": "bus_1",
                "customer_id": "cus_1",
                "event_id": f"e{page_number}-{i}",
                "event_name": "api_request",
                "timestamp": (now - timedelta(seconds=page_number * 100 + i)).isoformat().replace("+00:00", "Z"),
                "metadata": {"tokens": 1},
            }
            for i in range(size)
        ]
    }


async def run_scan(handler: Any, *, deadline_s: float = 30, **arguments: Any) -> tuple[Any, list[tuple[float, int]]]:
    requests: list[tuple[float, int]] = []

    async def record(request: httpx2.Request) -> httpx2.Response:
        requests.append((anyio.current_time(), int(request.url.params["page_number"])))
        return await handler(request)

    settings = Settings(
        api_key=SecretStr("sk_test_scan"), base_url_override="http://dodo.test", deadline_s=deadline_s, max_retries=0
    )
    async with DodoClient(settings, transport=httpx2.MockTransport(record)) as client:
        summary = await summarize(client, SummarizeEventsArguments.model_validate(arguments))
    return summary, requests


async def test_the_scan_stops_within_the_deadline() -> None:
    async def slow(request: httpx2.Request) -> httpx2.Response:
        await anyio.sleep(0.3)
        return httpx2.Response(200, json=page_of(int(request.url.params["page_number"])))

    began = anyio.current_time()
    summary, requests = await run_scan(slow, deadline_s=1, max_events=5000)
    took = anyio.current_time() - began
    # 80% of the 1 s deadline: two pages answered, the third cut off.
    assert [page for _, page in requests] == [0, 1, 2]
    assert (summary.scanned, summary.complete) == (200, False)
    assert summary.note is not None and summary.note.startswith(
        "Incomplete: the scan stopped because it reached this call's time limit, after the newest 200 matching events"
    )
    assert 0.8 <= took < 1.0


async def test_pages_are_spaced_under_the_burst_limit_and_capped_per_call() -> None:
    async def duplicates(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=page_of(0))  # every page repeats page 0: shifted pages, at worst

    summary, requests = await run_scan(duplicates, max_events=5000)
    assert [page for _, page in requests] == list(range(50))
    # Never more than 10 requests within a second (Dodo's burst limit).
    times = [when for when, _ in requests]
    assert min(later - earlier for earlier, later in zip(times, times[10:], strict=False)) >= 1.0
    assert (summary.scanned, summary.complete) == (100, False)  # each event_id counted once
    assert summary.note is not None and "it reached the limit of 50 pages per call" in summary.note


async def test_a_failure_after_the_first_page_returns_what_was_scanned() -> None:
    async def fails_on_page_2(request: httpx2.Request) -> httpx2.Response:
        page = int(request.url.params["page_number"])
        if page == 2:
            return httpx2.Response(503, json={"code": "INTERNAL_SERVER_ERROR", "message": "try later"})
        return httpx2.Response(200, json=page_of(page))

    summary, _ = await run_scan(fails_on_page_2)
    assert (summary.scanned, summary.complete, summary.groups[0].value) == (200, False, 200)
    assert summary.note is not None and summary.note.startswith(
        "Incomplete: the scan stopped because page 2 failed: Dodo API error 503 INTERNAL_SERVER_ERROR: try later."
    )

    async def fails_at_once(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(401, json={"code": "UNAUTHORIZED", "message": "bad key"})

    with pytest.raises(DodoError, match="Dodo API error 401 UNAUTHORIZED: bad key"):
        await run_scan(fails_at_once)


# explain_meter_match: one table of meters and events.


def cond(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"key": key, "operator": operator, "value": value}


def both(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"conjunction": "and", "clauses": list(clauses)}


def either(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"conjunction": "or", "clauses": list(clauses)}


# Three levels of nesting below the top-level filter: or( and( or( and(conditions) ) ), ... ).
DEEP = either(
    both(either(both(cond("tier", "equals", "pro"), cond("tokens", "greater_than", 100)))),
    both(either(both(cond("region", "equals", "eu")))),
)

# (case id, meter filter, event metadata, matched, reason, failed clause, explanation's failure text)
MATCH_TABLE: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None, bool, str, str | None, str | None]] = [
    ("no filter", None, {"tokens": 5}, True, "matched", None, None),
    ("equals string", both(cond("model", "equals", "large")), {"model": "large"}, True, "matched", None, None),
    ("equals fails", both(cond("model", "equals", "large")), {"model": "Large"}, False, "comparison_failed", "clauses[0]",
     "clauses[0]: 'model' is 'Large', and 'Large' equals 'large' is false"),
    ("equals numeric string", both(cond("tokens", "equals", 150)), {"tokens": "150"}, True, "matched", None, None),
    ("not_equals", both(cond("model", "not_equals", "small")), {"model": "large"}, True, "matched", None, None),
    ("not_equals fails", both(cond("model", "not_equals", "small")), {"model": "small"}, False, "comparison_failed",
     "clauses[0]", "clauses[0]: 'model' is 'small', and 'small' not_equals 'small' is false"),
    ("greater_than", both(cond("tokens", "greater_than", 100)), {"tokens": 101}, True, "matched", None, None),
    ("greater_than fails", both(cond("tokens", "greater_than", 100)), {"tokens": 100}, False, "comparison_failed",
     "clauses[0]", "clauses[0]: 'tokens' is 100, and 100 greater_than 100 is false"),
    ("greater_than_or_equals", both(cond("tokens", "greater_than_or_equals", 100)), {"tokens": "100"}, True, "matched",
     None, None),
    ("less_than", both(cond("tokens", "less_than", 2.5)), {"tokens": 2}, True, "matched", None, None),
    ("less_than fails", both(cond("tokens", "less_than", 2.5)), {"tokens": 2.5}, False, "comparison_failed",
     "clauses[0]", "clauses[0]: 'tokens' is 2.5, and 2.5 less_than 2.5 is false"),
    ("less_than_or_equals", both(cond("tokens", "less_than_or_equals", 2.5)), {"tokens": 2.5}, True, "matched", None,
     None),
    ("contains", both(cond("path", "contains", "/v1/")), {"path": "/api/v1/chat"}, True, "matched", None, None),
    ("contains fails", both(cond("path", "contains", "/v1/")), {"path": "/api/v2/chat"}, False, "comparison_failed",
     "clauses[0]", "clauses[0]: 'path' is '/api/v2/chat', and '/api/v2/chat' contains '/v1/' is false"),
    ("does_not_contain", both(cond("path", "does_not_contain", "test")), {"path": "/live"}, True, "matched", None,
     None),
    ("missing key", both(cond("model", "equals", "large")), {"tokens": 5}, False, "missing_key", "clauses[0]",
     "clauses[0]: metadata has no key 'model', so the condition cannot match"),
    ("missing key, no metadata", both(cond("model", "not_equals", "x")), None, False, "missing_key", "clauses[0]",
     "clauses[0]: metadata has no key 'model', so the condition cannot match"),
    ("ordering a word", both(cond("tokens", "greater_than", 10)), {"tokens": "many"}, False, "type_mismatch",
     "clauses[0]", "clauses[0]: 'tokens' is a string ('many'), which greater_than cannot compare with the number 10"),
    ("boolean against string", both(cond("cached", "equals", "true")), {"cached": True}, False, "type_mismatch",
     "clauses[0]", "clauses[0]: 'cached' is a boolean (True), which equals cannot compare with the string 'true'"),
    ("contains on a number", both(cond("tokens", "contains", "5")), {"tokens": 150}, False, "type_mismatch",
     "clauses[0]", "clauses[0]: 'tokens' is a number (150), which contains cannot compare with the numeric string '5'"),
    ("and: second clause fails", both(cond("model", "equals", "large"), cond("tokens", "greater_than", 100)),
     {"model": "large", "tokens": 50}, False, "comparison_failed", "clauses[1]",
     "clauses[1]: 'tokens' is 50, and 50 greater_than 100 is false"),
    ("or: one clause holds", either(cond("model", "equals", "large"), cond("tokens", "greater_than", 100)),
     {"model": "small", "tokens": 500}, True, "matched", None, None),
    ("or: every clause fails, the first is named", either(cond("model", "equals", "large"), cond("tokens", "greater_than", 100)),
     {"tokens": 5}, False, "missing_key", "clauses[0]",
     "clauses[0]: metadata has no key 'model', so the condition cannot match"),
    ("nested 3 deep: matches", DEEP, {"tier": "pro", "tokens": 101}, True, "matched", None, None),
    ("nested 3 deep: matches the other branch", DEEP, {"region": "eu"}, True, "matched", None, None),
    ("nested 3 deep: fails deepest", DEEP, {"tier": "pro", "tokens": 100, "region": "us"}, False,
     "comparison_failed", "clauses[0][0][0][1]",
     "clauses[0][0][0][1]: 'tokens' is 100, and 100 greater_than 100 is false"),
]  # fmt: skip


@pytest.fixture(scope="module")
def match_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], list[Any]]]:
    """One database with a meter and an event per table row (and a few more), seeded once; and each row's
    explain_meter_match result, from one server."""
    db = tmp_path_factory.mktemp("explain") / "sandbox.sqlite3"
    meters = [meter("api_request", {"type": "count"}, row[1]) for row in MATCH_TABLE]
    meters.append(meter("api_request", {"type": "sum", "key": "tokens"}))

    async def seed() -> tuple[list[str], list[Any]]:
        ids = await create_meters(db, meters)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        events = [
            {"event_id": f"row-{i}", "customer_id": "cus_1", "event_name": "api_request", "timestamp": now}
            | ({"metadata": row[2]} if row[2] is not None else {})
            for i, row in enumerate(MATCH_TABLE)
        ]
        events += [
            {"event_id": "upload-1", "customer_id": "cus_1", "event_name": "upload", "metadata": {"model": "large"}},
            {"event_id": "sum-150", "customer_id": "cus_1", "event_name": "api_request", "metadata": {"tokens": "150"}},
            {"event_id": "sum-na", "customer_id": "cus_1", "event_name": "api_request", "metadata": {"tokens": "n/a"}},
        ]
        async with sandbox_session(db) as session:
            await ingest(session, events)
            results = [
                await session.call("explain_meter_match", {"event_id": f"row-{i}", "meter_id": ids[i]})
                for i in range(len(MATCH_TABLE))
            ]
        return ids, results

    ids, results = anyio.run(seed)
    yield db, ids, results


async def explain(db: Path, pairs: list[tuple[str, str]]) -> list[Any]:
    async with sandbox_session(db) as session:
        return [await session.call("explain_meter_match", {"event_id": e, "meter_id": m}) for e, m in pairs]


@pytest.mark.parametrize(
    ("case", "meter_filter", "metadata", "matched", "reason", "failed_clause", "failure"),
    MATCH_TABLE,
    ids=[row[0] for row in MATCH_TABLE],
)
async def test_explain_meter_match(
    match_sandbox: tuple[Path, list[str], list[Any]],
    case: str,
    meter_filter: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    matched: bool,
    reason: str,
    failed_clause: str | None,
    failure: str | None,
) -> None:
    _, meter_ids, results = match_sandbox
    row = [r[0] for r in MATCH_TABLE].index(case)
    result = results[row]
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    name = f"meter 'count api_request' ({meter_ids[row]})"
    if matched:
        conditions = "no filter" if meter_filter is None else "its filter holds"
        explanation = f"Yes: {name} counts it (event_name 'api_request', {conditions}); it adds 1 to the count."
        contributes: int | None = 1
    else:
        fix = {
            "missing_key": "Send that key in the event's metadata.",
            "type_mismatch": "Send the value with a type the operator compares (numbers may be numeric strings).",
            "comparison_failed": "The value is compared as sent; the event is correctly excluded unless it is wrong.",
        }[reason]
        explanation = f"No: {name} filter fails at {failure}. {fix}"
        contributes = None
    assert data == {
        "matched": matched,
        "reason": reason,
        "failed_clause": failed_clause,
        "explanation": explanation,
        "contributes": contributes,
    }


async def test_explain_names_event_name_mismatches_contributions_and_missing_ids(
    match_sandbox: tuple[Path, list[str], list[Any]],
) -> None:
    db, meter_ids, _ = match_sandbox
    large_meter = meter_ids[1]  # "equals string": model equals large
    sum_meter = meter_ids[-1]
    upload, counted, skipped, no_event, no_meter = await explain(
        db,
        [
            ("upload-1", large_meter),
            ("sum-150", sum_meter),
            ("sum-na", sum_meter),
            ("ROW-1", large_meter),
            ("row-1", "mtr_nope"),
        ],
    )
    assert upload.structured_content == {
        "matched": False,
        "reason": "event_name_mismatch",
        "failed_clause": None,
        "explanation": f"No: event 'upload-1' has event_name 'upload', but meter 'count api_request' ({large_meter}) "
        "counts only 'api_request' events (names are case-sensitive); its metadata would pass the meter's filter.",
        "contributes": None,
    }
    assert counted.structured_content is not None
    assert (counted.structured_content["matched"], counted.structured_content["contributes"]) == (True, 150)
    assert counted.structured_content["explanation"] == (
        f"Yes: meter 'sum api_request' ({sum_meter}) matches it (event_name 'api_request', no filter); "
        "its 'tokens' of '150' counts as 150 in the meter's sum."
    )
    assert skipped.structured_content is not None
    assert (skipped.structured_content["matched"], skipped.structured_content["contributes"]) == (True, None)
    assert skipped.structured_content["explanation"].endswith(
        "but it has a non-numeric 'n/a' for 'tokens', so the meter's sum skips it."
    )
    assert no_event.is_error
    assert text_of(no_event) == (
        "Dodo API error 404 NOT_FOUND: Event not found. No event with this event_id exists in test_mode. Event IDs "
        "are case-sensitive and must match exactly; check the id, or find it with list_events."
    )
    assert no_meter.is_error
    assert text_of(no_meter) == (
        "Dodo API error 404 NOT_FOUND: Meter not found. No meter with meter_id 'mtr_nope' exists in test_mode. Meter "
        "ids are case-sensitive: check the id in the Dodo dashboard (Meters), and that the key's environment is "
        "the meter's."
    )


@pytest.mark.parametrize("key", ["region\tcode", "line\nbreak", "bell\x07", "nul\x00key"])
async def test_a_meter_on_a_key_with_a_control_character_counts_what_explain_says_it_counts(
    tmp_path: Path, key: str
) -> None:
    """Before: list_events by such a meter found nothing (NUL: a 500) while explain_meter_match said it matched."""
    db = tmp_path / "sandbox.sqlite3"
    on_key = {"conjunction": "and", "clauses": [{"key": key, "operator": "equals", "value": "eu"}]}
    [meter_id] = await create_meters(db, [meter("api_request", {"type": "count"}, on_key)])
    now = datetime.now(timezone.utc)
    events = [
        {
            "event_id": "eu",
            "customer_id": "cus_1",
            "event_name": "api_request",
            "timestamp": now.isoformat(),
            "metadata": {key: "eu"},
        },
        {
            "event_id": "us",
            "customer_id": "cus_1",
            "event_name": "api_request",
            "timestamp": now.isoformat(),
            "metadata": {key: "us"},
        },
    ]
    async with sandbox_session(db) as session:
        await ingest(session, events)
        explained = await session.call("explain_meter_match", {"event_id": "eu", "meter_id": meter_id})
        listed = await session.call("list_events", {"meter_id": meter_id})
        summary = await session.call("summarize_events", {"meter_id": meter_id})
    assert explained.structured_content is not None and explained.structured_content["matched"] is True
    assert listed.structured_content is not None
    assert [item["event_id"] for item in listed.structured_content["items"]] == ["eu"]
    assert summary.structured_content is not None
    assert [(g["value"], g["events"]) for g in summary.structured_content["groups"]] == [(1, 1)]
