"""The MCP tools: shape the inputs, call DodoClient, shape the results.

retrieve_event, list_events and ingest_events forward one Dodo operation each; summarize_events and
explain_meter_match compute their answers here from Dodo's events and meters (see insights.py).

Each tool reads its raw arguments from the request and validates them once
with its model (see arguments.py), so unknown arguments are reported rather
than dropped and every message is ours. Every failure comes back as an
`isError` result whose text says what went wrong and what to do next.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
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
from dodo_mcp.insights import (
    DEFAULT_SCAN_EVENTS,
    MAX_SCAN_EVENTS,
    EventSummary,
    ExplainMeterMatchArguments,
    MeterMatch,
    SummarizeEventsArguments,
    explain,
    summarize,
    summary_text,
)
from dodo_mcp.models import (
    MAX_EVENTS_PER_CALL,
    MAX_ID_LENGTH,
    MAX_PAGE_NUMBER,
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
TOOL_SUMMARIZE_EVENTS = "summarize_events"
TOOL_EXPLAIN_METER_MATCH = "explain_meter_match"
# Every tool, in the order tools/list shows them.
TOOL_NAMES = (
    TOOL_RETRIEVE_EVENT,
    TOOL_LIST_EVENTS,
    TOOL_INGEST_EVENTS,
    TOOL_SUMMARIZE_EVENTS,
    TOOL_EXPLAIN_METER_MATCH,
)
# The tools that change anything in Dodo; --read-only hides them.
WRITE_TOOLS = frozenset({TOOL_INGEST_EVENTS})


class ToolSelectionError(ValueError):
    """--tools / DODO_MCP_TOOLS named a tool that does not exist, or left none."""


def select_tools(names: Sequence[str] | None = None, *, read_only: bool = False) -> list[str]:
    """The names of the tools to serve, in TOOL_NAMES order: `names` (all when None), minus WRITE_TOOLS when read-only."""
    chosen = list(TOOL_NAMES) if names is None else [name.strip() for name in names if name.strip()]
    unknown = [name for name in chosen if name not in TOOL_NAMES]
    if unknown:
        raise ToolSelectionError(
            f"unknown tool{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}; "
            f"valid names: {', '.join(TOOL_NAMES)}"
        )
    selected = [name for name in TOOL_NAMES if name in chosen and not (read_only and name in WRITE_TOOLS)]
    if not selected:
        raise ToolSelectionError(
            f"no tools left to serve (read-only hides {', '.join(sorted(WRITE_TOOLS))}); "
            f"valid names: {', '.join(TOOL_NAMES)}"
        )
    return selected


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


@_answering_errors
async def summarize_events(ctx: Context) -> Annotated[CallToolResult, EventSummary]:
    arguments = validate_arguments(SummarizeEventsArguments, _raw_arguments(ctx), tool=TOOL_SUMMARIZE_EVENTS)

    async def progress(scanned: int, cap: int) -> None:
        # A no-op unless the client sent a progress token.
        await ctx.report_progress(scanned, cap, f"{scanned} events scanned")

    summary = await summarize(_client(ctx), arguments, api_key=_request_api_key(ctx), progress=progress)
    return success_result(summary, summary_text(summary))


@_answering_errors
async def explain_meter_match(ctx: Context) -> Annotated[CallToolResult, MeterMatch]:
    arguments = validate_arguments(ExplainMeterMatchArguments, _raw_arguments(ctx), tool=TOOL_EXPLAIN_METER_MATCH)
    match = await explain(_client(ctx), arguments, api_key=_request_api_key(ctx))
    return success_result(match)


_RETRIEVE_DESCRIPTION = """\
Fetch one usage event by its event_id (case-sensitive, exact match): its customer_id, event_name, \
timestamp and metadata. To search without the id, use list_events."""

_LIST_DESCRIPTION = """\
List usage events, newest first, by customer_id, event_name, meter_id and start/end. Pages are \
0-based: call again with page_number=next_page_number until it is null. Text results give fields shared \
by every item once, under "common". For totals, use summarize_events."""

_INGEST_DESCRIPTION = f"""\
Record usage events for billing, 1 to {MAX_EVENTS_PER_CALL} per call. event_id is the idempotency key: \
Dodo ignores ids it already has, so retrying is safe; use deterministic ids (customer + action + time), \
unique within a call. One invalid event means nothing is sent. If a batch fails, re-send exactly the \
unconfirmed_event_ids."""

_SUMMARIZE_DESCRIPTION = f"""\
Count, sum, max or last of a metadata key over usage events, grouped by customer_id, event_name, \
metadata.<key>, hour or day. Same filters as list_events; scans the newest max_events matches \
(default {DEFAULT_SCAN_EVENTS:,}, at most {MAX_SCAN_EVENTS:,}) itself. Prefer it to paging list_events \
for totals. complete=false: the scan stopped; narrow as note says."""

_EXPLAIN_DESCRIPTION = """\
Say whether a meter counts an event, checking the meter's event_name and filter locally; if not, \
name the first failing condition and why (missing key, type mismatch or failed comparison)."""

_READ_ONLY = {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True, "open_world_hint": True}
_INGEST_HINTS = {**_READ_ONLY, "read_only_hint": False}

