"""The MCP App view (issue 16): summarize_events and usage_history results drawn in the chat by a host.

Through a real MCP client: the ui:// resource is listed and read, the tools' _meta points at it, and a
client that does not negotiate the extension gets exactly the same results. In a real browser (Debian's
Chromium, driven by puppeteer-core through app/host/drive.mjs): the official MCP Apps host bridge
(AppBridge) renders the view in a sandboxed iframe and hands it REAL summarize_events and usage_history
results from the sandbox; the test reads back what uPlot drew and compares it with the data, and checks that
the screenshot is not blank, that no request left the page and that nothing was logged as an error.

`DODO_MCP_UPDATE_SCREENSHOTS=1 python -m pytest tests/test_usage_app.py` rewrites the README's screenshots
(docs/usage-*.png) from the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.extension import advertise

from dodo_mcp.sandbox import create_app, open_store, sandbox_backend
from dodo_mcp.sandbox.store import StoredEvent, to_micros
from dodo_mcp.server import build_server
from tests.conftest import dodo_settings, need_part
from tests.test_usage_history import billing_session, seed

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
DOCS = ROOT / "docs"
VIEW_URI = "ui://dodo/usage"
APP_MIME = "text/html;profile=mcp-app"
APPS = "io.modelcontextprotocol/ui"
UPDATE_SCREENSHOTS = "DODO_MCP_UPDATE_SCREENSHOTS"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

UTC = timezone.utc
# Six hours of two customers' requests, at fixed times, so the screenshots never change.
START = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
HOURS = 6
CUSTOMERS = {"cus_42": (120, 35), "cus_7": (60, 15)}
MODELS = ("large", "small", "medium")

# What two hosts would send as hostContext (the spec's standard variable names, a subset as hosts do).
LIGHT: dict[str, Any] = {
    "theme": "light",
    "styles": {
        "variables": {
            "--color-background-primary": "#faf9f5",
            "--color-text-primary": "#141413",
            "--color-text-secondary": "#5e5d59",
            "--color-border-secondary": "#dedcd1",
            "--font-sans": "'DejaVu Sans', sans-serif",
        }
    },
}
DARK: dict[str, Any] = {
    "theme": "dark",
    "styles": {
        "variables": {
            "--color-background-primary": "#262624",
            "--color-text-primary": "#f5f4ef",
            "--color-text-secondary": "#b7b5a9",
            "--color-border-secondary": "#3e3e38",
            "--font-sans": "'DejaVu Sans', sans-serif",
        }
    },
}


def rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


# 1. Through a real MCP client: the resource, the link, and results unchanged


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_view_is_listed_read_and_linked_from_its_tools(mode: str) -> None:
    server = build_server(dodo_settings("http://127.0.0.1:9"))
    async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
        listed = await client.list_resources()
        read = await client.read_resource(VIEW_URI)
        tools = {tool.name: tool.meta for tool in (await client.list_tools()).tools}
    [resource] = listed.resources
    assert (str(resource.uri), resource.name, resource.title, resource.mime_type) == (
        VIEW_URI,
        "usage",
        "Usage chart",
        APP_MIME,
    )
    assert resource.description == (
        "Draws summarize_events (per hour or day: a time series; else sorted bars) and usage_history "
        "(free and chargeable units per billing period)."
    )
    [content] = read.contents
    assert (str(content.uri), content.mime_type) == (VIEW_URI, APP_MIME)
    assert content.text == (ROOT / "dodo_mcp" / "ui" / "usage.html").read_text(encoding="utf-8")  # type: ignore[union-attr]
    # Only the two tools it draws point at it.
    assert {name: meta for name, meta in tools.items() if meta} == {
        "summarize_events": {"ui": {"resourceUri": VIEW_URI}},
        "usage_history": {"ui": {"resourceUri": VIEW_URI}},
    }


async def test_without_the_tools_it_draws_there_is_no_view() -> None:
    server = build_server(dodo_settings("http://127.0.0.1:9"), tools=["list_events", "ingest_events"])
    async with Client(server) as client:  # type: ignore[arg-type]
        capabilities = client.server_capabilities.model_dump(by_alias=True, exclude_none=True, mode="json")
        assert (await client.list_resources()).resources == []
    assert "resources" not in capabilities
    assert "extensions" not in capabilities


def seeded_store(db: Path) -> None:
    """Two customers' requests over six hours, each with a model and a token count."""
    store = open_store(db)
    events = []
    for customer, (base, step) in CUSTOMERS.items():
        for hour in range(HOURS):
            for minute in range(0, 60, 20):
                moment = START + timedelta(hours=hour, minutes=minute)
                tokens = base + step * hour + minute
                model = MODELS[(hour + minute // 20) % len(MODELS)]
                events.append(
                    StoredEvent(
                        f"{customer}:{moment.isoformat()}",
                        customer,
                        "api_request",
                        to_micros(moment),
                        {"tokens_used": tokens, "model": model},
                    )
                )
    # One lone event of another customer, and 100 customers with one to 50 events each (two of each count).
    events.append(StoredEvent("lone", "cus_lone", "signup", to_micros(START), {"tokens_used": 7}))
    for number in range(100):
        for index in range(number // 2 + 1):
            moment = START + timedelta(minutes=index % 60)
            events.append(
                StoredEvent(f"many:{number}:{index}", f"cus_m{number:03d}", "page_view", to_micros(moment), None)
            )
    try:
        store.ingest(events)
    finally:
        store.close()


def expected_hourly_tokens() -> dict[str, dict[int, int]]:
    """The sum of tokens_used per customer and hour, computed from the seed, not from the tool."""
    sums: dict[str, dict[int, int]] = defaultdict(dict)
    for customer, (base, step) in CUSTOMERS.items():
        for hour in range(HOURS):
            bucket = int((START + timedelta(hours=hour)).timestamp())
            sums[customer][bucket] = sum(base + step * hour + minute for minute in range(0, 60, 20))
    return sums


async def sandbox_on(db: Path) -> Any:
    store = open_store(db)
    settings, _ = sandbox_backend(dodo_settings(), store)
    return store, settings, httpx2.ASGITransport(app=create_app(store))


WINDOW = {
    "start": START.isoformat().replace("+00:00", "Z"),
    "end": (START + timedelta(hours=HOURS)).isoformat().replace("+00:00", "Z"),
}
HOURLY = {
    **WINDOW,
    "event_name": "api_request",
    "group_by": ["hour", "customer_id"],
    "aggregation": {"type": "sum", "key": "tokens_used"},
}
CASES: dict[str, dict[str, Any]] = {
    "hourly": HOURLY,
    "by_model": {
        **WINDOW,
        "event_name": "api_request",
        "group_by": ["metadata.model"],
        "aggregation": {"type": "sum", "key": "tokens_used"},
    },
    "empty": {**WINDOW, "customer_id": "cus_nobody", "group_by": ["day"]},
    "single": {**WINDOW, "customer_id": "cus_lone", "group_by": ["day"]},
    "hundred": {**WINDOW, "event_name": "page_view", "group_by": ["customer_id"], "max_events": 5000},
    "incomplete": {**HOURLY, "max_events": 10},
}


async def summaries(db: Path, extensions: list[Any] | None = None) -> dict[str, Any]:
    """Each case's summarize_events result, as the client saw it (text and structuredContent)."""
    store, settings, transport = await sandbox_on(db)
    try:
        server = build_server(settings, transport=transport)
        async with Client(server, extensions=extensions) as client:  # type: ignore[arg-type]
            results = {name: await client.call_tool("summarize_events", arguments) for name, arguments in CASES.items()}
    finally:
        store.close()
    return {name: result.model_dump(by_alias=True, exclude_none=True, mode="json") for name, result in results.items()}


async def test_a_client_that_negotiates_apps_gets_exactly_the_same_results(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    seeded_store(db)
    plain = await summaries(db)
    apps = await summaries(db, [advertise(APPS, {"mimeTypes": [APP_MIME]})])
    assert apps == plain
    # And the text is the structuredContent's compact form, as the README says: nothing of the view in it.
    for result in plain.values():
        assert result.get("isError") is not True
        assert "ui://" not in json.dumps(result)


# 2. In a real browser


def need_browser() -> None:
    need_part("Node", shutil.which("node") is not None, "apt-get install nodejs")
    need_part(f"Chromium at {CHROMIUM}", Path(CHROMIUM).exists(), "apt-get install chromium, or set CHROMIUM")
    need_part(
        "app/'s npm packages (puppeteer-core, esbuild, ext-apps)",
        (APP / "node_modules" / "puppeteer-core").is_dir() and (APP / "node_modules" / "esbuild").is_dir(),
        "cd app && npm ci",
    )


def drive(html: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Run app/host/drive.mjs on `cases`; its report."""
    done = subprocess.run(
        ["node", str(APP / "host" / "drive.mjs")],
        input=json.dumps({"html": html, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def screenshot(name: str) -> str | None:
    return str(DOCS / f"usage-{name}.png") if os.environ.get(UPDATE_SCREENSHOTS) == "1" else None


def points(chart: dict[str, Any]) -> dict[str, dict[Any, Any]]:
    """A drawn chart's points: each series' label to {x: y}, from uPlot's own data."""
    x, *columns = chart["data"]
    labels = chart["series"][1:]
    return {label: dict(zip(x, column, strict=True)) for label, column in zip(labels, columns, strict=True)}


def hourly_points(structured: dict[str, Any]) -> dict[str, dict[int, Any]]:
    """The points a time series of `structured` must draw: per customer, hour (epoch seconds) to value."""
    drawn: dict[str, dict[int, Any]] = defaultdict(dict)
    for group in structured["groups"]:
        bucket = int(datetime.fromisoformat(group["key"]["hour"].replace("Z", "+00:00")).timestamp())
        drawn[group["key"]["customer_id"]][bucket] = group["value"]
    # Every series spans every bucket drawn; a customer without events in one has a gap (null) there.
    buckets = {bucket for line in drawn.values() for bucket in line}
    return {label: {b: line.get(b) for b in sorted(buckets)} for label, line in drawn.items()}


@pytest.mark.slow
async def test_the_view_draws_real_results_in_headless_chromium(tmp_path: Path) -> None:
    need_browser()
    db = tmp_path / "sandbox.sqlite3"
    seeded_store(db)
    results = await summaries(db, [advertise(APPS, {"mimeTypes": [APP_MIME]})])
    history_db = tmp_path / "billing.sqlite3"
    seeded = await seed(history_db)
    async with billing_session(history_db) as session:
        history = (await session.call("usage_history", {"subscription_id": seeded.subscription_id})).model_dump(
            by_alias=True, exclude_none=True, mode="json"
        )
        html = (await session.client.read_resource(VIEW_URI)).contents[0].text  # type: ignore[union-attr]

    cases = [
        {
            "name": "light",
            "toolInput": CASES["hourly"],
            "toolResult": results["hourly"],
            "hostContext": LIGHT,
            "scale": 2,
            "screenshot": screenshot("light"),
        },
        # Dark: drawn light first, then the host switches theme (host-context-changed), as a user would.
        {
            "name": "dark",
            "toolInput": CASES["hourly"],
            "toolResult": results["hourly"],
            "hostContext": LIGHT,
            "then": DARK,
            "scale": 2,
            "screenshot": screenshot("dark"),
        },
        {"name": "by_model", "toolInput": CASES["by_model"], "toolResult": results["by_model"], "hostContext": LIGHT},
        {"name": "empty", "toolInput": CASES["empty"], "toolResult": results["empty"], "hostContext": DARK},
        {"name": "single", "toolInput": CASES["single"], "toolResult": results["single"], "hostContext": LIGHT},
        {
            "name": "hundred",
            "toolInput": CASES["hundred"],
            "toolResult": results["hundred"],
            "hostContext": LIGHT,
            "width": 480,
        },
        {
            "name": "incomplete",
            "toolInput": CASES["incomplete"],
            "toolResult": results["incomplete"],
            "hostContext": LIGHT,
            "scale": 2,
            "screenshot": screenshot("incomplete"),
        },
        {
            "name": "history",
            "toolInput": {"subscription_id": seeded.subscription_id},
            "toolResult": history,
            "hostContext": DARK,
            "scale": 2,
            "screenshot": screenshot("history"),
        },
    ]
    report = drive(html, cases)
    drawn = {case["name"]: case for case in report["cases"]}

    # Nothing left the page, nothing was logged as an error or a warning, by the view or the host.
    assert report["requests"] == []
    assert report["console"] == []
    for name, case in drawn.items():
        assert case["ink"]["inked"] > 0.01, f"{name}: the screenshot is blank"
        assert case["ink"]["colours"] > 20, name
        assert case["sizes"], f"{name}: the view never told the host its size"

    # The hourly series: exactly the tool's points, which are the seed's own sums.
    hourly = results["hourly"]["structuredContent"]
    for name in ("light", "dark"):
        [chart] = drawn[name]["charts"]
        assert (chart["kind"], chart["title"], chart["unit"]) == (
            "time",
            "Sum of tokens_used per hour by customer_id",
            "tokens_used",
        )
        assert chart["series"] == ["hour (UTC)", "cus_42", "cus_7"]
        assert points(chart) == hourly_points(hourly) == expected_hourly_tokens()
        assert drawn[name]["notes"] == []
    # Each theme follows the host's own variables: its background is the host's.
    assert drawn["light"]["background"] == rgb(LIGHT["styles"]["variables"]["--color-background-primary"])
    assert drawn["dark"]["background"] == rgb(DARK["styles"]["variables"]["--color-background-primary"])
    assert drawn["light"]["ink"]["background"] == LIGHT["styles"]["variables"]["--color-background-primary"]
    assert drawn["dark"]["ink"]["background"] == DARK["styles"]["variables"]["--color-background-primary"]

    # Other groupings: sorted bars, the busiest first.
    [bars] = drawn["by_model"]["charts"]
    by_model = {
        group["key"]["metadata.model"]: group["value"] for group in results["by_model"]["structuredContent"]["groups"]
    }
    assert (bars["kind"], bars["title"], bars["series"]) == (
        "bars",
        "Sum of tokens_used by metadata.model",
        ["group", "tokens_used"],
    )
    ranked = sorted(by_model.items(), key=lambda item: -item[1])
    assert bars["data"] == [list(range(len(ranked))), [value for _, value in ranked]]
    assert drawn["by_model"]["titles"] == ["Sum of tokens_used by metadata.model"]

    # No events: said so, no chart.
    assert drawn["empty"]["view"] == "empty"
    assert drawn["empty"]["message"] == "No events matched: 0 scanned."
    assert drawn["empty"]["charts"][0]["data"] == []

    # A single point: one day, one value.
    [single] = drawn["single"]["charts"]
    day = int(datetime(2026, 11, 26, tzinfo=UTC).timestamp())
    assert (single["kind"], single["title"]) == ("time", "Count of events per day")
    assert points(single) == {"total": {day: 1}}

    # 100 groups: 100 bars, each the customer's count, busiest first (ties by name), at a narrow width.
    [hundred] = drawn["hundred"]["charts"]
    summary = results["hundred"]["structuredContent"]
    assert (len(summary["groups"]), summary["omitted_groups"], summary["complete"]) == (100, 0, True)
    ranked_customers = sorted(
        ((g["key"]["customer_id"], g["value"]) for g in summary["groups"]), key=lambda c: (-c[1], c[0])
    )
    assert hundred["labels"] == [customer for customer, _ in ranked_customers]
    assert hundred["data"] == [list(range(100)), [count for _, count in ranked_customers]]
    assert hundred["data"][1][:3] == [50, 50, 49]
    assert hundred["width"] == 456

    # An incomplete scan: its points, and a note that says so, with the tool's own advice.
    incomplete = results["incomplete"]["structuredContent"]
    assert incomplete["complete"] is False
    [partial] = drawn["incomplete"]["charts"]
    assert points(partial) == hourly_points(incomplete)
    [note] = drawn["incomplete"]["notes"]
    assert note == {"kind": "incomplete", "text": incomplete["note"]}
    assert note["text"].startswith("Incomplete: the scan stopped because it reached max_events (10)")

    # usage_history: per meter, free and chargeable units per period, oldest period first.
    periods = list(reversed(history["structuredContent"]["items"]))
    meters = drawn["history"]["charts"]
    assert drawn["history"]["view"] == "meters"
    assert [chart["title"] for chart in meters] == [
        f"{meter['name']}: free and chargeable units per billing period" for meter in periods[0]["meters"]
    ]
    for chart, meter in zip(meters, periods[0]["meters"], strict=True):
        usage = [next(m for m in period["meters"] if m["id"] == meter["id"]) for period in periods]
        assert chart["series"] == ["period", "free units", "chargeable units"]
        assert chart["data"] == [
            list(range(len(periods))),
            [float(m["consumed_units"]) - float(m["chargeable_units"]) for m in usage],
            [float(m["chargeable_units"]) for m in usage],
        ]

    first_paint = drawn["light"]["firstContentfulPaintMs"]
    print(
        f"headless Chromium: first contentful paint {first_paint:.0f} ms after the view's navigation, chart drawn at "
        f"{drawn['light']['drawnMs']:.0f} ms, {drawn['light']['resultToDrawnMs']:.1f} ms after the tool result was sent; "
        f"view {len(html.encode())} bytes"
    )


# 3. The committed HTML is what app/ builds


def test_the_committed_view_is_what_its_sources_build() -> None:
    need_part("Node", shutil.which("node") is not None, "apt-get install nodejs")
    need_part("app/'s npm packages (esbuild, uplot)", (APP / "node_modules" / "esbuild").is_dir(), "cd app && npm ci")
    done = subprocess.run(["node", "build.mjs", "--check"], cwd=APP, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
