"""`dodo-mcp --sandbox` through a real MCP client over stdio, and `dodo-mcp sandbox serve|reset`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from dodo_mcp.api.timestamps import format_timestamp
from dodo_mcp.cli.parser import FAULT_KINDS_TEXT
from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, open_store
from dodo_mcp.sandbox.faults import FAULT_KINDS
from tests.conftest import counts, ingest_counts

REAL_KEY = "sk_live_must_not_reach_the_sandbox"


def env() -> dict[str, str]:
    base = {name: os.environ[name] for name in ("PATH", "HOME", "TMPDIR") if name in os.environ}
    base["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    base["DODO_PAYMENTS_API_KEY"] = REAL_KEY
    return base


@asynccontextmanager
async def sandbox_session(db: Path) -> AsyncIterator[tuple[Client, Any]]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "dodo_mcp", "--sandbox", "--sandbox-db", str(db)], env=env()
    )
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:  # type: ignore[arg-type]
            yield client, errlog


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert block.type == "text"
    return block.text


@pytest.mark.anyio
async def test_the_three_tools_work_against_the_sandbox_over_stdio(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    store = open_store(db)  # a meter to list by; the server opens the same file
    from dodo_mcp.api.meters import Meter

    stamp = format_timestamp(datetime.now(timezone.utc) - timedelta(minutes=1))
    meter = Meter.model_validate(
        {
            "id": "mtr_test",
            "business_id": "bus_sandbox",
            "name": "premium",
            "event_name": "api_request",
            "measurement_unit": "calls",
            "aggregation": {"type": "count"},
            "filter": {"conjunction": "and", "clauses": [{"key": "plan", "operator": "equals", "value": "premium"}]},
            "created_at": stamp,
            "updated_at": stamp,
        }
    )
    store.add_meter(meter)
    store.close()

    events: list[dict[str, Any]] = [
        {"event_id": "a/1", "customer_id": "cus_1", "event_name": "api_request", "metadata": {"plan": "premium"}},
        {"event_id": "b/2", "customer_id": "cus_1", "event_name": "api_request", "metadata": {"plan": "free"}},
        {"event_id": "c/3", "customer_id": "cus_2", "event_name": "other", "timestamp": stamp},
    ]
    async with sandbox_session(db) as (client, errlog):
        ingested = await client.call_tool("ingest_events", {"events": events})
        assert not ingested.is_error, text(ingested)
        assert counts(ingested.structured_content) == ingest_counts(submitted=3, ingested=3)

        again = await client.call_tool("ingest_events", {"events": events})
        assert counts(again.structured_content) == ingest_counts(submitted=3, ingested=0, ignored=3)

        got = await client.call_tool("retrieve_event", {"event_id": "a/1"})
        assert got.structured_content is not None
        assert {k: got.structured_content[k] for k in ("event_id", "business_id", "metadata")} == {
            "event_id": "a/1",
            "business_id": "bus_sandbox",
            "metadata": {"plan": "premium"},
        }

        listed = await client.call_tool("list_events", {"customer_id": "cus_1", "page_size": 1})
        assert listed.structured_content is not None
        assert [e["event_id"] for e in listed.structured_content["items"]] == ["a/1"]  # same time: by event_id
        assert listed.structured_content["next_page_number"] == 1

        by_meter = await client.call_tool("list_events", {"meter_id": "mtr_test"})
        assert by_meter.structured_content is not None
        assert [e["event_id"] for e in by_meter.structured_content["items"]] == ["a/1"]

        unknown = await client.call_tool("list_events", {"meter_id": "mtr_nope"})
        assert unknown.is_error
        assert text(unknown).startswith("Dodo API error 404 NOT_FOUND: Meter not found.")

        missing = await client.call_tool("retrieve_event", {"event_id": "nope"})
        assert missing.is_error
        assert text(missing).startswith("Dodo API error 404 NOT_FOUND: Event not found.")

        duplicate = await client.call_tool("ingest_events", {"events": [events[0], events[0]]})
        # The tool checks every rule before sending (the same models the sandbox enforces).
        assert duplicate.is_error
        assert "- events[1] (event_id 'a/1') repeats the event_id of events[0]" in text(duplicate)

        stale = dict(
            events[0], event_id="stale", timestamp=format_timestamp(datetime.now(timezone.utc) - timedelta(hours=2))
        )
        rejected = await client.call_tool("ingest_events", {"events": [stale]})
        assert rejected.is_error
        assert "- events[0] (event_id 'stale').timestamp is more than 1 hour in the past" in text(rejected)

        wide = dict(events[0], event_id="wide", metadata={f"k{i}": i for i in range(51)})
        rejected = await client.call_tool("ingest_events", {"events": [wide]})
        assert rejected.is_error
        assert "- events[0] (event_id 'wide').metadata may have at most 50 keys (got 51)" in text(rejected)

        errlog.seek(0)
        stderr = errlog.read()
    assert "the local dodo-mcp sandbox (no real Dodo account or money involved)" in stderr
    assert f"sandbox database: {db}" in stderr
    assert REAL_KEY not in stderr
    # Nothing that was rejected reached the store.
    reopened = open_store(db)
    assert reopened.count_events() == 3
    reopened.close()


def test_serve_subprocess_speaks_dodos_http_and_reset_empties_it(tmp_path: Path) -> None:
    db = tmp_path / "served.sqlite3"
    command = [sys.executable, "-m", "dodo_mcp", "sandbox", "serve", "--port", "0", "--db", str(db)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), text=True)
    try:
        assert process.stderr is not None
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            found = re.search(r"dodo-mcp sandbox listening on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url is not None
        headers = {"Authorization": f"Bearer {DEFAULT_SANDBOX_API_KEY}"}
        with httpx2.Client(base_url=url, headers=headers, timeout=10) as client:
            body = {"events": [{"event_id": "x%y", "customer_id": "c", "event_name": "n"}]}
            assert client.post("/events/ingest", json=body).json() == {"ingested_count": 1}
            assert client.get("/events/x%25y").json()["event_id"] == "x%y"
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert out == ""  # stdout stays silent: every log line goes to stderr
    reset = subprocess.run(
        [sys.executable, "-m", "dodo_mcp", "sandbox", "reset", "--db", str(db)],
        env=env(),
        capture_output=True,
        timeout=30,
    )
    assert reset.returncode == 0
    store = open_store(db)
    assert store.count_events() == 0
    store.close()


def test_plain_start_imports_neither_the_sandbox_nor_sqlite3() -> None:
    code = (
        "import sys, json; import dodo_mcp.cli as c; import dodo_mcp.server; c.build_parser().format_help(); "
        "print(json.dumps(['dodo_mcp.sandbox' in sys.modules, 'sqlite3' in sys.modules, 'uvicorn' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env())
    assert json.loads(out.stdout)[:2] == [False, False]


def test_help_and_version_still_work_and_name_the_default_key() -> None:
    # The parser spells the fault kinds out so that --help does not import the sandbox.
    assert ", ".join(FAULT_KINDS) == FAULT_KINDS_TEXT
    run = dodo_mcp_cli("--help")
    assert run.returncode == 0 and "--sandbox" in run.stdout and "--sandbox-db" in run.stdout
    run = dodo_mcp_cli("sandbox", "serve", "--help")
    assert run.returncode == 0 and DEFAULT_SANDBOX_API_KEY in run.stdout
    run = dodo_mcp_cli("--version")
    assert run.stdout.strip().startswith("dodo-mcp ")


def dodo_mcp_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m dodo_mcp ARGS`, run to the end."""
    return subprocess.run(
        [sys.executable, "-m", "dodo_mcp", *args], capture_output=True, text=True, timeout=60, env=env()
    )


def test_sandbox_and_base_url_exclude_each_other() -> None:
    run = dodo_mcp_cli("--sandbox", "--base-url", "http://127.0.0.1:1")
    assert run.returncode == 2
    assert "--sandbox and --base-url exclude each other" in run.stderr
