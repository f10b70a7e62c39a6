"""The MCP tools: shape the inputs, call DodoClient, shape the results.

Each tool reads its raw arguments from the request and validates them once
with its model (see arguments.py), so unknown arguments are reported rather
than dropped and every message is ours. Every failure comes back as an
`isError` result whose text says what went wrong and what to do next.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, SecretStr
from pydantic_core import to_json

from dodo_mcp.arguments import validate_arguments
from dodo_mcp.client import DodoClient
from dodo_mcp.config import PER_CLIENT_KEY_HEADER
from dodo_mcp.errors import DodoError
from dodo_mcp.models import (
    MAX_EVENTS_PER_CALL,
    MAX_PAGE_SIZE,
    Event,
    EventPage,
    IngestBatch,
    IngestEventsArguments,
    IngestResult,
    ListEventsArguments,
    RetrieveEventArguments,
)
from dodo_mcp.schemas import portable_schema, simplify_schema

logger = logging.getLogger(__name__)

TOOL_RETRIEVE_EVENT = "retrieve_event"
TOOL_LIST_EVENTS = "list_events"
TOOL_INGEST_EVENTS = "ingest_events"


class InFlightCalls:
    """Counts tool calls in progress, so a shutdown can wait for them to finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = anyio.Event()
        self._idle.set()

    def __enter__(self) -> None:
        if self.count == 0:
            self._idle = anyio.Event()
        self.count += 1

    def __exit__(self, *exc_info: object) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()


@dataclass
class ToolContext:
    """What the tools share for the life of the server: the one DodoClient, the key policy, the calls."""

    client: DodoClient
    per_client_api_key: bool = False
    in_flight: InFlightCalls = field(default_factory=InFlightCalls)


ToolFunction = Callable[[Context], Awaitable[CallToolResult]]


def _answering_errors(fn: ToolFunction) -> ToolFunction:
    """Turn every failure into an isError result the agent can act on."""

    @functools.wraps(fn)
    async def call(ctx: Context) -> CallToolResult:
        state = ctx.request_context.lifespan_context
        try:
            with state.in_flight if isinstance(state, ToolContext) else contextlib.nullcontext():
                return await fn(ctx)
        except DodoError as exc:
            logger.info("%s failed: %s", fn.__name__, type(exc).__name__)
            return error_result(str(exc))
        except Exception:
            # A bug of ours: the traceback goes to stderr, never to the agent.
            logger.exception("%s crashed", fn.__name__)
            return error_result(
                f"dodo-mcp hit an internal error in {fn.__name__} (details are in the server's log on stderr). "
                "The server is still running; try the call once more, and report the problem if it repeats."
            )

    return call


def error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def success_result(model: BaseModel, text: str | None = None) -> CallToolResult:
    """structuredContent plus a compact JSON copy of it (or `text`) for clients that read only text."""
    data = model.model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=text if text is not None else to_json(data).decode())],
        structured_content=data,
    )


def page_text(page: dict[str, Any]) -> str:
    """A page as compact JSON, with the fields every item shares stated once under "common".

    The model reads this text on every call, so repetition costs context: a page of one customer's
    events repeats business_id, customer_id and event_name in each item. Nothing is lost: each item
    is its "common" fields plus its own. structuredContent keeps the full items.
    """
    items: list[dict[str, Any]] = page["items"]
    common: dict[str, Any] = {}
    if len(items) > 1:
        for key in ("business_id", "customer_id", "event_name"):
            values = {item.get(key) for item in items}
            if len(values) == 1:
                common[key] = items[0][key]
    compact = [{k: v for k, v in item.items() if k not in common and v is not None} for item in items]
    body = {"common": common, "items": compact} if common else {"items": compact}
    rest = {k: v for k, v in page.items() if k != "items"}
    return to_json({**body, **rest}).decode()


