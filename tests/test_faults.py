"""Nothing lost, nothing double-counted: ingest through the SDK's client against a sandbox that fails on purpose,
served by a real uvicorn on 127.0.0.1 (so dropped connections are real ones)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, SandboxStore, create_app, open_store
from dodo_mcp.sandbox.faults import FaultInjector
from tests.conftest import Session, dodo_settings, tool_session
from tests.served_app import ServedApp

pytestmark = pytest.mark.anyio

TOTAL = 10_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SandboxStore]:
    opened = open_store(tmp_path / "faults.sqlite3")
    yield opened
    opened.close()


def stored_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT event_id FROM events")]


def events(count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{prefix}-{i:05d}",
            "customer_id": f"cus_{i % 13}",
            "event_name": "api_request",
            "metadata": {"n": i},
        }
        for i in range(count)
    ]


async def ingest_until_confirmed(session: Session, batch: list[dict[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """What a careful agent does: send, then re-send exactly the unconfirmed events."""
    reports = []
    pending = batch
    for _ in range(rounds):
        result = await session.call("ingest_events", {"events": pending})
        report = result.structured_content
        assert report is not None, result
        assert result.is_error == (report["unconfirmed_count"] > 0)
        reports.append(report)
        unconfirmed = set(report["unconfirmed_event_ids"])
        if not unconfirmed:
            break
        pending = [event for event in pending if event["event_id"] in unconfirmed]
    return reports


async def test_faults_within_the_retry_budget_lose_and_duplicate_nothing(store: SandboxStore, tmp_path: Path) -> None:
    app = FaultInjector(create_app(store), rate=0.3, seed=20261126, slow_s=0.3)
    sent = events(TOTAL, "within")
    with ServedApp(app) as served:
        settings = dodo_settings(served.url, api_key=SecretStr(DEFAULT_SANDBOX_API_KEY), max_retries=8, deadline_s=120)
        async with tool_session(settings) as session:
            reports = await ingest_until_confirmed(session, sent, rounds=3)

    ids = stored_ids(tmp_path / "faults.sqlite3")
    assert len(ids) == TOTAL and set(ids) == {e["event_id"] for e in sent}
    # Every event was confirmed exactly once across the calls, and the store agrees.
    confirmed = sum(r["submitted_count"] - r["unconfirmed_count"] for r in reports)
    assert confirmed == TOTAL
    # Each confirmed event is in exactly one count, and none claims what is unknown: the store was
    # empty, so nothing was "already there" before the first call.
    for r in reports:
        known = r["ingested_count"] + r["ignored_count"] + r["possibly_stored_by_earlier_attempt"]
        assert known == r["submitted_count"] - r["unconfirmed_count"], r
    assert reports[0]["ignored_count"] == 0
    # Only commit-then-503 makes a retry find its own events already stored.
    ingested = sum(r["ingested_count"] for r in reports)
    assert ingested <= TOTAL
    if not app.injected["commit-then-503"]:
        assert ingested == TOTAL
    assert sum(app.injected.values()) > 0
    print(
        f"faults within budget: sent {TOTAL}, stored {len(ids)}, duplicates {len(ids) - len(set(ids))}, "
        f"reported confirmed {confirmed} (ingested {ingested}, ignored {TOTAL - ingested}) "
        f"in {len(reports)} call(s); injected {dict(app.injected)}"
    )


async def test_faults_beyond_the_budget_name_exactly_the_unconfirmed_events(
    store: SandboxStore, tmp_path: Path
) -> None:
    # Faults that never commit, and no retries: what is unconfirmed is exactly what is missing.
    app = FaultInjector(create_app(store), rate=0.5, kinds=("503", "reset"), seed=7)
    sent = events(3000, "beyond")
    with ServedApp(app) as served:
        settings = dodo_settings(
            served.url, api_key=SecretStr(DEFAULT_SANDBOX_API_KEY), max_retries=0, ingest_batch_size=100
        )
        async with tool_session(settings) as session:
            first = await session.call("ingest_events", {"events": sent})
            report = first.structured_content
            assert report is not None and first.is_error
            unconfirmed = report["unconfirmed_event_ids"]
            assert 0 < len(unconfirmed) < len(sent)
            assert set(stored_ids(tmp_path / "faults.sqlite3")) == {e["event_id"] for e in sent} - set(unconfirmed)
            for batch in report["batches"]:
                assert batch["confirmed"] == (batch["error"] is None)
                assert batch["ingested_count"] == (batch["event_count"] if batch["confirmed"] else None)

            app.rate = 0.0
            resent = [e for e in sent if e["event_id"] in set(unconfirmed)]
            second = await session.call("ingest_events", {"events": resent})
    assert second.structured_content is not None
    assert second.structured_content["ingested_count"] == len(unconfirmed)
    assert second.structured_content["unconfirmed_count"] == 0
    ids = stored_ids(tmp_path / "faults.sqlite3")
    assert len(ids) == len(set(ids)) == len(sent)
    print(
        f"faults beyond budget: sent {len(sent)}, unconfirmed {len(unconfirmed)}, "
        f"stored after re-send {len(ids)}, duplicates 0; injected {dict(app.injected)}"
    )
