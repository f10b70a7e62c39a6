"""The SDK's client in both protocol eras driving every tool against `--sandbox` over real stdio, and
what a plain stdio server imports."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import counts, ingest_counts, server_env, stdio_session, text_of

SANDBOX_ARGS = ("--sandbox", "--sandbox-db", ":memory:")


def minutes_ago(minutes: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes)).isoformat(timespec="seconds")


def usage_events() -> list[dict[str, object]]:
    """Three events, a minute apart (Dodo accepts timestamps up to an hour old)."""
    return [
        {
            "event_id": "cus_7:api_request:1",
            "customer_id": "cus_7",
            "event_name": "api_request",
            "timestamp": minutes_ago(3),
            "metadata": {"tokens": 150},
        },
        {
            "event_id": "cus_7:api_request:2",
            "customer_id": "cus_7",
            "event_name": "api_request",
            "timestamp": minutes_ago(2),
            "metadata": {"tokens": 90},
        },
        {
            "event_id": "cus_8:upload:1",
            "customer_id": "cus_8",
            "event_name": "upload",
            "timestamp": minutes_ago(1),
            "metadata": {"bytes": 4096},
        },
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "protocol_version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_every_tool_over_stdio_in_both_protocol_eras(mode: str, protocol_version: str) -> None:
    events = usage_events()
    async with stdio_session(server_env(), *SANDBOX_ARGS, mode=mode) as session:
        assert session.client.protocol_version == protocol_version

        first = await session.call("ingest_events", {"events": events})
        assert not first.is_error
        assert counts(first.structured_content) == ingest_counts(submitted=3, ingested=3)
        again = await session.call("ingest_events", {"events": events[:1]})
        assert counts(again.structured_content) == ingest_counts(submitted=1, ingested=0, ignored=1)

        page = await session.call("list_events", {"customer_id": "cus_7", "page_size": 1})
        assert not page.is_error
        assert page.structured_content is not None
        assert [item["event_id"] for item in page.structured_content["items"]] == ["cus_7:api_request:2"]
        assert (page.structured_content["has_more"], page.structured_content["next_page_number"]) == (True, 1)
        last = await session.call("list_events", {"customer_id": "cus_7", "page_size": 1, "page_number": 2})
        assert last.structured_content is not None
        assert (last.structured_content["items"], last.structured_content["next_page_number"]) == ([], None)

        found = await session.call("retrieve_event", {"event_id": "cus_8:upload:1"})
        assert not found.is_error
        assert found.structured_content is not None
        event = found.structured_content
        assert (event["event_id"], event["customer_id"], event["event_name"], event["metadata"]) == (
            "cus_8:upload:1",
            "cus_8",
            "upload",
            {"bytes": 4096},
        )

        missing = await session.call("retrieve_event", {"event_id": "CUS_8:upload:1"})
        assert missing.is_error
        assert text_of(missing).startswith("Dodo API error 404 NOT_FOUND: Event not found.")
        bad = await session.call("list_events", {"page_size": 0})
        assert bad.is_error
        assert text_of(bad).startswith("Invalid arguments")


def imported_modules(importtime_stderr: str) -> set[str]:
    """The module names in `python -X importtime` output."""
    return {match[1] for match in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", importtime_stderr, re.M)}


def test_a_plain_stdio_server_imports_no_sandbox_sqlite_or_uvicorn_serving() -> None:
    """`dodo-mcp` (no --sandbox) up to EOF on stdin: the sandbox, sqlite3 and serving machinery stay unloaded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dodo_mcp"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == ""
    modules = imported_modules(done.stderr)
    assert {"dodo_mcp.cli", "dodo_mcp.server", "dodo_mcp.tools", "mcp.server.mcpserver"} <= modules
    assert "dodo-mcp 0.1.0: Dodo Payments test_mode at https://test.dodopayments.com (API key set)" in done.stderr
    assert sorted(m for m in modules if m == "dodo_mcp.sandbox" or m.startswith("dodo_mcp.sandbox.")) == []
    assert sorted(m for m in modules if m in ("sqlite3", "_sqlite3") or m.startswith("sqlite3.")) == []
    # The SDK itself imports uvicorn's config and server modules; what serving loads must not be there.
    serving = ("uvicorn.protocols", "uvicorn.loops", "uvicorn.lifespan")
    assert sorted(m for m in modules if m.startswith(serving)) == []