def _raw_arguments(ctx: Context) -> dict[str, Any] | None:
    params = ctx.request_context.params or {}
    arguments = params.get("arguments")
    return arguments if isinstance(arguments, dict) else None


def _client(ctx: Context) -> DodoClient:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, ToolContext)
    return state.client


def _request_api_key(ctx: Context) -> SecretStr | None:
    """The calling client's own Dodo key, only when the operator opted in; used for this request only."""
    state = ctx.request_context.lifespan_context
    if not (isinstance(state, ToolContext) and state.per_client_api_key):
        return None
    request = ctx.request_context.request
    headers = getattr(request, "headers", None)
    value = headers.get(PER_CLIENT_KEY_HEADER) if headers is not None else None
    return SecretStr(value.strip()) if value and value.strip() else None


@_answering_errors
async def retrieve_event(ctx: Context) -> Annotated[CallToolResult, Event]:
    arguments = validate_arguments(RetrieveEventArguments, _raw_arguments(ctx), tool=TOOL_RETRIEVE_EVENT)
    event = await _client(ctx).retrieve_event(arguments.event_id, api_key=_request_api_key(ctx))
    return success_result(event)


@_answering_errors
async def list_events(ctx: Context) -> Annotated[CallToolResult, EventPage]:
    query = validate_arguments(ListEventsArguments, _raw_arguments(ctx), tool=TOOL_LIST_EVENTS)
    items = await _client(ctx).list_events(query, api_key=_request_api_key(ctx))
    # Dodo returns only items: a full page is the only sign that another may follow.
    has_more = len(items) >= query.page_size
    page = EventPage(
        items=items,
        page_number=query.page_number,
        page_size=query.page_size,
        has_more=has_more,
        next_page_number=query.page_number + 1 if has_more else None,
    )
    return success_result(page, page_text(page.model_dump(mode="json")))


@_answering_errors
async def ingest_events(ctx: Context) -> Annotated[CallToolResult, IngestResult]:
    request = validate_arguments(IngestEventsArguments, _raw_arguments(ctx), tool=TOOL_INGEST_EVENTS)
    client = _client(ctx)
    api_key = client.check_api_key(_request_api_key(ctx))
    events = request.events
    size = client.settings.ingest_batch_size
    starts = range(0, len(events), size)
    # One deadline for the whole call: every batch, retry and wait fits inside it.
    deadline_at = client.deadline_from_now()
    batches: dict[int, IngestBatch] = {}
    failures: dict[int, DodoError] = {}
    limiter = anyio.CapacityLimiter(client.settings.ingest_concurrency)

    async def send(start: int) -> None:
        chunk = events[start : start + size]
        async with limiter:
            try:
                outcome = await client.ingest_events(chunk, deadline_at=deadline_at, api_key=api_key)
            except DodoError as exc:
                failures[start] = exc
                batches[start] = IngestBatch(
                    first_index=start,
                    event_count=len(chunk),
                    confirmed=False,
                    ingested_count=None,
                    ignored_count=None,
                    attempts=exc.attempts,
                    error=str(exc),
                )
            else:
                ingested = min(outcome.ingested_count, len(chunk))
                batches[start] = IngestBatch(
                    first_index=start,
                    event_count=len(chunk),
                    confirmed=True,
                    ingested_count=ingested,
                    ignored_count=len(chunk) - ingested,
                    attempts=outcome.attempts,
                )
        await ctx.report_progress(sum(b.event_count for b in batches.values()), len(events), "events sent")

    async with anyio.create_task_group() as group:
        for start in starts:
            group.start_soon(send, start)

    ordered = [batches[start] for start in starts]
    unconfirmed = [
        event.event_id
        for b in ordered
        if not b.confirmed
        for event in events[b.first_index : b.first_index + b.event_count]
    ]
    result = IngestResult(
        submitted_count=len(events),
        ingested_count=sum(b.ingested_count or 0 for b in ordered),
        ignored_count=sum(b.ignored_count or 0 for b in ordered),
        unconfirmed_count=len(unconfirmed),
        unconfirmed_event_ids=unconfirmed,
        batches=ordered,
    )
    if not failures:
        return success_result(result)
    if len(ordered) == 1:
        summary = str(failures[0])
    else:
        first = failures[min(failures)]
        summary = (
            f"{len(unconfirmed)} of {len(events)} events are unconfirmed: {len(failures)} of {len(ordered)} "
            f"batches failed; the other {len(events) - len(unconfirmed)} were confirmed ({result.ingested_count} new, "
            f"{result.ignored_count} already ingested). Re-send exactly the events whose ids are in "
            "unconfirmed_event_ids with ingest_events; that is safe, Dodo ignores event_ids it already has. "
            f"First failure: {first.message}"
        )
    return CallToolResult(
        content=[TextContent(type="text", text=summary + "\n" + to_json(result.model_dump(mode="json")).decode())],
        structured_content=result.model_dump(mode="json"),
        is_error=True,
    )


