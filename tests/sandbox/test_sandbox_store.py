"""The SQLite store: indexes, order, idempotency, atomicity, locations."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from dodo_mcp.api.meters import MeterFilter
from dodo_mcp.sandbox import SandboxStore, default_db_path, open_store
from dodo_mcp.sandbox.store import EventQuery, StoredEvent, format_micros

T0 = 1_767_000_000_000_000  # microseconds


def event(event_id: str, ts: int = T0, customer: str = "cus_1", name: str = "api", **metadata: object) -> StoredEvent:
    return StoredEvent(event_id, customer, name, ts, dict(metadata) or None)


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [row["event_id"] for row in rows]


def test_wal_mode_and_schema(store: SandboxStore) -> None:
    assert store.journal_mode() == "wal"


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (EventQuery(customer_id="c"), "events_by_customer (customer_id=?)"),
        (EventQuery(customer_id="c", start=1, end=2), "events_by_customer (customer_id=? AND ts>? AND ts<?)"),
        (EventQuery(event_name="n"), "events_by_name (event_name=?)"),
        (EventQuery(event_name="n", start=1), "events_by_name (event_name=? AND ts>?)"),
        (EventQuery(), "events_by_time"),
        (EventQuery(start=1, end=2), "events_by_time (ts>? AND ts<?)"),
    ],
)
def test_every_filter_uses_an_index_and_needs_no_sort(store: SandboxStore, query: EventQuery, index: str) -> None:
    store.ingest([event(f"e{i}", T0 + i, customer=f"c{i % 7}", name=f"n{i % 5}") for i in range(500)])
    with sqlite3.connect(store.path) as conn:
        conn.execute("ANALYZE")
    sql, params = store.event_sql(query)
    plan = store.explain(sql + " LIMIT 10", params)
    assert len(plan) == 1, plan  # one step: no "USE TEMP B-TREE FOR ORDER BY"
    step = plan[0]
    assert step.startswith("SEARCH events USING INDEX" if "(" in index else "SCAN events USING INDEX"), step
    assert step.endswith(index), step


def test_order_is_newest_first_with_ties_broken_by_event_id(store: SandboxStore) -> None:
    store.ingest([event("b", T0), event("a", T0), event("c", T0 + 1), event("d", T0 - 1)])
    assert ids(store.list_events(EventQuery(limit=10))) == ["c", "a", "b", "d"]
    assert ids(store.list_events(EventQuery(limit=2, offset=1))) == ["a", "b"]


def test_ingest_is_idempotent_by_event_id_and_counts_new_rows(store: SandboxStore) -> None:
    assert store.ingest([event("a"), event("b")]) == 2
    assert store.ingest([event("b", customer="other"), event("c")]) == 1
    assert store.count_events() == 3
    # The first write wins: an ignored duplicate changes nothing.
    assert store.get_event("b") == {
        "business_id": "bus_sandbox",
        "customer_id": "cus_1",
        "event_id": "b",
        "event_name": "api",
        "timestamp": format_micros(T0),
        "metadata": None,
    }


def test_a_batch_that_fails_midway_writes_nothing(store: SandboxStore) -> None:
    bad = StoredEvent("z", None, "api", T0, None)  # type: ignore[arg-type]  # NOT NULL violation on row 3
    with pytest.raises(sqlite3.IntegrityError):
        store.ingest([event("x"), event("y"), bad])
    assert store.count_events() == 0
    assert store.ingest([event("x")]) == 1


def test_filters_range_and_meter_filter(store: SandboxStore) -> None:
    store.ingest(
        [event(f"e{i}", T0 + i, customer="c1" if i % 2 else "c2", tokens=str(i * 10)) for i in range(10)]
        + [event("other", T0, name="other", tokens="999")]
    )
    assert ids(store.list_events(EventQuery(customer_id="c1", start=T0 + 3, end=T0 + 7))) == ["e7", "e5", "e3"]
    meter_filter = MeterFilter.model_validate(
        {"conjunction": "and", "clauses": [{"key": "tokens", "operator": "greater_than_or_equals", "value": 40}]}
    )
    query = EventQuery(event_name="api", meter_filter=meter_filter, limit=2)
    assert ids(store.list_events(query)) == ["e9", "e8"]
    assert ids(store.list_events(EventQuery(event_name="api", meter_filter=meter_filter, limit=2, offset=4))) == [
        "e5",
        "e4",
    ]
    assert store.list_events(EventQuery(event_name="api", meter_filter=meter_filter, offset=6)) == []


def test_metadata_round_trips_exactly(store: SandboxStore) -> None:
    metadata = {"s": "ünï", "i": 2**53 + 1, "f": 1.0, "b": False, "n": "150"}
    store.ingest([StoredEvent("m", "c", "n", T0, metadata)])
    stored = store.get_event("m")
    assert stored is not None and stored["metadata"] == metadata
    assert type(stored["metadata"]["f"]) is float


def test_memory_store_is_shared_between_threads() -> None:
    import threading

    memory = open_store(":memory:")
    thread = threading.Thread(target=lambda: memory.ingest([event("t")]))
    thread.start()
    thread.join()
    assert memory.count_events() == 1
    memory.close()


def test_data_persists_across_reopen_and_reset_clears_it(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "db.sqlite3"
    first = open_store(path)
    first.ingest([event("kept")])
    first.close()
    second = open_store(path)
    assert ids(second.list_events(EventQuery())) == ["kept"]
    second.reset()
    assert second.count_events() == 0
    second.close()


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG applies on Linux and other Unix")
def test_default_db_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_path() == tmp_path / "dodo-mcp" / "sandbox.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path() == tmp_path / ".local" / "share" / "dodo-mcp" / "sandbox.sqlite3"


def test_timestamps_format_as_rfc3339_utc() -> None:
    assert format_micros(T0) == "2025-12-29T09:20:00Z"
    assert format_micros(T0 + 1500) == "2025-12-29T09:20:00.001500Z"
