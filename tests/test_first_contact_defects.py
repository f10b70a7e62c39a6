"""What a first-time user meets, through the real CLI: the sandbox's key line, the startup line, the live-mode
warning, the sandbox commands' flag names and `dodo-mcp demo`.

Each test runs `python -m dodo_mcp ...` as a process: a server on stdio with stdin closed (it logs its
startup and exits at EOF), or `sandbox serve` on a free loopback port, read until it says where it listens.
"""

from __future__ import annotations

import io
import json
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx2
import pytest

from dodo_mcp.demo import run_demo
from dodo_mcp.logs import RedactSecrets
from dodo_mcp.sandbox import open_store
from dodo_mcp.sandbox.store import StoredEvent
from tests.conftest import API_KEY, CAPTURED, server_env

# How long a spawned command may take to start (or run to its end): a bound, never an assertion.
START_TIMEOUT_S = 60
# A log line's timestamp, left out so that lines compare exactly.
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.M)
VERSION_LINE = "INFO dodo_mcp: dodo-mcp 0.1.0: "
TEST_MODE = "Dodo Payments test_mode at https://test.dodopayments.com"
LIVE_MODE = "Dodo Payments live_mode at https://live.dodopayments.com"
SANDBOX = "the local dodo-mcp sandbox (no real Dodo account or money involved)"
# The demo's three events: (tokens, model), a minute apart, the newest first.
DEMO_USAGE = [(1200, "large"), (300, "small"), (950, "large")]
LIVE_WARNING = (
    "WARNING dodo_mcp: live_mode: ingest_events records real usage that Dodo bills your customers for. To look "
    "first, restart with --read-only (DODO_MCP_READ_ONLY=1), which serves only the tools that read, and allow "
    "ingest once the reads look right"
)
LIVE_READ_ONLY = (
    "WARNING dodo_mcp: live_mode: the tools read real, live usage events; ingest_events is not served, so nothing "
    "is recorded. Serve it (drop --read-only) only once the reads look right"
)


