"""explain_meter_match: whether a meter counts an event, and if not, the first condition that fails and why.

It evaluates the meter's event_name and filter against the event with the same engine the sandbox
uses to select a meter's events (dodo_mcp.api.meter_engine), so the explanation and the listing
never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio
from pydantic import SecretStr

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import DodoError
from dodo_mcp.api.meter_engine import as_number, evaluate
from dodo_mcp.api.meters import Meter
from dodo_mcp.api.models import Event
from dodo_mcp.tools.models import ExplainMeterMatchArguments, MatchReason, MeterMatch

T = TypeVar("T")

_FIXES = {
    "missing_key": "Send that key in the event's metadata.",
    "type_mismatch": "Send the value with a type the operator compares (numbers may be numeric strings).",
    "comparison_failed": "The value is compared as sent; the event is correctly excluded unless it is wrong.",
}


def explain_match(event: Event, meter: Meter) -> MeterMatch:
    """Whether `meter` counts `event`, by the shared filter engine; on a mismatch, the first failure."""
    name = f"meter {meter.name!r} ({meter.id})"
    result = evaluate(meter.filter, event.metadata)
    if event.event_name != meter.event_name:
        filter_note = (
            "its metadata would pass the meter's filter"
            if result.matched
            else f"its metadata would also fail the filter at {result.message}"
        )
        return _no_match(
            "event_name_mismatch",
            None,
            f"No: event {event.event_id!r} has event_name {event.event_name!r}, but {name} counts only "
            f"{meter.event_name!r} events (names are case-sensitive); {filter_note}.",
        )
    if result.failure is not None:
        failure = result.failure
        return _no_match(
            failure.reason,
            "clauses" + "".join(f"[{i}]" for i in failure.path),
            f"No: {name} filter fails at {failure.message}. {_FIXES[failure.reason]}",
        )
    return _match(event, meter, name)


def _no_match(reason: MatchReason, failed_clause: str | None, explanation: str) -> MeterMatch:
    return MeterMatch(
        matched=False, reason=reason, failed_clause=failed_clause, explanation=explanation, contributes=None
    )


def _match(event: Event, meter: Meter, name: str) -> MeterMatch:
    aggregation = meter.aggregation
    conditions = "no filter" if meter.filter is None else "its filter holds"
    if aggregation.type == "count":
        explanation = f"Yes: {name} counts it (event_name {meter.event_name!r}, {conditions}); it adds 1 to the count."
        return MeterMatch(matched=True, reason="matched", failed_clause=None, explanation=explanation, contributes=1)
    assert aggregation.key is not None
    raw = (event.metadata or {}).get(aggregation.key)
    number = as_number(raw)
    if number is None:
        what = "has no key" if aggregation.key not in (event.metadata or {}) else f"has a non-numeric {raw!r} for"
        tail = f"but it {what} {aggregation.key!r}, so the meter's {aggregation.type} skips it."
    else:
        tail = f"its {aggregation.key!r} of {raw!r} counts as {number} in the meter's {aggregation.type}."
    explanation = f"Yes: {name} matches it (event_name {meter.event_name!r}, {conditions}); {tail}"
    return MeterMatch(matched=True, reason="matched", failed_clause=None, explanation=explanation, contributes=number)


async def explain(
    client: DodoClient, arguments: ExplainMeterMatchArguments, *, api_key: SecretStr | None = None
) -> MeterMatch:
    """Fetch the event and the meter (two requests, concurrently) and explain the match."""
    event: _Fetched[Event] = _Fetched()
    meter: _Fetched[Meter] = _Fetched()
    async with anyio.create_task_group() as group:
        group.start_soon(event.fetch, functools.partial(client.retrieve_event, arguments.event_id, api_key=api_key))
        group.start_soon(meter.fetch, functools.partial(client.retrieve_meter, arguments.meter_id, api_key=api_key))
    # One answer: a missing event is reported before a missing meter.
    return explain_match(event.result(), meter.result())


class _Fetched(Generic[T]):
    """One of two concurrent requests: its result, or the error it ended in (kept, not raised, so that the other
    request finishes too)."""

    def __init__(self) -> None:
        self._value: T | None = None
        self._error: DodoError | None = None

    async def fetch(self, request: Callable[[], Awaitable[T]]) -> None:
        try:
            self._value = await request()
        except DodoError as exc:
            self._error = exc

    def result(self) -> T:
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value
