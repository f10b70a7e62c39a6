"""Meter filters evaluated as SQL select exactly the events the Python engine selects, table-driven."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dodo_mcp.api.meter_engine import evaluate
from dodo_mcp.api.meters import FILTER_OPERATORS, MeterFilter
from dodo_mcp.sandbox import SandboxStore, open_store
from dodo_mcp.sandbox.meter_sql import to_sql
from dodo_mcp.sandbox.store import EventQuery, StoredEvent

T0 = 1_767_000_000_000_000

# Every kind of value the metadata can hold, next to the ones a filter is likely to compare it with.
METADATA: list[dict[str, Any] | None] = [
    None,
    {},
    {"plan": "premium", "tokens": "150", "amount": 100, "ratio": 0.5, "active": True},
    {"plan": "Premium", "tokens": "150.0", "amount": 100.0, "ratio": 1, "active": False},
    {"plan": "free", "tokens": " 7 ", "amount": -3, "ratio": 1e3, "active": 1},
    {"plan": "premium ", "tokens": "1e3", "amount": 0, "ratio": -0.0, "active": 0},
    {"plan": "", "tokens": "n/a", "amount": 2**70 + 1, "ratio": 1.5e300, "active": "true"},
    {"plan": "pre", "tokens": "+5", "amount": 2**63, "ratio": 0.1, "active": None},
    {"plan": "ünï 😀", "tokens": "1e999", "amount": 9007199254740993, "ratio": 9007199254740992.0},
    {"plan": "100", "tokens": 150, "amount": "100", "ratio": "0.5", "endpoint": "/api/v1/users"},
    {"plan": "premium", "tokens": True, "amount": True, "endpoint": "/API/V1/admin"},
    {"plan": 'a"b', "a.b": 1, "tokens": "\u00a07", "amount": "١٠٠"},
    {"plan": "%", "tokens": ".5", "amount": "5.", "endpoint": ""},
]

# (key, operator, value): each operator against each kind of value.
CONDITIONS: list[tuple[str, str, Any]] = [
    (key, operator, value)
    for key in ("plan", "tokens", "amount", "ratio", "active", "endpoint", "missing", "a.b")
    for operator in FILTER_OPERATORS
    for value in ("premium", "150", "100", "", "pre", "/v1/", 100, 150, 0.5, -0.0, 2**70, 9007199254740992, True, False)
]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStore]:
    store = open_store(Path(tmp_path_factory.mktemp("meter_sql")) / "sandbox.sqlite3")
    store.ingest(
        [StoredEvent(f"e{i:03d}", "cus_1", "api", T0 + i % 5, metadata) for i, metadata in enumerate(METADATA * 3)]
    )
    yield store
    store.close()


def both(store: SandboxStore, meter_filter: MeterFilter, **page: int) -> tuple[list[Any], list[Any]]:
    query = EventQuery(meter_filter=meter_filter, limit=page.get("limit", 1000), offset=page.get("offset", 0))
    store.sql_filters = True
    assert store.filter_sql(query) is not None or to_sql(meter_filter) is None
    by_sql = store.list_events(query)
    store.sql_filters = False
    by_python = store.list_events(query)
    store.sql_filters = True
    return by_sql, by_python


def condition_filter(key: str, operator: str, value: Any) -> MeterFilter:
    return MeterFilter.model_validate(
        {"conjunction": "and", "clauses": [{"key": key, "operator": operator, "value": value}]}
    )


def test_every_condition_selects_the_same_events(filled: SandboxStore) -> None:
    translated = 0
    for key, operator, value in CONDITIONS:
        meter_filter = condition_filter(key, operator, value)
        by_sql, by_python = both(filled, meter_filter)
        assert by_sql == by_python, (key, operator, value)
        # And both agree with evaluate() applied directly to each stored event.
        expected = [
            e["event_id"] for e in filled.list_events(EventQuery(limit=1000)) if evaluate(meter_filter, e["metadata"])
        ]
        assert [e["event_id"] for e in by_sql] == expected, (key, operator, value)
        translated += to_sql(meter_filter) is not None
    assert translated == len(CONDITIONS)  # none needed the Python fallback


@pytest.mark.parametrize(
    "raw",
    [
        {
            "conjunction": "and",
            "clauses": [
                {"key": "plan", "operator": "equals", "value": "premium"},
                {"key": "tokens", "operator": "greater_than", "value": 100},
            ],
        },
        {
            "conjunction": "or",
            "clauses": [
                {"key": "active", "operator": "equals", "value": True},
                {"key": "amount", "operator": "less_than", "value": 0},
                {"key": "missing", "operator": "not_equals", "value": "x"},
            ],
        },
        {
            "conjunction": "and",
            "clauses": [
                {
                    "conjunction": "or",
                    "clauses": [
                        {
                            "conjunction": "and",
                            "clauses": [
                                {"key": "ratio", "operator": "greater_than_or_equals", "value": 0.5},
                                {"key": "plan", "operator": "does_not_contain", "value": "free"},
                            ],
                        },
                        {"conjunction": "and", "clauses": [{"key": "tokens", "operator": "equals", "value": "150"}]},
                    ],
                },
                {"conjunction": "or", "clauses": [{"key": "amount", "operator": "not_equals", "value": 5}]},
            ],
        },
        # Keys a JSON path cannot quote: evaluated in Python, same answer.
        {"conjunction": "and", "clauses": [{"key": 'a"b', "operator": "equals", "value": 1}]},
        {"conjunction": "or", "clauses": [{"key": "a\\b", "operator": "equals", "value": 1}]},
    ],
)
@pytest.mark.parametrize(("limit", "offset"), [(1000, 0), (3, 0), (3, 4), (2, 30), (5, 100)])
def test_nested_filters_and_pages_select_the_same_events(
    filled: SandboxStore, raw: dict[str, Any], limit: int, offset: int
) -> None:
    by_sql, by_python = both(filled, MeterFilter.model_validate(raw), limit=limit, offset=offset)
    assert by_sql == by_python


def test_unquotable_keys_fall_back_to_python() -> None:
    assert to_sql(condition_filter('a"b', "equals", 1)) is None
    assert to_sql(condition_filter("a\\b", "equals", 1)) is None
    assert to_sql(condition_filter("a.b", "equals", 1)) is not None


def test_the_meter_query_pages_in_sql(filled: SandboxStore) -> None:
    query = EventQuery(event_name="api", meter_filter=condition_filter("plan", "equals", "premium"), limit=2)
    sql, params = filled.event_sql(query)
    assert "json_type(metadata, ?) = 'text'" in sql
    plan = filled.explain(sql + " LIMIT 2", params)
    assert len(plan) == 1 and plan[0].startswith("SEARCH events USING INDEX events_by_name (event_name=?)"), plan


# Any key the API accepts: all of Unicode but lone surrogates (JSON can't carry them), up to 100
# characters, with control characters, NUL and quotes drawn often.
_AWKWARD = st.sampled_from(["\x00", "\t", "\n", "\r", "\x01", "\x1f", "\x7f", '"', "\\", "'", ".", "$", "[", "é", "😀"])
KEYS = st.lists(st.one_of(_AWKWARD, st.characters(exclude_categories=["Cs"])), min_size=1, max_size=100).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=KEYS,
    value=st.one_of(st.text(max_size=5), st.integers(), st.booleans()),
    operator=st.sampled_from(FILTER_OPERATORS),
)
def test_sql_and_python_agree_on_every_key_the_api_accepts(
    tmp_path_factory: pytest.TempPathFactory, key: str, value: Any, operator: str
) -> None:
    store = open_store(Path(tmp_path_factory.mktemp("keys")) / "sandbox.sqlite3")
    try:
        store.ingest(
            [
                StoredEvent("has", "cus_1", "api", T0, {key: value}),
                StoredEvent("other", "cus_1", "api", T0 + 1, {key + "x": value}),
                StoredEvent("none", "cus_1", "api", T0 + 2, None),
            ]
        )
        meter_filter = condition_filter(key, operator, value)
        by_sql, by_python = both(store, meter_filter)
        assert by_sql == by_python
        expected = ["has"] if evaluate(meter_filter, {key: value}) else []
        expected += ["none"] if evaluate(meter_filter, None) else []
        expected += ["other"] if evaluate(meter_filter, {key + "x": value}) else []
        assert sorted(e["event_id"] for e in by_sql) == sorted(expected)
    finally:
        store.close()


@pytest.mark.parametrize("key", ["a\tb", "a\rb", "a\nb", "a\x01b", "a\x1fb", "a\x00b"])
def test_keys_json_escapes_are_matched_in_python_not_missed_in_sql(filled: SandboxStore, key: str) -> None:
    """They matched nothing in SQL (NUL: sqlite3.OperationalError, a 500) while explain_meter_match said yes."""
    assert to_sql(condition_filter(key, "equals", 1)) is None
    store = filled
    store.ingest([StoredEvent(f"ctl-{ord(key[1])}", "cus_1", "api", T0, {key: 1})])
    by_sql, by_python = both(store, condition_filter(key, "equals", 1))
    assert [e["event_id"] for e in by_sql] == [e["event_id"] for e in by_python] == [f"ctl-{ord(key[1])}"]
