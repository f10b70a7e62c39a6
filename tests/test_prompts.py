"""The MCP prompts through the SDK's client, with the server in-process: listed with their arguments, rendered as
a plan naming the tools in order, and every call a plan spells out works against the sandbox."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from dodo_mcp.tools.names import select_tools
from tests.billing import Component, create_subscription, usage_product
from tests.conftest import sandbox_session, text_of
from tests.test_insights import create_meters, meter, seeded_events

pytestmark = pytest.mark.anyio

STEP = re.compile(r"^\d+\. (\w+) with (\{.*?\}): ", re.M)


def prompt_text(result: Any) -> str:
    [message] = result.messages
    assert (message.role, message.content.type) == ("user", "text")
    return str(message.content.text)


def tools_in_order(text: str) -> list[str]:
    """The tool each numbered step calls, in order."""
    return [match[1] for match in STEP.finditer(text)]


async def test_prompts_are_listed_with_their_arguments() -> None:
    async with sandbox_session() as session:
        listed = await session.client.list_prompts()
    assert [
        (p.name, p.title, p.description, [(a.name, a.required) for a in p.arguments or []]) for p in listed.prompts
    ] == [
        (
            "investigate_missing_usage",
            "Investigate missing usage",
            "Find out why a customer's usage is missing or lower than expected.",
            [("customer_id", True), ("meter_id", False), ("event_name", False), ("since", False)],
        ),
        (
            "summarize_customer_usage",
            "Summarize a customer's usage",
            "Totals and a daily trend of a customer's usage for a period, optionally as a meter counts it.",
            [("customer_id", True), ("start", True), ("end", True), ("meter_id", False)],
        ),
        (
            "check_event_shape",
            "Check event shape before going live",
            "Check that an integration's events have the shape Dodo and its meters expect.",
            [("event_name", True), ("meter_id", False), ("customer_id", False)],
        ),
        (
            "explain_usage_bill",
            "Explain a usage bill",
            "What a subscription is billed for usage, per period and meter, checked against the customer's events.",
            [("subscription_id", True), ("customer_id", True), ("meter_id", False)],
        ),
    ]
    for prompt in listed.prompts:
        assert all(argument.description for argument in prompt.arguments or [])


async def test_summarize_customer_usage_renders_the_whole_plan() -> None:
    arguments = {
        "customer_id": "cus_a",
        "start": "2026-11-01T00:00:00Z",
        "end": "2026-12-01T00:00:00Z",
        "meter_id": "mtr_1",
    }
    async with sandbox_session() as session:
        result = await session.client.get_prompt("summarize_customer_usage", arguments)
    period = '"customer_id": "cus_a", "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"'
    assert prompt_text(result) == (
        "Summarize customer cus_a's usage from 2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z.\n\n"
        "Use the dodo-mcp tools in this order:\n"
        f'1. summarize_events with {{{period}, "group_by": ["event_name"]}}: events per event_name.\n'
        f'2. summarize_events with {{{period}, "meter_id": "mtr_1"}}: the meter\'s own aggregation over the period, '
        "the billable quantity.\n"
        f'3. summarize_events with {{{period}, "meter_id": "mtr_1", "group_by": ["day"]}}: the same by day.\n'
        "4. If a result says complete: false, follow its note (split the period with a tighter start/end) until "
        "every part is complete, and add the parts up.\n\n"
        "Report the totals and the trend in a short table, and say if anything could not be counted completely."
    )


@pytest.mark.parametrize(
    ("name", "arguments", "read_only", "tools"),
    [
        ("investigate_missing_usage", {"customer_id": "cus_a"}, False,
         ["summarize_events", "list_events", "explain_meter_match"]),
        (
            "investigate_missing_usage",
            {"customer_id": "cus_a", "meter_id": "mtr_1", "event_name": "api_request", "since": "2026-11-01T00:00:00Z"},
            False,
            ["summarize_events", "list_events", "summarize_events", "explain_meter_match"],
        ),
        ("summarize_customer_usage", {"customer_id": "c", "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
         False, ["summarize_events", "summarize_events"]),
        ("check_event_shape", {"event_name": "api_request"}, False, ["list_events", "summarize_events"]),
        ("check_event_shape", {"event_name": "api_request", "meter_id": "mtr_1"}, True,
         ["list_events", "summarize_events", "explain_meter_match"]),
        ("explain_usage_bill", {"subscription_id": "sub_1", "customer_id": "cus_a"}, True,
         ["usage_history", "summarize_events"]),
    ],
)  # fmt: skip
async def test_each_plan_names_the_tools_in_order(
    name: str, arguments: dict[str, str], read_only: bool, tools: list[str]
) -> None:
    async with sandbox_session(tools=select_tools(read_only=read_only)) as session:
        text = prompt_text(await session.client.get_prompt(name, arguments))
    assert tools_in_order(text) == tools
    # The ingest step of check_event_shape is offered only when ingest_events is served.
    if name == "check_event_shape":
        assert ("ingest_events one sample event" in text) is (not read_only)


async def test_every_call_a_plan_spells_out_works(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    [meter_id] = await create_meters(db, [meter("api_request", {"type": "sum", "key": "tokens"})])
    now = datetime.now(timezone.utc)
    product = usage_product([Component(meter_id, "0.5", 10)])
    subscription_id = await create_subscription(db, product, "cus_a", now - timedelta(hours=2))
    events = seeded_events(now, 30)
    span = {
        "start": (now - timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "end": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    plans = [
        ("investigate_missing_usage", {"customer_id": "cus_a", "meter_id": meter_id, "since": span["start"]}),
        ("summarize_customer_usage", {"customer_id": "cus_a", **span, "meter_id": meter_id}),
        ("check_event_shape", {"event_name": "api_request", "meter_id": meter_id, "customer_id": "cus_a"}),
        ("explain_usage_bill", {"subscription_id": subscription_id, "customer_id": "cus_a", "meter_id": meter_id}),
    ]
    calls = []
    async with sandbox_session(db) as session:
        assert not (await session.call("ingest_events", {"events": events})).is_error
        for name, arguments in plans:
            text = prompt_text(await session.client.get_prompt(name, arguments))
            for match in STEP.finditer(text):
                if "<" in match[2]:
                    continue  # the agent fills in an event_id from an earlier step
                result = await session.call(match[1], json.loads(match[2]))
                assert not result.is_error, (name, match[0], text_of(result))
                calls.append(match[1])
    assert calls == [
        "summarize_events",
        "list_events",
        "summarize_events",
        "summarize_events",
        "summarize_events",
        "summarize_events",
        "list_events",
        "summarize_events",
        "usage_history",
    ]


async def test_prompts_need_their_tools_and_their_required_arguments() -> None:
    async with sandbox_session(tools=["summarize_events"]) as session:
        listed = await session.client.list_prompts()
        # A prompt without its required arguments is invalid params, naming what is missing
        # (tests/test_first_contact_protocol.py has every refusal).
        with pytest.raises(MCPError) as refused:
            await session.client.get_prompt("summarize_customer_usage", {"customer_id": "cus_a"})
    assert [prompt.name for prompt in listed.prompts] == ["summarize_customer_usage"]
    assert (refused.value.code, str(refused.value)) == (
        INVALID_PARAMS,
        "The prompt 'summarize_customer_usage' is missing its required arguments start and end (or they are "
        "empty). start: Start of the period, RFC 3339 (e.g. 2026-11-01T00:00:00Z). end: End of the period, "
        "RFC 3339. Fill them in and get the prompt again.",
    )