# name -> (function, title, description, arguments model, annotations)
_SPECS: dict[str, tuple[ToolFunction, str, str, type[BaseModel], dict[str, bool]]] = {
    TOOL_RETRIEVE_EVENT: (
        retrieve_event,
        "Retrieve a usage event",
        _RETRIEVE_DESCRIPTION,
        RetrieveEventArguments,
        _READ_ONLY,
    ),
    TOOL_LIST_EVENTS: (list_events, "List usage events", _LIST_DESCRIPTION, ListEventsArguments, _READ_ONLY),
    TOOL_INGEST_EVENTS: (
        ingest_events,
        "Ingest usage events",
        _INGEST_DESCRIPTION,
        IngestEventsArguments,
        _INGEST_HINTS,
    ),
    TOOL_SUMMARIZE_EVENTS: (
        summarize_events,
        "Summarize usage events",
        _SUMMARIZE_DESCRIPTION,
        SummarizeEventsArguments,
        _READ_ONLY,
    ),
    TOOL_EXPLAIN_METER_MATCH: (
        explain_meter_match,
        "Explain a meter match",
        _EXPLAIN_DESCRIPTION,
        ExplainMeterMatchArguments,
        _READ_ONLY,
    ),
}


# Shorter wording, for tools/list only, of the longest property descriptions in models.py (which keep
# Dodo's own wording): every conversation reads tools/list in full, and all five tools must fit in
# 2,500 tokens. Paths are checked when the tools are built, so a renamed field cannot go unnoticed.
_EVENT_SHORTER = {
    "customer_id": "The customer whose usage it is",
    "event_id": "Idempotency key, as ingested",
    "timestamp": "When it happened (RFC 3339)",
    "metadata": "Key-value metadata: string, number or boolean values",
}
_SHORTER: dict[tuple[str, str], dict[str, str]] = {
    (TOOL_LIST_EVENTS, "input"): {
        "event_name": "Only this event_name (with meter_id, it must be the meter's)",
        "meter_id": "Only events the meter counts (its event_name and filter)",
        "start": "Events after this time (RFC 3339, e.g. 2026-01-14T10:30:00Z)",
        "end": "Events before this time (RFC 3339)",
        "page_size": f"Events per page, 1 to {MAX_PAGE_SIZE} (default 10)",
        "page_number": "0-based page (default 0)",
    },
    (TOOL_LIST_EVENTS, "output"): {
        **{f"items[].{name}": text for name, text in _EVENT_SHORTER.items()},
        "has_more": "True when the page came back full: another may follow",
        "next_page_number": "The page_number to ask for next; null at the end",
    },
    (TOOL_RETRIEVE_EVENT, "output"): _EVENT_SHORTER,
    (TOOL_INGEST_EVENTS, "input"): {
        "events": f"1 to {MAX_EVENTS_PER_CALL} events, sent in batches; event_ids unique across the call",
        "events[].event_id": "Idempotency key: ids Dodo already has are ignored. E.g. customer + action + time",
        "events[].customer_id": "The customer whose usage this is",
        "events[].timestamp": "RFC 3339, within the last hour, at most 5 minutes ahead (default now)",
        "events[].metadata": "At most 50 keys of at most 100 characters; string (at most 500 characters), "
        "number or boolean values",
    },
    (TOOL_INGEST_EVENTS, "output"): {
        "ignored_count": "How many Dodo already had (by event_id), so ignored",
        "unconfirmed_event_ids": "Re-send exactly these events; it is safe",
        "batches[].first_index": "Index of its first event",
        "batches[].event_count": "Events in the batch",
        "batches[].confirmed": "Dodo confirmed it holds the whole batch",
        "batches[].ingested_count": "New events; null if unconfirmed",
        "batches[].ignored_count": "Events Dodo already had; null if unconfirmed",
        "batches[].attempts": "Requests, retries included",
        "batches[].error": "Why unconfirmed, and what to do",
    },
}


def _reword(schema: dict[str, Any], path: str, text: str) -> None:
    node = schema
    for part in path.split("."):
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
    assert "description" in node, path
    node["description"] = text


def lean_schema(node: Any, *, is_property: bool = False) -> Any:
    """A portable schema without what costs context and tells the model nothing.

    Every tools/list is read in full on every conversation: "default": null, the descriptions of
    whole objects (the tool description says it; the properties' own descriptions are kept) and a
    page_number maximum of 2**31-1 are dropped, and so are the id length bounds (1 to 512): the
    arguments are still checked against them, with a message that says so.
    """
    if isinstance(node, list):
        return [lean_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    is_identifier = node.get("maxLength") == MAX_ID_LENGTH and node.get("minLength") == 1
    for key, value in node.items():
        if is_identifier and key in ("maxLength", "minLength"):
            continue
        if key == "default" and value is None:
            continue
        if key == "description" and not is_property and node.get("type") in ("object", ["object", "null"]):
            continue
        if key == "maximum" and value == MAX_PAGE_NUMBER:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: lean_schema(prop, is_property=True) for name, prop in value.items()}
        else:
            out[key] = lean_schema(value)
    return out


def build_tools(names: Collection[str] | None = None) -> list[Tool]:
    """The tools named (all when None), with schemas derived from the models and all four annotations set."""
    tools = []
    for name in TOOL_NAMES:
        if names is not None and name not in names:
            continue
        fn, title, description, arguments_model, hints = _SPECS[name]
        annotations = ToolAnnotations(title=title, **hints)
        tool = Tool.from_function(fn, name=name, title=title, description=description, annotations=annotations)
        # The function takes only the context and validates the raw arguments itself;
        # publish the arguments model's schema, made portable.
        tool.parameters = lean_schema(portable_schema(arguments_model))
        assert tool.fn_metadata.output_schema is not None
        tool.fn_metadata.output_schema = lean_schema(simplify_schema(tool.fn_metadata.output_schema))
        for (owner, side), texts in _SHORTER.items():
            if owner == name:
                for path, text in texts.items():
                    _reword(tool.parameters if side == "input" else tool.fn_metadata.output_schema, path, text)
        tools.append(tool)
    return tools