def cli(*args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """`python -m dodo_mcp ARGS` with stdin closed, run to its end; `env` overrides server_env()'s variables."""
    done = subprocess.run(
        [sys.executable, "-m", "dodo_mcp", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        env=server_env(**env),
    )
    CAPTURED.append(done.stderr)
    return done


def log_lines(stderr: str) -> list[str]:
    return TIMESTAMP.sub("", stderr).splitlines()


def server_lines(*args: str, **env: str | None) -> list[str]:
    """What a stdio server logs from its start to EOF on stdin (its stdout stays empty)."""
    done = cli(*args, **env)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr[-2000:]
    return log_lines(done.stderr)


@contextmanager
def serving_sandbox(*args: str, **env: str | None) -> Iterator[tuple[str, str]]:
    """`dodo-mcp sandbox serve --port 0 ARGS` running: its URL and the line saying where it listens."""
    command = [sys.executable, "-m", "dodo_mcp", "sandbox", "serve", "--port", "0", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env(**env), text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None

    def read() -> None:
        for line in process.stderr or ():
            lines.put(line)
        lines.put("")  # the end of stderr: the process has exited

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                line = ""
            if not line:
                pytest.fail(f"sandbox serve did not say where it listens: {seen}")
            seen.append(line)
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                break
        yield found.group(1), TIMESTAMP.sub("", line).rstrip("\n")
    finally:
        process.terminate()
        # The reader thread owns stderr until its end: communicate() would read and close it under the thread.
        process.wait(timeout=START_TIMEOUT_S)
        reader.join(timeout=START_TIMEOUT_S)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        CAPTURED.extend(seen)


def ingested(url: str, key: str) -> int:
    """The status of one ingest sent to a served sandbox with `key`."""
    body = {"events": [{"event_id": "e1", "customer_id": "cus_1", "event_name": "api_request"}]}
    with httpx2.Client(base_url=url, timeout=30) as http:
        return http.post("/events/ingest", json=body, headers={"Authorization": f"Bearer {key}"}).status_code


# 1. sandbox serve prints the key clients send; the redactor takes the secret and nothing after it


def test_sandbox_serve_prints_the_default_key_clients_send() -> None:
    with serving_sandbox("--db", ":memory:") as (url, line):
        assert line == (
            f"INFO dodo_mcp: dodo-mcp sandbox listening on {url} "
            "(database :memory:; clients send Authorization: Bearer sk_sandbox_local)"
        )
        assert ingested(url, "sk_sandbox_local") == 200


def test_sandbox_serve_prints_the_key_the_user_chose_and_only_that_key_works() -> None:
    with serving_sandbox("--db", ":memory:", DODO_MCP_SANDBOX_API_KEY="sk_mine_42") as (url, line):
        assert line.endswith("(database :memory:; clients send Authorization: Bearer sk_mine_42)")
        assert (ingested(url, "sk_mine_42"), ingested(url, "sk_sandbox_local")) == (200, 401)


def test_redaction_takes_the_secret_and_leaves_what_follows() -> None:
    redact = RedactSecrets([API_KEY], public=["sk_sandbox_local"]).redact
    assert [
        redact(f"calls use {API_KEY})."),
        redact("retrying (Authorization: Bearer tok_abc.def-123), attempt 2"),
        redact("headers {'authorization': 'Bearer tok_9', 'x-dodo-payments-api-key': 'sk_x.y'}"),
        redact("sent (cookie: sid=abc; theme=dark) and Set-Cookie=sid=def, done"),
        redact("clients send Authorization: Bearer sk_sandbox_local)"),
        redact('a bearer token is required; Bearer realm="dodo-mcp"'),
    ] == [
        "calls use [redacted]).",
        "retrying (Authorization: Bearer [redacted]), attempt 2",
        "headers {'authorization': 'Bearer [redacted]', 'x-dodo-payments-api-key': '[redacted]'}",
        "sent (cookie: [redacted]) and Set-Cookie=[redacted], done",
        "clients send Authorization: Bearer sk_sandbox_local)",
        'a bearer token is required; Bearer realm="dodo-mcp"',
    ]
    # A known secret stays redacted even when it is also named public.
    assert RedactSecrets([API_KEY], public=[API_KEY]).redact(f"Bearer {API_KEY})") == "Bearer [redacted])"


# 2. the startup line says "API key set" only for a real key


@pytest.mark.parametrize(
    ("key", "state"),
    [
        (API_KEY, "API key set"),
        ("sk_test_...", "DODO_PAYMENTS_API_KEY is the placeholder 'sk_test_...': replace it with your key"),
        ("<your key>", "DODO_PAYMENTS_API_KEY is the placeholder '<your key>': replace it with your key"),
        (None, "no API key: set DODO_PAYMENTS_API_KEY, every call will say so"),
    ],
)
def test_the_startup_line_says_a_key_is_set_only_for_a_real_key(key: str | None, state: str) -> None:
    assert server_lines(DODO_PAYMENTS_API_KEY=key)[0] == f"{VERSION_LINE}{TEST_MODE} ({state})"


def test_a_shortened_key_is_named_a_placeholder_and_never_printed() -> None:
    shortened = "sk_test_AbCdEf0123456789..."
    lines = server_lines(DODO_PAYMENTS_API_KEY=shortened)
    assert [line for line in lines if "AbCdEf" in line] == []
    assert lines[0] == (
        f"{VERSION_LINE}{TEST_MODE} (DODO_PAYMENTS_API_KEY ends in '...', a placeholder or a shortened key: "
        "replace it with your whole key)"
    )


def test_under_sandbox_the_startup_line_names_the_key_the_sandbox_accepts() -> None:
    sandbox = ("--sandbox", "--sandbox-db", ":memory:")
    assert server_lines(*sandbox, DODO_PAYMENTS_API_KEY=None)[:2] == [
        f"{VERSION_LINE}{SANDBOX} (no Dodo key is used; the sandbox accepts the key sk_sandbox_local)",
        "INFO dodo_mcp: sandbox database: :memory:",
    ]
    assert server_lines(*sandbox, "--sandbox-api-key", "sk_mine_42")[0] == (
        f"{VERSION_LINE}{SANDBOX} (no Dodo key is used, DODO_PAYMENTS_API_KEY is ignored; the sandbox accepts the "
        "key sk_mine_42)"
    )


# 3. live mode says so, with advice that depends on whether ingest_events is served


def test_live_mode_warns_that_ingest_records_billable_usage() -> None:
    assert server_lines(DODO_PAYMENTS_ENVIRONMENT="live_mode")[:2] == [
        f"{VERSION_LINE}{LIVE_MODE} (API key set)",
        LIVE_WARNING,
    ]
    assert server_lines("--environment", "live_mode", "--tools", "list_events,ingest_events")[1] == LIVE_WARNING


def test_live_mode_read_only_still_says_it_is_live() -> None:
    assert server_lines("--environment", "live_mode", "--read-only")[:2] == [
        f"{VERSION_LINE}{LIVE_MODE} (API key set)",
        LIVE_READ_ONLY,
    ]
    assert server_lines(DODO_PAYMENTS_ENVIRONMENT="live_mode", DODO_MCP_READ_ONLY="1")[1] == LIVE_READ_ONLY


def test_test_mode_and_the_sandbox_start_without_a_live_warning() -> None:
    assert [line for line in server_lines() if "live_mode" in line] == []
    sandboxed = server_lines("--sandbox", "--sandbox-db", ":memory:", DODO_PAYMENTS_ENVIRONMENT="live_mode")
    assert [line for line in sandboxed if "live_mode" in line] == []


# 4. the sandbox commands take the server's flag names, and their own first names as aliases


@pytest.mark.parametrize(
    "args",
    [
        ("sandbox", "reset", "--sandbox-db", "{db}"),
        ("sandbox", "reset", "--db", "{db}"),
        ("--sandbox-db", "{db}", "sandbox", "reset"),
    ],
    ids=["--sandbox-db", "--db", "--sandbox-db before the command"],
)
def test_sandbox_reset_takes_the_servers_flag_name_and_its_alias(tmp_path: Path, args: tuple[str, ...]) -> None:
    db = tmp_path / "sandbox.sqlite3"
    store = open_store(db)
    store.ingest([StoredEvent("e1", "cus_1", "api_request", ts=1_700_000_000_000_000, metadata=None)])
    assert store.count_events() == 1
    store.close()
    done = cli(*(arg.format(db=db) for arg in args))
    assert done.returncode == 0, done.stderr
    assert log_lines(done.stderr) == [f"INFO dodo_mcp: sandbox reset: deleted every event and meter in {db}"]
    store = open_store(db)
    assert store.count_events() == 0
    store.close()


def test_sandbox_serve_takes_the_servers_flag_names(tmp_path: Path) -> None:
    db = tmp_path / "served.sqlite3"
    with serving_sandbox("--sandbox-db", str(db), "--sandbox-api-key", "sk_mine_42") as (url, line):
        assert line.endswith(f"(database {db}; clients send Authorization: Bearer sk_mine_42)")
        assert ingested(url, "sk_mine_42") == 200
    with serving_sandbox("--db", str(db), "--api-key", "sk_old_name") as (url, line):
        assert line.endswith(f"(database {db}; clients send Authorization: Bearer sk_old_name)")
        assert ingested(url, "sk_old_name") == 200


def test_the_sandbox_commands_help_shows_both_names() -> None:
    def flags(command: str) -> list[str]:
        done = cli("sandbox", command, "--help", COLUMNS="120")
        assert done.returncode == 0
        return [line.strip() for line in done.stdout.splitlines() if line.startswith("  --") and ", --" in line]

    assert flags("serve") == ["--sandbox-db PATH, --db PATH", "--sandbox-api-key KEY, --api-key KEY"]
    assert flags("reset") == ["--sandbox-db PATH, --db PATH"]


# 7. the demo shows whole events, marks what it shortens, and prints compact ingest results


def demo_event(now: datetime, minutes_ago: int, tokens: int, model: str) -> dict[str, Any]:
    at = now - timedelta(minutes=minutes_ago)
    return {
        "event_id": f"cus_ada:api_request:{at:%H%M}",
        "customer_id": "cus_ada",
        "event_name": "api_request",
        "timestamp": f"{at:%Y-%m-%dT%H:%M:%SZ}",
        "metadata": {"tokens": tokens, "model": model},
    }


@pytest.mark.anyio
async def test_the_demo_shows_whole_events_and_compact_ingest_results() -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    out = io.StringIO()
    await run_demo(out, now=now)
    text = out.getvalue()
    CAPTURED.append(text)
    ingests = text.split("\n## Find the meters")[0].split("\n\n", 1)[1]
    # The one part the demo cannot know: the server's clock, named in the stale event's error.
    ingests = re.sub(r"\(now is [0-9TZ:-]+\)", "(now is NOW)", ingests)
    first, second, third = (demo_event(now, i, *usage) for i, usage in enumerate(DEMO_USAGE))
    stale = {**first, "event_id": "stale", "timestamp": f"{now - timedelta(hours=2):%Y-%m-%dT%H:%M:%S}+00:00"}
    crowded = {key: value for key, value in {**first, "event_id": "crowded"}.items() if key != "metadata"}
    # Each event whole on its line (json.dumps' separators are the demo's); the 51 metadata keys shortened.
    three = "".join(f"  events[{i}] {json.dumps(event)}\n" for i, event in enumerate([first, second, third]))
    shortened = '"metadata": {"k0": 0, "k1": 1, "k2": 2, \u2026 47 more \u2026, "k50": 50}}'
    assert ingests == (
        "## Record three usage events\n"
        "> ingest_events with 3 events:\n"
        f"{three}"
        '< {"submitted_count": 3, "ingested_count": 3, "ignored_count": 0, "unconfirmed_count": 0} '
        "(1 batch, confirmed at the first attempt)\n"
        "\n"
        "## Send the same events again: Dodo ignores event_ids it already has\n"
        "> ingest_events with 3 events:\n"
        f"{three}"
        '< {"submitted_count": 3, "ingested_count": 0, "ignored_count": 3, "unconfirmed_count": 0} '
        "(1 batch, confirmed at the first attempt)\n"
        "\n"
        "## Bad events are refused before anything is sent\n"
        "> ingest_events with 4 events:\n"
        f"  events[0] {json.dumps(first)}\n"
        f"  events[1] {json.dumps(first)}\n"
        f"  events[2] {json.dumps(stale)}\n"
        f"  events[3] {json.dumps(crowded)[:-1]}, {shortened}\n"
        "< error (isError: true):\n"
        "Invalid arguments (3 problems):\n"
        f"- events[1] (event_id '{first['event_id']}') repeats the event_id of events[0]; event_ids must be unique "
        "within a call (Dodo rejects the whole request otherwise)\n"
        "- events[2] (event_id 'stale').timestamp is more than 1 hour in the past (now is NOW); Dodo rejects it. "
        "Send a recent timestamp or omit it to use the current time\n"
        "- events[3] (event_id 'crowded').metadata may have at most 50 keys (got 51)\n"
        "Nothing was sent to Dodo and no event from this call was stored. Fix the problems above and call "
        "ingest_events again with all the events.\n"
    )
    # The 51 metadata keys are the only thing shortened, and the only "…" in the whole output.
    assert text.count("\u2026") == 2
    assert text.endswith("\nDone. Add `dodo-mcp --sandbox` to your MCP client to try it yourself (see README).\n")


def test_dodo_mcp_demo_runs_from_the_cli_and_stops_quietly_when_its_reader_does() -> None:
    """The README's first command, and the same piped into `head`: no traceback when the pipe closes early."""
    done = cli("demo")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(
        "dodo-mcp --sandbox is running; its tools: retrieve_event, list_events, ingest_events, summarize_events, "
        "explain_meter_match, list_meters, usage_history\n"
    )
    assert [line for line in done.stdout.splitlines() if line.startswith("## ")] == [
        "## Record three usage events",
        "## Send the same events again: Dodo ignores event_ids it already has",
        "## Bad events are refused before anything is sent",
        "## Find the meters, and their ids",
        "## List the customer's events, newest first",
        "## Next page",
        "## Only the events the meter counts (model = large)",
        "## Fetch one event by its id",
        "## Event ids are case-sensitive",
        "## How many tokens did the customer use, per model? (one call instead of paging)",
        "## Why doesn't the meter count this event?",
        "## What is the customer billed for it? (the first 1,000 tokens free, then half a cent each)",
    ]
    # The large model's 1,200 + 950 tokens, 1,000 of them free, the other 1,150 at half a cent.
    bill = done.stdout.split("## What is the customer billed")[1]
    assert '"consumed_units": "2150"' in bill and '"chargeable_units": "1150"' in bill and '"total_price": 575' in bill
    command = [sys.executable, "-m", "dodo_mcp", "demo"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env(), text=True)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("dodo-mcp --sandbox is running")
    process.stdout.close()  # what `head -1` does
    _, stderr = process.communicate(timeout=START_TIMEOUT_S)
    CAPTURED.append(stderr)
    assert (process.returncode, stderr) == (0, "")
