"""MCP prompts: the four jobs agents are asked to do most, as step-by-step plans over the tools.

Clients that support prompts show them as slash commands (e.g. /investigate_missing_usage in Claude
Code). Each renders one user message naming the tools to call, in order, with the arguments filled
in. A prompt is served only when every tool it needs is (see --tools / --read-only); a step that
needs ingest_events is left out when ingest_events is hidden.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field
from pydantic.fields import FieldInfo

from dodo_mcp.tools.names import (
    TOOL_EXPLAIN_METER_MATCH,
    TOOL_INGEST_EVENTS,
    TOOL_LIST_EVENTS,
    TOOL_RETRIEVE_EVENT,
    TOOL_SUMMARIZE_EVENTS,
    TOOL_USAGE_HISTORY,
)

PROMPT_INVESTIGATE = "investigate_missing_usage"
PROMPT_SUMMARIZE = "summarize_customer_usage"
PROMPT_CHECK_SHAPE = "check_event_shape"
PROMPT_EXPLAIN_BILL = "explain_usage_bill"

CustomerId = Annotated[str, Field(description="The customer_id whose usage to look at")]
OptionalMeterId = Annotated[str, Field(description="A meter_id to check against (optional)")]


def _with(tool: str, **arguments: object) -> str:
    """A step's call: the tool and its arguments as JSON, leaving out the optional ones not given (blank)."""
    given = {name: value.strip() if isinstance(value, str) else value for name, value in arguments.items()}
    return f"{tool} with {json.dumps({k: v for k, v in given.items() if v != ''}, ensure_ascii=False)}"


def _with_an_event(tool: str, which: str, meter_id: str) -> str:
    """A step whose event_id the agent fills in from an earlier step's answer."""
    return f'{tool} with {{"event_id": <{which}>, "meter_id": {json.dumps(meter_id, ensure_ascii=False)}}}'


def investigate_missing_usage(
    customer_id: CustomerId,
    meter_id: OptionalMeterId = "",
    event_name: Annotated[str, Field(description="The event_name the usage should arrive as (optional)")] = "",
    since: Annotated[str, Field(description="RFC 3339 time from which usage is missing (optional)")] = "",
) -> str:
    meter = meter_id.strip()
    steps = [
        f"{_with(TOOL_SUMMARIZE_EVENTS, customer_id=customer_id, start=since, group_by=['event_name', 'day'])}: "
        "what arrived for this customer, by name and day. No events at all points to the integration or the "
        "customer_id it sends.",
        f"{_with(TOOL_LIST_EVENTS, customer_id=customer_id, event_name=event_name, start=since, page_size=10)}: the "
        "newest raw events; check customer_id and event_name spelling (both are case-sensitive) and the metadata keys.",
    ]
    if meter:
        steps += [
            f"{_with(TOOL_SUMMARIZE_EVENTS, customer_id=customer_id, meter_id=meter, start=since)}: what the meter "
            "counts for the customer (its own aggregation). Compare with the first step.",
            f"{_with_an_event(TOOL_EXPLAIN_METER_MATCH, 'an event from step 2 that should count', meter)}: "
            "whether the meter counts it, and if not the first failing condition (event_name, missing key, type "
            "mismatch, failed comparison).",
        ]
    else:
        steps.append(
            f'{TOOL_EXPLAIN_METER_MATCH} with {{"event_id": <an event from step 2 that should count>}}: without '
            "meter_id it checks every active meter, so it shows which meters count the event and, for the others, "
            "the first failing condition."
        )
    steps.append(
        "If the user has event_ids that should exist, retrieve_event each one (ids are case-sensitive); a 404 "
        "means Dodo never stored it."
    )
    return _plan(
        f"Investigate why usage is missing for customer {customer_id}"
        + (f" on meter {meter}" if meter else "")
        + ". Do not ingest or re-send anything unless the user asks.",
        steps,
        "Conclude with one cause: never sent, sent with another customer_id or event_name, outside the time "
        "range, or filtered out by the meter (name the clause) — and the fix.",
    )


def summarize_customer_usage(
    customer_id: CustomerId,
    start: Annotated[str, Field(description="Start of the period, RFC 3339 (e.g. 2026-11-01T00:00:00Z)")],
    end: Annotated[str, Field(description="End of the period, RFC 3339")],
    meter_id: OptionalMeterId = "",
) -> str:
    period = {"customer_id": customer_id, "start": start, "end": end}
    meter = meter_id.strip()
    steps = [f"{_with(TOOL_SUMMARIZE_EVENTS, **period, group_by=['event_name'])}: events per event_name."]
    if meter:
        steps += [
            f"{_with(TOOL_SUMMARIZE_EVENTS, **period, meter_id=meter)}: the meter's own aggregation over the "
            "period, the billable quantity.",
            f"{_with(TOOL_SUMMARIZE_EVENTS, **period, meter_id=meter, group_by=['day'])}: the same by day.",
        ]
    else:
        steps.append(f"{_with(TOOL_SUMMARIZE_EVENTS, **period, group_by=['day'])}: the trend by day.")
    steps.append(
        "If a result says complete: false, follow its note (split the period with a tighter start/end) until "
        "every part is complete, and add the parts up."
    )
    return _plan(
        f"Summarize customer {customer_id}'s usage from {start} to {end}.",
        steps,
        "Report the totals and the trend in a short table, and say if anything could not be counted completely.",
    )


