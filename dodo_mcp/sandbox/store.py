"""SQLite storage for the sandbox: events, meters, products and subscriptions, WAL mode, real transactions.

Concurrency model: a file database gives every thread its own connection for
reading (the ASGI app runs store calls in worker threads); WAL lets readers
proceed while one writer commits. Every write goes through one writer connection,
one thread at a time under a lock (`_writing`): concurrent writers queue on the
lock, not in SQLite's busy handler (which sleeps 1 to 100 ms between tries, time
no one writes), and the writer's page cache stays warm, where a write through
another connection would discard it. Ingest still takes SQLite's write lock up
front with BEGIN IMMEDIATE (another process may share the file), so a batch is
all-or-nothing and `ingested_count` (rows actually inserted, counted inside the
transaction) is exact even when concurrent batches share event_ids.
Every read is a single SELECT, i.e. one snapshot: no reader sees half a batch.
`:memory:` databases are per connection, so there one connection is shared
under a lock.

Order everywhere is newest first, ties broken by event_id ascending; the indexes
are declared in exactly that order so SQLite walks them without sorting.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from dodo_mcp.api import json_bytes
from dodo_mcp.api.meter_engine import evaluate
from dodo_mcp.api.meters import Meter, MeterFilter
from dodo_mcp.sandbox.meter_sql import SQL_COMPARE_FUNCTION, sql_compare, to_sql

APP_DIR_NAME = "dodo-mcp"
DB_FILE_NAME = "sandbox.sqlite3"
DEFAULT_BUSINESS_ID = "bus_sandbox"
MEMORY = ":memory:"
# How long a writer waits for another's transaction before giving up.
BUSY_TIMEOUT_MS = 10_000
# `metadata -> path` (JSON text of a value) arrived in SQLite 3.38; older ones filter in Python.
_SQLITE_HAS_JSON_ARROW = sqlite3.sqlite_version_info >= (3, 38, 0)
# WAL pages (4 KiB) between automatic checkpoints.
WAL_CHECKPOINT_PAGES = 10_000
# Rows fetched at a time while a meter filter is applied in Python.
_FILTER_FETCH = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id    TEXT PRIMARY KEY NOT NULL,
    business_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    event_name  TEXT NOT NULL,
    ts          INTEGER NOT NULL,  -- microseconds since the Unix epoch, UTC: sorts and compares exactly
    metadata    TEXT               -- JSON object, or NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (ts DESC, event_id);
CREATE INDEX IF NOT EXISTS events_by_customer ON events (customer_id, ts DESC, event_id);
CREATE INDEX IF NOT EXISTS events_by_name ON events (event_name, ts DESC, event_id);
CREATE TABLE IF NOT EXISTS meters (
    id          TEXT PRIMARY KEY NOT NULL,
    seq         INTEGER NOT NULL,  -- creation order, for a stable newest-first listing
    archived    INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL      -- the Meter as JSON
);
CREATE TABLE IF NOT EXISTS products (
    id          TEXT PRIMARY KEY NOT NULL,
    body        TEXT NOT NULL      -- the product as GET /products/{id} answers it
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id          TEXT PRIMARY KEY NOT NULL,
    seq         INTEGER NOT NULL,  -- creation order, for a stable newest-first listing
    customer_id TEXT NOT NULL,
    body        TEXT NOT NULL      -- what the sandbox keeps of it (see sandbox.billing)
);
"""


def default_db_path() -> Path:
    """Where the sandbox keeps its data when no path is given: the platform's user data directory."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_DIR_NAME / DB_FILE_NAME


def to_micros(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact, unlike float seconds)."""
    # Exact: timedelta // timedelta is integer arithmetic (and an aware difference ignores offsets).
    return (moment - _EPOCH) // _MICROSECOND


def format_micros(micros: int) -> str:
    """RFC 3339 in UTC with a Z; fractional seconds only when there are any."""
    seconds, fraction = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:06d}Z" if fraction else f"{text}Z"


# One events row in column order: event_id, business_id, customer_id, event_name, ts, metadata JSON.
EventRow = tuple[str, str, str, str, int, "str | None"]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def encode_metadata(metadata: dict[str, Any] | None) -> str | None:
    """Metadata as the compact JSON text stored in the metadata column.

    api.json_bytes' encoder: compact, UTF-8 as is, floats as repr (json.loads reads back the same
    values and types), and many times faster than the json module's per call.
    """
    return None if metadata is None else json_bytes.dumps(metadata).decode()


@dataclass(frozen=True)
class StoredEvent:
    """An event row ready to insert: validated, timestamp resolved."""

    event_id: str
    customer_id: str
    event_name: str
    ts: int
    metadata: dict[str, Any] | None


@dataclass(frozen=True)
class EventQuery:
    customer_id: str | None = None
    event_name: str | None = None
    start: int | None = None  # inclusive, microseconds
    end: int | None = None  # inclusive, microseconds
    meter_filter: MeterFilter | None = None
    limit: int = 10
    offset: int = 0