_RETRIEVE_DESCRIPTION = """\
Fetch one usage event by its event_id: the id given when it was ingested.
Event IDs are case-sensitive and must match exactly. Returns the event with its customer_id, \
event_name, timestamp and complete metadata. Use it to confirm an event was recorded or to inspect \
its metadata; use list_events to search when you don't know the id."""

_LIST_DESCRIPTION = f"""\
List usage events, newest first, filtered by customer_id, event_name, meter_id (applies the meter's \
event_name and filter) and a start/end time range (RFC 3339). In the text result, fields shared by \
every item are given once under "common". Pages are 0-based: page_size is 1 to \
{MAX_PAGE_SIZE} (default 10) and page_number starts at 0. The result has items, has_more and \
next_page_number: to see more, call again with page_number=next_page_number until it is null."""

_INGEST_DESCRIPTION = f"""\
Record usage events for usage-based billing (1 to {MAX_EVENTS_PER_CALL} per call). Each event \
needs event_id, customer_id and event_name; metadata (at most 50 scalar key-value pairs) and timestamp \
(RFC 3339, within the last hour and at most 5 minutes ahead; default now) are optional. event_id is \
the idempotency key: Dodo ignores an event_id it already has, so retrying the same events is safe and \
never double-counts. Use deterministic ids such as customer + action + time. event_ids must be unique \
within one call. Every event is checked before anything is sent; if one is invalid, nothing is stored. \
Large calls are sent in batches; if a batch fails, the result lists unconfirmed_event_ids: re-send \
exactly those events."""


def build_tools() -> list[Tool]:
    """The three tools, with schemas derived from the models and all four annotations set."""
    specs: list[tuple[ToolFunction, str, str, str, type[BaseModel], ToolAnnotations]] = [
        (
            retrieve_event,
            TOOL_RETRIEVE_EVENT,
            "Retrieve a usage event",
            _RETRIEVE_DESCRIPTION,
            RetrieveEventArguments,
            ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True),
        ),
        (
            list_events,
            TOOL_LIST_EVENTS,
            "List usage events",
            _LIST_DESCRIPTION,
            ListEventsArguments,
            ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True),
        ),
        (
            ingest_events,
            TOOL_INGEST_EVENTS,
            "Ingest usage events",
            _INGEST_DESCRIPTION,
            IngestEventsArguments,
            ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True),
        ),
    ]
    tools = []
    for fn, name, title, description, arguments_model, hints in specs:
        hints.title = title
        tool = Tool.from_function(fn, name=name, title=title, description=description, annotations=hints)
        # The function takes only the context and validates the raw arguments itself;
        # publish the arguments model's schema, made portable.
        tool.parameters = portable_schema(arguments_model)
        assert tool.fn_metadata.output_schema is not None
        tool.fn_metadata.output_schema = simplify_schema(tool.fn_metadata.output_schema)
        tools.append(tool)
    return tools