def check_event_shape_text(event_name: str, meter_id: str = "", customer_id: str = "", *, can_ingest: bool) -> str:
    meter = meter_id.strip()
    steps = [
        f"{_with(TOOL_LIST_EVENTS, event_name=event_name, customer_id=customer_id, page_size=5)}: the newest events "
        "as Dodo stored them. Check event_ids are deterministic (customer + action + time), metadata values are "
        "scalars, and numbers are sent as numbers.",
        f"{_with(TOOL_SUMMARIZE_EVENTS, event_name=event_name, group_by=['customer_id'])}: which customers the "
        "events went to (a wrong or empty customer_id shows here).",
    ]
    if meter:
        steps.append(
            f"{_with_an_event(TOOL_EXPLAIN_METER_MATCH, 'one event from step 1', meter)}: the meter must "
            "count it, and contributes must be a number when the meter sums, maxes or takes the last value."
        )
    if can_ingest:
        steps.append(
            "Only in test_mode or the sandbox, and only if the user agrees: ingest_events one sample event shaped "
            "like the integration's, retrieve_event it by id, then send it again and check ignored_count is 1 "
            "(retries are safe)."
        )
    return _plan(
        f"Check the shape of {event_name!r} events before the integration goes live.",
        steps,
        "List each problem found with the fix, or say the events are ready.",
    )


def explain_usage_bill(
    subscription_id: Annotated[str, Field(description="The subscription whose usage charges to explain")],
    customer_id: Annotated[str, Field(description="The subscription's customer_id, whose events it bills")],
    meter_id: Annotated[str, Field(description="Only this meter_id's charges (optional)")] = "",
) -> str:
    meter = meter_id.strip()
    steps = [
        f"{_with(TOOL_USAGE_HISTORY, subscription_id=subscription_id, meter_id=meter, page_size=3)}: the latest "
        "billing periods, newest first, with each meter's consumed_units, free_threshold, chargeable_units, "
        "price_per_unit and total_price.",
        f'{TOOL_SUMMARIZE_EVENTS} with {{"customer_id": {json.dumps(customer_id, ensure_ascii=False)}, "meter_id": '
        '<each meter id from step 1>, "start": <the start_date of the period>, "end": <its end_date>}: what the '
        "customer's events add up to as the meter counts them; it should equal consumed_units. (end is inclusive "
        "here and the period's end_date is not: an event exactly at end_date is the next period's.)",
        f"Where the two differ: {_with(TOOL_LIST_EVENTS, customer_id=customer_id, page_size=10)} with the period's "
        f"start and end, then {TOOL_EXPLAIN_METER_MATCH} on an event that should count (without meter_id it checks "
        "every active meter).",
    ]
    return _plan(
        f"Explain what subscription {subscription_id} (customer {customer_id}) is billed for usage.",
        steps,
        "For each meter, show consumed - free = chargeable units, times price_per_unit = total_price (in the "
        "currency's smallest unit: 575 in USD is $5.75), and name any difference from the events with its cause.",
    )


def _plan(goal: str, steps: list[str], finish: str) -> str:
    numbered = "\n".join(f"{index}. {step}" for index, step in enumerate(steps, 1))
    return f"{goal}\n\nUse the dodo-mcp tools in this order:\n{numbered}\n\n{finish}"


def check_event_shape_prompt(can_ingest: bool) -> Callable[..., str]:
    """The check_event_shape prompt, with its ingest step only when ingest_events is served."""

    def check_event_shape(
        event_name: Annotated[str, Field(description="The event_name the integration sends")],
        meter_id: OptionalMeterId = "",
        customer_id: Annotated[str, Field(description="A test customer_id the integration used (optional)")] = "",
    ) -> str:
        return check_event_shape_text(event_name, meter_id, customer_id, can_ingest=can_ingest)

    return check_event_shape


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    # The served tools -> the prompt function.
    make: Callable[[Collection[str]], Callable[..., str]]
    needs: frozenset[str]