class SandboxStore:
    """The sandbox's events and meters in one SQLite database."""

    def __init__(self, path: str | os.PathLike[str], *, business_id: str = DEFAULT_BUSINESS_ID) -> None:
        self.path = str(path)
        self.business_id = business_id
        self._memory = self.path == MEMORY
        if not self._memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.RLock()  # guards _connections, and every use of the shared :memory: connection
        self._shared: sqlite3.Connection | None = None
        # The one connection every write goes through, one thread at a time (see the module's docstring).
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        # Meter filters run as SQL where they translate (see meter_sql.to_sql); False runs every
        # filter in Python, row by row (the tests compare the two).
        self.sql_filters = True
        with self._connection() as conn:
            conn.executescript(_SCHEMA)

    # Connections.

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we say BEGIN when we mean it.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.create_function(SQL_COMPARE_FUNCTION, 3, sql_compare, deterministic=True)
        if not self._memory:
            conn.execute("PRAGMA journal_mode = WAL")
            # Durable at checkpoints, not every commit: right for a local sandbox, and much faster.
            # (A crash of the machine may lose the last commits; a crash of the process loses nothing.)
            conn.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint every ~40 MB of WAL instead of SQLite's 4 MB: a batch of 1000 events with
            # scattered timestamps dirties a page per event in each index, so the default checkpoints
            # (copy back and fsync) after nearly every batch, which cost 4x the inserts themselves.
            # journal_size_limit truncates the WAL back after a checkpoint.
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            conn.execute("PRAGMA journal_size_limit = 67108864")
        # A 64 MiB page cache per connection: with a million events the four b-trees outgrow
        # SQLite's 2 MiB default and every ingest would go to disk for index pages.
        conn.execute("PRAGMA cache_size = -65536")
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if self._memory:
            with self._lock:
                if self._shared is None:
                    self._shared = self._connect()
                yield self._shared
            return
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        yield conn

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        if self._memory:
            with self._connection() as shared:
                yield shared
            return
        with self._write_lock:
            if self._writer is None:
                self._writer = self._connect()
            yield self._writer

    def close(self) -> None:
        with self._write_lock, self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
            self._shared = self._writer = None
        self._local = threading.local()

    def journal_mode(self) -> str:
        with self._connection() as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])

    # Events.

    def ingest(self, events: Sequence[StoredEvent]) -> int:
        """Insert the events in one transaction, ignoring known event_ids. Returns how many were new."""
        business_id = self.business_id
        return self.ingest_rows(
            [(e.event_id, business_id, e.customer_id, e.event_name, e.ts, encode_metadata(e.metadata)) for e in events]
        )

    def ingest_rows(self, rows: Sequence[EventRow]) -> int:
        """`ingest` for rows already in column order (see EventRow). Returns how many were new."""
        with self._writing() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.total_changes
                # Not INSERT OR IGNORE: that would also silently drop rows breaking NOT NULL.
                # Only a known event_id is to be ignored.
                conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING", rows)
                inserted = conn.total_changes - before
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return inserted

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        with self._connection() as conn:
            row = conn.execute("SELECT * FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return None if row is None else _event(row)

    def filter_sql(self, query: EventQuery) -> tuple[str, list[Any]] | None:
        """The query's meter filter as SQL, or None when there is none or it must run in Python."""
        if query.meter_filter is None or not self.sql_filters or not _SQLITE_HAS_JSON_ARROW:
            return None
        return to_sql(query.meter_filter)

    def event_sql(self, query: EventQuery) -> tuple[str, list[Any]]:
        """The SELECT for a query, without paging (exposed so tests can EXPLAIN it).

        It includes the meter filter when that translates to SQL (see filter_sql), else the caller
        applies the filter in Python.
        """
        where: list[str] = []
        params: list[Any] = []
        translated = self.filter_sql(query)
        if translated is not None:
            where.append(translated[0])
            params.extend(translated[1])
        for column, value in (("customer_id", query.customer_id), ("event_name", query.event_name)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.start is not None:
            where.append("ts >= ?")
            params.append(query.start)
        if query.end is not None:
            where.append("ts <= ?")
            params.append(query.end)
        sql = "SELECT * FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql + " ORDER BY ts DESC, event_id", params

    def list_events(self, query: EventQuery) -> list[dict[str, Any]]:
        sql, params = self.event_sql(query)
        with self._connection() as conn:
            if query.meter_filter is None or self.filter_sql(query) is not None:
                rows = conn.execute(sql + " LIMIT ? OFFSET ?", [*params, query.limit, query.offset]).fetchall()
                return [_event(row) for row in rows]
            # The filter runs in Python (the one engine); one SELECT is one snapshot, read in chunks.
            cursor = conn.execute(sql, params)
            skip = query.offset
            page: list[dict[str, Any]] = []
            try:
                while len(page) < query.limit:
                    chunk = cursor.fetchmany(_FILTER_FETCH)
                    if not chunk:
                        break
                    for row in chunk:
                        metadata = None if row[5] is None else json.loads(row[5])
                        if not evaluate(query.meter_filter, metadata):
                            continue
                        if skip:
                            skip -= 1
                            continue
                        page.append(_event(row, metadata))
                        if len(page) == query.limit:
                            break
            finally:
                cursor.close()
            return page

    def count_events(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def explain(self, sql: str, params: Sequence[Any]) -> list[str]:
        """EXPLAIN QUERY PLAN details, one line per step."""
        with self._connection() as conn:
            return [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]

    # Meters.

    def add_meter(self, meter: Meter) -> None:
        with self._writing() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM meters").fetchone()[0]
                conn.execute(
                    "INSERT INTO meters (id, seq, archived, body) VALUES (?, ?, 0, ?)",
                    (meter.id, seq, meter.model_dump_json()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def get_meter(self, meter_id: str) -> tuple[Meter, bool] | None:
        """The meter and whether it is archived, or None."""
        with self._connection() as conn:
            row = conn.execute("SELECT body, archived FROM meters WHERE id = ?", (meter_id,)).fetchone()
        return None if row is None else (Meter.model_validate_json(row[0]), bool(row[1]))

    def list_meters(self, *, archived: bool, limit: int, offset: int) -> list[Meter]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT body FROM meters WHERE archived = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
                (int(archived), limit, offset),
            ).fetchall()
        return [Meter.model_validate_json(row[0]) for row in rows]

    def set_meter_archived(self, meter_id: str, archived: bool, updated_at: str) -> bool:
        """Archive or unarchive a meter. False when there is no such meter."""
        found = self.get_meter(meter_id)
        if found is None:
            return False
        body = found[0].model_copy(update={"updated_at": updated_at}).model_dump_json()
        with self._writing() as conn:
            conn.execute("UPDATE meters SET archived = ?, body = ? WHERE id = ?", (int(archived), body, meter_id))
        return True

    def period_metadatas(self, customer_id: str, meter: Meter, start: int, end: int) -> list[dict[str, Any] | None]:
        """The metadata of `customer_id`'s events that `meter` counts with start <= ts < end (µs), oldest first.

        The filter runs in Python, with the meter engine itself: a bill must be exactly its rules."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT metadata FROM events WHERE customer_id = ? AND event_name = ? AND ts >= ? AND ts < ? "
                "ORDER BY ts, event_id",
                (customer_id, meter.event_name, start, end),
            ).fetchall()
        metadatas = [None if row[0] is None else json.loads(row[0]) for row in rows]
        return [m for m in metadatas if evaluate(meter.filter, m)]

    # Products and subscriptions (the subset sandbox.billing simulates), kept as JSON documents.

    def add_product(self, product_id: str, body: dict[str, Any]) -> None:
        with self._writing() as conn:
            conn.execute("INSERT INTO products (id, body) VALUES (?, ?)", (product_id, to_json(body).decode()))

    def get_product(self, product_id: str) -> dict[str, Any] | None:
        with self._connection() as conn:
            row = conn.execute("SELECT body FROM products WHERE id = ?", (product_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def add_subscription(self, subscription_id: str, customer_id: str, body: dict[str, Any]) -> None:
        with self._writing() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM subscriptions").fetchone()[0]
                conn.execute(
                    "INSERT INTO subscriptions (id, seq, customer_id, body) VALUES (?, ?, ?, ?)",
                    (subscription_id, seq, customer_id, to_json(body).decode()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def get_subscription(self, subscription_id: str) -> dict[str, Any] | None:
        with self._connection() as conn:
            row = conn.execute("SELECT body FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def list_subscriptions(self, *, customer_id: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        """Subscriptions newest first, optionally one customer's."""
        where, params = ("WHERE customer_id = ?", [customer_id]) if customer_id is not None else ("", [])
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT body FROM subscriptions {where} ORDER BY seq DESC LIMIT ? OFFSET ?", [*params, limit, offset]
            ).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    # Housekeeping.

    def reset(self) -> None:
        """Delete every event, meter, product and subscription."""
        with self._writing() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM events")
                conn.execute("DELETE FROM meters")
                conn.execute("DELETE FROM products")
                conn.execute("DELETE FROM subscriptions")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise


def _event(row: Sequence[Any], metadata: Any = ...) -> dict[str, Any]:
    event_id, business_id, customer_id, event_name, ts, raw = row
    return {
        "business_id": business_id,
        "customer_id": customer_id,
        "event_id": event_id,
        "event_name": event_name,
        "timestamp": format_micros(ts),
        "metadata": (None if raw is None else json.loads(raw)) if metadata is ... else metadata,
    }


def open_store(path: str | os.PathLike[str] | None = None, *, business_id: str = DEFAULT_BUSINESS_ID) -> SandboxStore:
    """Open (creating if needed) the sandbox database at `path`, the default location, or ":memory:"."""
    return SandboxStore(default_db_path() if path is None else path, business_id=business_id)
