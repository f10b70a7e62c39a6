"""Argument completion (issue 14, item 4): completion/complete offers real customer_ids, event_names and meter_ids
for the prompts' arguments, from recent events and the active meters, cached briefly and within the request budget.

Through the SDK's client: in-process against the sandbox for the values, against the Dodo double for what goes on
the wire (and what does not), and over Streamable HTTP for per-client keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, Completion, PromptReference, ResourceTemplateReference

from dodo_mcp.api.client import DodoClient
from dodo_mcp.server import build_server
from dodo_mcp.tools.completion import COMPLETION_TTL_S
from tests.billing import Component, create_subscription, usage_product
from tests.conftest import API_KEY, Session, dodo_settings, logged_lines, sandbox_session, server_env, tool_session
from tests.dodo_double import EVENT, DodoDouble, Reply
from tests.test_http import TOKEN, mcp_client, serving
from tests.test_insights import create_meters, meter
from tests.test_list_meters import wire_meter

pytestmark = pytest.mark.anyio

INVESTIGATE = "investigate_missing_usage"
SUMMARIZE = "summarize_customer_usage"
CHECK_SHAPE = "check_event_shape"
EXPLAIN_BILL = "explain_usage_bill"
EVENTS_PAGE_0 = [("page_size", "100"), ("page_number", "0")]
EVENTS_PAGE_1 = [("page_size", "100"), ("page_number", "1")]
METERS_PAGE_0 = [("page_size", "100"), ("page_number", "0"), ("archived", "false")]


async def complete(
    client: Client, prompt: str, argument: str, value: str, chosen: dict[str, str] | None = None
) -> Completion:
    result = await client.complete(PromptReference(name=prompt), {"name": argument, "value": value}, chosen)
    return result.completion


def values(completion: Completion) -> tuple[list[str], int | None, bool | None]:
    return completion.values, completion.total, completion.has_more


def events_page(customers: list[str], event_name: str = "api_request") -> Reply:
    items = [{**EVENT, "event_id": f"e_{c}", "customer_id": c, "event_name": event_name} for c in customers]
    return Reply(body={"items": items})


# Against the sandbox: the values


def seeded(now: datetime) -> list[dict[str, Any]]:
    """Six events a minute apart, the newest five minutes ago: (customer, name), oldest first."""
    pairs = [
        ("cus_42", "api_request"),
        ("cus_7", "api_request"),
        ("cus_400", "storage_gb"),
        ("CUS_49", "api_request"),
        ("cus_42", "image_render"),
        ("cus_42", "api_request"),
    ]
    return [
        {
            "event_id": f"{customer}:{name}:{index}",
            "customer_id": customer,
            "event_name": name,
            "timestamp": (now - timedelta(minutes=10 - index)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for index, (customer, name) in enumerate(pairs)
    ]


@asynccontextmanager
async def seeded_sandbox(tmp_path: Path) -> AsyncIterator[tuple[Session, list[str]]]:
    """The sandbox with the seeded events and three meters (api_request, storage_gb, api_request), their ids in
    the order GET /meters lists them."""
    db = tmp_path / "sandbox.sqlite3"
    count = {"type": "count"}
    ids = await create_meters(
        db, [meter("api_request", count), meter("storage_gb", count), meter("api_request", count)]
    )
    # One subscription, for explain_usage_bill's subscription_id.
    await create_subscription(db, usage_product([Component(ids[0], "1")]), "cus_42", datetime.now(timezone.utc))
    async with sandbox_session(db) as session:
        ingested = await session.call("ingest_events", {"events": seeded(datetime.now(timezone.utc))})
        assert not ingested.is_error
        listed = await session.call("list_meters", {"page_size": 10})
        assert listed.structured_content is not None
        yield session, [item["id"] for item in listed.structured_content["items"]]


async def test_customer_ids_newest_first_exact_prefix_first_then_other_case(tmp_path: Path) -> None:
    async with seeded_sandbox(tmp_path) as (session, _):
        typed = await complete(session.client, INVESTIGATE, "customer_id", "cus_4")
        everything = await complete(session.client, INVESTIGATE, "customer_id", "")
        upper = await complete(session.client, SUMMARIZE, "customer_id", "CUS")
        none = await complete(session.client, CHECK_SHAPE, "customer_id", "cus_9")
    # Newest first: cus_42 (5 and 6 minutes ago), CUS_49, cus_400, cus_7; the case-insensitive match comes last.
    assert values(typed) == (["cus_42", "cus_400", "CUS_49"], 3, False)
    assert values(everything) == (["cus_42", "CUS_49", "cus_400", "cus_7"], 4, False)
    assert values(upper) == (["CUS_49", "cus_42", "cus_400", "cus_7"], 4, False)
    assert values(none) == ([], 0, False)


async def test_the_chosen_arguments_narrow_the_values(tmp_path: Path) -> None:
    async with seeded_sandbox(tmp_path) as (session, meters):
        api, storage, api_too = meters
        names_of_42 = await complete(session.client, INVESTIGATE, "event_name", "", {"customer_id": "cus_42"})
        all_names = await complete(session.client, INVESTIGATE, "event_name", "")
        storage_customers = await complete(session.client, CHECK_SHAPE, "customer_id", "", {"event_name": "storage_gb"})
        api_meters = await complete(session.client, INVESTIGATE, "meter_id", "", {"event_name": "api_request"})
        all_meters = await complete(session.client, SUMMARIZE, "meter_id", "")
        one_meter = await complete(session.client, CHECK_SHAPE, "meter_id", storage, {"event_name": "storage_gb"})
        # A customer with no events yet, a meter's event name no event has: the values without the narrowing.
        names_of_nobody = await complete(session.client, INVESTIGATE, "event_name", "", {"customer_id": "cus_none"})
        meters_of_nothing = await complete(session.client, CHECK_SHAPE, "meter_id", "", {"event_name": "nothing"})
    assert values(names_of_42) == (["api_request", "image_render"], 2, False)
    assert values(all_names) == (["api_request", "image_render", "storage_gb"], 3, False)
    assert values(storage_customers) == (["cus_400"], 1, False)
    assert values(api_meters) == ([api, api_too], 2, False)
    assert values(all_meters) == ([api, storage, api_too], 3, False)
    assert values(one_meter) == ([storage], 1, False)
    assert values(names_of_nobody) == values(all_names)
    assert values(meters_of_nothing) == values(all_meters)


async def test_every_id_argument_of_every_prompt_completes_and_the_others_answer_nothing(tmp_path: Path) -> None:
    async with seeded_sandbox(tmp_path) as (session, _):
        prompts = (await session.client.list_prompts()).prompts
        answers = {
            (prompt.name, argument.name): await complete(session.client, prompt.name, argument.name, "")
            for prompt in prompts
            for argument in prompt.arguments or []
        }
    completing = {key for key, answer in answers.items() if answer.values}
    assert completing == {
        (INVESTIGATE, "customer_id"),
        (INVESTIGATE, "meter_id"),
        (INVESTIGATE, "event_name"),
        (SUMMARIZE, "customer_id"),
        (SUMMARIZE, "meter_id"),
        (CHECK_SHAPE, "event_name"),
        (CHECK_SHAPE, "meter_id"),
        (CHECK_SHAPE, "customer_id"),
        (EXPLAIN_BILL, "subscription_id"),
        (EXPLAIN_BILL, "customer_id"),
        (EXPLAIN_BILL, "meter_id"),
    }
    assert {key for key in answers if key not in completing} == {
        (INVESTIGATE, "since"),
        (SUMMARIZE, "start"),
        (SUMMARIZE, "end"),
    }
    assert all(values(answers[key]) == ([], None, None) for key in answers if key not in completing)


async def refusal(client: Client, ref: PromptReference | ResourceTemplateReference, argument: str) -> tuple[int, str]:
    with pytest.raises(MCPError) as refused:
        await client.complete(ref, {"name": argument, "value": ""})
    return refused.value.code, refused.value.message


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_unknown_prompt_or_argument_is_invalid_params_saying_what_there_is(mode: str) -> None:
    async with sandbox_session(mode=mode) as session:
        unknown_prompt = await refusal(session.client, PromptReference(name="nope"), "customer_id")
        unknown_argument = await refusal(session.client, PromptReference(name=SUMMARIZE), "event_name")
        resource = await refusal(session.client, ResourceTemplateReference(uri="dodo://events/{id}"), "id")
        still_up = await complete(session.client, SUMMARIZE, "customer_id", "")
    assert unknown_prompt == (
        INVALID_PARAMS,
        "There is no prompt 'nope'. This server offers: investigate_missing_usage, summarize_customer_usage, "
        "check_event_shape, explain_usage_bill.",
    )
    assert unknown_argument == (
        INVALID_PARAMS,
        "The prompt 'summarize_customer_usage' has no argument 'event_name'; its arguments are customer_id, start, "
        "end and meter_id (optional).",
    )
    assert resource == (
        INVALID_PARAMS,
        "dodo-mcp serves no resource templates, so there is nothing to complete for 'dodo://events/{id}'. "
        "Completion is offered for the arguments customer_id, event_name, meter_id, subscription_id of the prompts (prompts/list).",
    )
    assert values(still_up) == ([], 0, False)


async def test_a_prompt_not_offered_is_refused_with_the_tools_it_needs() -> None:
    async with sandbox_session(tools=["summarize_events"]) as session:
        answer = await refusal(session.client, PromptReference(name=CHECK_SHAPE), "event_name")
    assert answer == (
        INVALID_PARAMS,
        "The prompt 'check_event_shape' is not offered here: it needs the tools explain_meter_match, list_events, "
        "which this server does not serve (see --tools and --read-only). This server offers: "
        "summarize_customer_usage.",
    )


# The capability


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_completions_are_advertised_with_the_prompts_they_complete(mode: str) -> None:
    async with sandbox_session(mode=mode) as session:
        assert session.client.server_capabilities.completions is not None
    async with sandbox_session(tools=["list_events"], mode=mode) as session:
        assert session.client.server_capabilities.completions is None


async def test_a_client_that_never_completes_causes_no_upstream_request(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url)) as session:
        await session.client.list_tools()
        prompts = await session.client.list_prompts()
        rendered = await session.client.get_prompt(INVESTIGATE, {"customer_id": "cus_1"})
    assert [prompt.name for prompt in prompts.prompts] == [INVESTIGATE, SUMMARIZE, CHECK_SHAPE, EXPLAIN_BILL]
    assert rendered.messages[0].content.type == "text"
    assert dodo.requests == []


# Against the Dodo double: what goes on the wire


async def test_the_upstream_requests_are_a_bounded_scan_of_the_newest_events(dodo: DodoDouble) -> None:
    first, second = [f"cus_{i:03d}" for i in range(100)], [f"cus_{i:03d}" for i in range(100, 200)]
    dodo.script(events_page(first), events_page(second))
    async with tool_session(dodo_settings(dodo.url)) as session:
        everything = await complete(session.client, INVESTIGATE, "customer_id", "")
        typed = await complete(session.client, INVESTIGATE, "customer_id", "cus_19")
        names = await complete(session.client, CHECK_SHAPE, "event_name", "api")
        scanned = len(dodo.requests)
        narrowed = await complete(session.client, INVESTIGATE, "event_name", "", {"customer_id": "cus_042"})
    requests = [(r.method, r.path, r.query, r.headers["authorization"]) for r in dodo.requests]
    bearer = f"Bearer {API_KEY}"
    assert requests == [
        ("GET", "/events", EVENTS_PAGE_0, bearer),
        ("GET", "/events", EVENTS_PAGE_1, bearer),
        ("GET", "/events", [("customer_id", "cus_042"), *EVENTS_PAGE_0], bearer),
    ]
    # Two pages, then the scan stopped: more customers may be older, so no total, and more than 100 matched.
    assert values(everything) == (first, None, True)
    # What matched in the pages read; whether older ones match is unknown.
    assert values(typed) == ([f"cus_{i}" for i in range(190, 200)], None, None)
    # The same listing answers event_name: no request.
    assert scanned == 2 and values(names) == (["api_request"], None, None)
    # The double's one default event: the page is short, so the customer's listing was read to its end.
    assert values(narrowed) == (["api_request"], 1, False)


async def test_meter_ids_come_from_the_active_meters(dodo: DodoDouble) -> None:
    dodo.script(
        Reply(
            body={
                "items": [
                    wire_meter("mtr_a"),
                    wire_meter("mtr_b", event_name="storage_gb"),
                    wire_meter("mtr_c"),
                ]
            }
        )
    )
    async with tool_session(dodo_settings(dodo.url)) as session:
        every = await complete(session.client, INVESTIGATE, "meter_id", "")
        of_api = await complete(session.client, INVESTIGATE, "meter_id", "mtr", {"event_name": "api_request"})
    assert [(r.method, r.path, r.query) for r in dodo.requests] == [("GET", "/meters", METERS_PAGE_0)]
    assert values(every) == (["mtr_a", "mtr_b", "mtr_c"], 3, False)
    assert values(of_api) == (["mtr_a", "mtr_c"], 2, False)


@asynccontextmanager
async def clocked_session(dodo: DodoDouble, **settings: Any) -> AsyncIterator[tuple[Client, Callable[[float], None]]]:
    """An in-process client with a server whose DodoClient reads a clock the test moves forward."""
    now = [1000.0]

    def advance(seconds: float) -> None:
        now[0] += seconds

    configured = dodo_settings(dodo.url, **settings)
    server = build_server(configured, client=DodoClient(configured, clock=lambda: now[0]))
    with logged_lines():
        async with Client(server) as client:  # type: ignore[arg-type]
            yield client, advance


async def test_within_the_ttl_no_second_request_after_it_one(dodo: DodoDouble) -> None:
    dodo.script(events_page(["cus_a"]), events_page(["cus_b"]))
    async with clocked_session(dodo) as (client, advance):
        first = await complete(client, INVESTIGATE, "customer_id", "")
        advance(COMPLETION_TTL_S - 1)
        again = await complete(client, INVESTIGATE, "customer_id", "cus")
        after_names = await complete(client, CHECK_SHAPE, "event_name", "")
        within = len(dodo.requests)
        advance(1)
        refreshed = await complete(client, INVESTIGATE, "customer_id", "")
    assert within == 1 and len(dodo.requests) == 2
    assert values(first) == values(again) == (["cus_a"], 1, False)
    assert values(after_names) == (["api_request"], 1, False)
    assert values(refreshed) == (["cus_b"], 1, False)


async def test_a_burst_of_keystrokes_makes_one_upstream_round(dodo: DodoDouble) -> None:
    # The page is held back so the keystrokes overlap the round.
    dodo.script(Reply(body={"items": [EVENT]}, delay_s=0.5))
    answers: list[Completion] = []
    async with tool_session(dodo_settings(dodo.url)) as session:

        async def keystroke(typed: str) -> None:
            answers.append(await complete(session.client, INVESTIGATE, "customer_id", typed))

        async with anyio.create_task_group() as group:
            for typed in ["", "c", "cu", "cus", "cus_"]:
                group.start_soon(keystroke, typed)
    assert len(dodo.requests) == 1
    assert sorted(values(answer) for answer in answers) == [(["cus_1"], 1, False)] * 5


@pytest.mark.parametrize(
    ("reply", "logged"),
    [
        (Reply(status=500, body={"code": "INTERNAL", "message": "boom {authorization}"}), "DodoAPIError, status 500"),
        (
            Reply(status=401, body={"code": "UNAUTHORIZED", "message": "bad {authorization}"}),
            "AuthenticationError, status 401",
        ),
        (Reply(body="<html>not json</html>"), "DodoResponseError"),
    ],
)
async def test_an_upstream_failure_answers_no_values_and_the_server_still_answers(
    dodo: DodoDouble, reply: Reply, logged: str
) -> None:
    dodo.script(reply)
    async with tool_session(dodo_settings(dodo.url, max_retries=0)) as session:
        failed = await complete(session.client, INVESTIGATE, "customer_id", "")
        # Within the TTL the failure is the answer: a down Dodo is not asked on every keystroke.
        again = await complete(session.client, INVESTIGATE, "event_name", "")
        requests = len(dodo.requests)
        listed = await session.call("list_events", {})
        stderr = session.stderr
    assert values(failed) == values(again) == ([], None, None)
    assert requests == 1
    assert not listed.is_error
    [line] = [line for line in stderr.splitlines() if "completion of" in line]
    assert line.endswith(
        f" WARNING dodo_mcp.tools.completion: completion of customer_id: listing events failed ({logged}); "
        "answering no values"
    ), line
    assert API_KEY not in stderr


async def test_a_nearly_spent_budget_sends_nothing_and_answers_from_the_cache(dodo: DodoDouble) -> None:
    dodo.script(events_page(["cus_a"]))
    # 10 a minute: completion may take a tenth of what is left, so 1 page now and none once a request is spent.
    async with clocked_session(dodo, requests_per_minute=10) as (client, advance):
        first = await complete(client, INVESTIGATE, "customer_id", "")
        retrieved = await client.call_tool("retrieve_event", {"event_id": "evt_1"})
        meters = await complete(client, INVESTIGATE, "meter_id", "")
        advance(COMPLETION_TTL_S + 1)
        stale = await complete(client, INVESTIGATE, "customer_id", "")
    assert [(r.path, r.query) for r in dodo.requests] == [("/events", EVENTS_PAGE_0), ("/events/evt_1", [])]
    assert not retrieved.is_error
    assert values(first) == values(stale) == (["cus_a"], 1, False)
    assert values(meters) == ([], None, None)


async def test_a_value_carrying_the_key_is_left_out(dodo: DodoDouble) -> None:
    # A careless upstream echoes the Authorization header into a customer_id.
    dodo.script(events_page(["cus_{authorization}", "cus_ok"]))
    async with tool_session(dodo_settings(dodo.url)) as session:
        answer = await complete(session.client, INVESTIGATE, "customer_id", "")
    assert values(answer) == (["cus_ok"], 1, False)


async def test_no_key_at_all_answers_no_values_and_sends_nothing(dodo: DodoDouble) -> None:
    async with tool_session(dodo_settings(dodo.url, api_key=None)) as session:
        answer = await complete(session.client, INVESTIGATE, "customer_id", "")
    assert values(answer) == ([], None, None)
    assert dodo.requests == []


# Over Streamable HTTP: each client's own key


async def test_per_client_keys_complete_with_the_callers_key_and_cache_apart(dodo_double: DodoDouble) -> None:
    dodo_double.reset()
    dodo_double.script(events_page(["cus_of_a"]), events_page(["cus_of_b"]))
    # No server key: every call must carry its own.
    env = server_env(dodo_double.url, DODO_MCP_AUTH_TOKEN=TOKEN, DODO_PAYMENTS_API_KEY=None)
    key_a, key_b = "sk_test_client_a_own_key", "sk_test_client_b_own_key"
    with serving("--transport", "streamable-http", "--per-client-api-key", env=env) as served:
        async with mcp_client(served, "streamable-http", {"x-dodo-payments-api-key": key_a}) as client:
            of_a = await complete(client, INVESTIGATE, "customer_id", "")
        async with mcp_client(served, "streamable-http", {"x-dodo-payments-api-key": key_b}) as client:
            of_b = await complete(client, INVESTIGATE, "customer_id", "")
            # summarize_events pages with the caller's key too (its scan's budget is the caller's).
            summary = await client.call_tool("summarize_events", {})
        async with mcp_client(served, "streamable-http", {"x-dodo-payments-api-key": key_a}) as client:
            of_a_again = await complete(client, INVESTIGATE, "customer_id", "")
        stderr = served.stderr
    assert [r.headers["authorization"] for r in dodo_double.requests] == [
        f"Bearer {key_a}",
        f"Bearer {key_b}",
        f"Bearer {key_b}",
    ]
    assert values(of_a) == values(of_a_again) == (["cus_of_a"], 1, False)
    assert values(of_b) == (["cus_of_b"], 1, False)
    assert not summary.is_error, summary.content
    assert key_a not in stderr and key_b not in stderr