PROMPTS = (
    PromptSpec(
        PROMPT_INVESTIGATE,
        "Investigate missing usage",
        "Find out why a customer's usage is missing or lower than expected.",
        lambda _: investigate_missing_usage,
        frozenset({TOOL_SUMMARIZE_EVENTS, TOOL_LIST_EVENTS, TOOL_EXPLAIN_METER_MATCH, TOOL_RETRIEVE_EVENT}),
    ),
    PromptSpec(
        PROMPT_SUMMARIZE,
        "Summarize a customer's usage",
        "Totals and a daily trend of a customer's usage for a period, optionally as a meter counts it.",
        lambda _: summarize_customer_usage,
        frozenset({TOOL_SUMMARIZE_EVENTS}),
    ),
    PromptSpec(
        PROMPT_CHECK_SHAPE,
        "Check event shape before going live",
        "Check that an integration's events have the shape Dodo and its meters expect.",
        lambda tools: check_event_shape_prompt(TOOL_INGEST_EVENTS in tools),
        frozenset({TOOL_LIST_EVENTS, TOOL_SUMMARIZE_EVENTS, TOOL_EXPLAIN_METER_MATCH}),
    ),
    PromptSpec(
        PROMPT_EXPLAIN_BILL,
        "Explain a usage bill",
        "What a subscription is billed for usage, per period and meter, checked against the customer's events.",
        lambda _: explain_usage_bill,
        frozenset({TOOL_USAGE_HISTORY, TOOL_SUMMARIZE_EVENTS, TOOL_LIST_EVENTS, TOOL_EXPLAIN_METER_MATCH}),
    ),
)


def served_prompts(tools: Collection[str]) -> list[tuple[PromptSpec, Callable[..., str]]]:
    """Every prompt whose tools are all served, with the function that renders it for these tools."""
    return [(spec, spec.make(tools)) for spec in PROMPTS if spec.needs <= set(tools)]


@dataclass(frozen=True)
class PromptArgument:
    """One argument of a prompt, as prompts/list publishes it."""

    name: str
    description: str
    required: bool


def prompt_arguments(render: Callable[..., str]) -> list[PromptArgument]:
    """A prompt function's arguments, read as the SDK reads them: required unless it has a default, described by
    its Field."""
    hints = typing.get_type_hints(render, include_extras=True)
    arguments = []
    for name, parameter in inspect.signature(render).parameters.items():
        fields = [meta for meta in getattr(hints.get(name), "__metadata__", ()) if isinstance(meta, FieldInfo)]
        description = next((field.description for field in fields if field.description), "")
        arguments.append(PromptArgument(name, description, parameter.default is inspect.Parameter.empty))
    return arguments


def prompt_request_problem(tools: Collection[str], name: str, arguments: Mapping[str, object] | None) -> str | None:
    """What is wrong with a prompts/get of `name` with `arguments`, for a server serving `tools`, in words the
    client can act on; None when nothing is.

    The SDK's own answers are a bare 'Internal server error' (and a traceback on stderr) for all of these.
    """
    served = {spec.name: render for spec, render in served_prompts(tools)}
    if name not in served:
        return prompt_name_problem(tools, name)
    expected = prompt_arguments(served[name])
    given = arguments or {}
    problems = []
    unknown = [argument for argument in given if argument not in {a.name for a in expected}]
    if unknown:
        problems.append(unknown_arguments_problem(name, unknown, expected))
    absent = [
        argument
        for argument in expected
        if argument.required and not (isinstance(given.get(argument.name), str) and str(given[argument.name]).strip())
    ]
    if absent:
        several = len(absent) > 1
        described = " ".join(f"{argument.name}: {argument.description}." for argument in absent)
        problems.append(
            f"The prompt {name!r} is missing its required argument{'s' if several else ''} "
            f"{_names([a.name for a in absent], quote=False)} (or {'they are' if several else 'it is'} empty). "
            f"{described} Fill {'them' if several else 'it'} in and get the prompt again."
        )
    return " ".join(problems) or None


def prompt_name_problem(tools: Collection[str], name: str) -> str | None:
    """Why `name` is not a prompt a server serving `tools` offers, naming those it does; None when it is."""
    served = [spec.name for spec, _ in served_prompts(tools)]
    if name in served:
        return None
    offered = f"This server offers: {', '.join(served)}." if served else "This server offers no prompts."
    spec = next((spec for spec in PROMPTS if spec.name == name), None)
    if spec is None:
        return f"There is no prompt {name!r}. {offered}"
    missing_tools = ", ".join(sorted(spec.needs - set(tools)))
    return (
        f"The prompt {name!r} is not offered here: it needs the tools {missing_tools}, which this server does not "
        f"serve (see --tools and --read-only). {offered}"
    )


def unknown_arguments_problem(name: str, unknown: list[str], expected: list[PromptArgument]) -> str:
    """That the prompt `name` has none of the arguments `unknown`, and which it has."""
    listed = _names([a.name if a.required else f"{a.name} (optional)" for a in expected], quote=False)
    plural = "arguments" if len(unknown) > 1 else "argument"
    return f"The prompt {name!r} has no {plural} {_names(unknown)}; its arguments are {listed}."


def _names(names: list[str], *, quote: bool = True) -> str:
    """'a', 'b' and 'c'."""
    shown = [repr(name) if quote else name for name in names]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
