"""explain_meter_match: whether a meter counts an event, and if not, the first condition that fails and why.

It evaluates the meter's event_name and filter against the event with the same engine the sandbox
uses to select a meter's events (dodo_mcp.api.meter_engine), so the explanation and the listing
never disagree.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Generic, TypeVar

import anyio
from pydantic import SecretStr

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import DodoError
from dodo_mcp.api.meter_engine import as_number, evaluate
from dodo_mcp.api.meters import Meter
from dodo_mcp.api.models import Event
from dodo_mcp.api.paging import MeterScan
from dodo_mcp.tools.messages import stop_reason
from dodo_mcp.tools.models import ExplainMeterMatchArguments, MatchReason, MeterMatch, MeterVerdict

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
    """With a meter_id: fetch the event and the meter (concurrently) and explain the match. Without: check the
    event against every active meter, paging GET /meters within the same bounds as summarize_events."""
    if arguments.meter_id is None:
        return await _explain_all(client, arguments.event_id, api_key)
    event: _Fetched[Event] = _Fetched()
    meter: _Fetched[Meter] = _Fetched()
    async with anyio.create_task_group() as group:
        group.start_soon(event.fetch, functools.partial(client.retrieve_event, arguments.event_id, api_key=api_key))
        group.start_soon(meter.fetch, functools.partial(client.retrieve_meter, arguments.meter_id, api_key=api_key))
    # One answer: a missing event is reported before a missing meter.
    return explain_match(event.result(), meter.result())


async def _explain_all(client: DodoClient, event_id: str, api_key: SecretStr | None) -> MeterMatch:
    event: Event = await client.retrieve_event(event_id, api_key=api_key)
    scan = MeterScan(client, Meter, api_key=api_key)
    verdicts: list[tuple[Meter, MeterMatch]] = []
    async with aclosing(scan.pages()) as pages:
        async for meters in pages:
            verdicts += [(meter, explain_match(event, meter)) for meter in meters]
    counting = [(meter, match) for meter, match in verdicts if match.matched]
    others = [(meter, match) for meter, match in verdicts if not match.matched]
    lines = [f"{len(counting)} of {len(verdicts)} active meters count event {event.event_id!r}."]
    lines += [f"- {match.explanation}" for _, match in counting]
    lines += [f"- {match.explanation}" for _, match in others]
    if scan.stopped is not None:
        lines.append(
            f"Only the first {len(verdicts)} meters were checked: the scan stopped because {stop_reason(scan.stopped)}. "
            "Pass meter_id to check another."
        )
    if not verdicts:
        lines = ["No active meter exists, so nothing counts this event. Create a meter for its event_name."]
    # The summary's reason and clause are the nearest miss's: a meter of the event's own event_name.
    nearest = next((match for meter, match in others if meter.event_name == event.event_name), None)
    top = counting[0][1] if counting else nearest or (others[0][1] if others else None)
    return MeterMatch(
        matched=bool(counting),
        reason=top.reason if top is not None else "no_meter",
        failed_clause=None if counting or top is None else top.failed_clause,
        explanation="\n".join(lines),
        contributes=None,
        meters=[
            MeterVerdict(
                meter_id=meter.id,
                name=meter.name,
                matched=match.matched,
                reason=match.reason,
                failed_clause=match.failed_clause,
                contributes=match.contributes,
            )
            for meter, match in counting + others
        ],
        complete=scan.complete,
    )


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
