"""Every tool as one ToolSpec: its name, its models, its handler and whether it writes; and what to serve.

To add a tool: its argument and result models in tools.models (with its title and description),
its handler in tools.handlers, a ToolSpec here and its name in tools.names. The checklist of the
rest (client method, sandbox route, manifest, README, tests) is in the README's architecture section.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from dodo_mcp.tools import handlers
from dodo_mcp.tools.call import ToolCall, ToolDefinition, ToolResult
from dodo_mcp.tools.handlers import Handler, ToolContext, answering_errors
from dodo_mcp.tools.models import (
    EventPage,
    EventSummary,
    ExplainMeterMatchArguments,
    IngestEventsArguments,
    IngestResult,
    ListEventsArguments,
    ListMetersArguments,
    MeterMatch,
    MeterPage,
    RetrieveEventArguments,
    SummarizeEventsArguments,
    ToolArguments,
    UsageEvent,
    UsageHistoryArguments,
    UsageHistoryPage,
)
from dodo_mcp.tools.names import (
    TOOL_EXPLAIN_METER_MATCH,
    TOOL_INGEST_EVENTS,
    TOOL_LIST_EVENTS,
    TOOL_LIST_METERS,
    TOOL_NAMES,
    TOOL_RETRIEVE_EVENT,
    TOOL_SUMMARIZE_EVENTS,
    TOOL_USAGE_HISTORY,
    WRITE_TOOLS,
)
from dodo_mcp.tools.schemas import Role, published_schema
from dodo_mcp.tools.views import view_of


@dataclass(frozen=True)
class ToolSpec:
    """One tool: what it takes and returns, the function that answers it, and whether it changes anything."""

    name: str
    arguments: type[ToolArguments]
    result: type[BaseModel]
    handler: Handler

    @property
    def hints(self) -> Mapping[str, bool]:
        """All four MCP annotations. Every tool reaches Dodo (open world) and is safe to repeat: reads are,
        and ingest is idempotent by event_id, so nothing is destructive."""
        return {
            "read_only_hint": self.name not in WRITE_TOOLS,
            "destructive_hint": False,
            "idempotent_hint": True,
            "open_world_hint": True,
        }

    def definition(self, context: ToolContext) -> ToolDefinition:
        handler = answering_errors(self.name, self.handler)

        async def answer(call: ToolCall) -> ToolResult:
            return await handler(context, call)

        return ToolDefinition(
            name=self.name,
            title=self.arguments.tool_title,
            description=self.arguments.tool_description,
            input_schema=_schema(self.arguments, "input"),
            output_schema=_schema(self.result, "output"),
            hints=self.hints,
            answer=answer,
            view_uri=view.uri if (view := view_of(self.name)) is not None else None,
        )


TOOL_SPECS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(TOOL_RETRIEVE_EVENT, RetrieveEventArguments, UsageEvent, handlers.retrieve_event),
        ToolSpec(TOOL_LIST_EVENTS, ListEventsArguments, EventPage, handlers.list_events),
        ToolSpec(TOOL_INGEST_EVENTS, IngestEventsArguments, IngestResult, handlers.ingest_events),
        ToolSpec(TOOL_SUMMARIZE_EVENTS, SummarizeEventsArguments, EventSummary, handlers.summarize_events),
        ToolSpec(TOOL_EXPLAIN_METER_MATCH, ExplainMeterMatchArguments, MeterMatch, handlers.explain_meter_match),
        ToolSpec(TOOL_LIST_METERS, ListMetersArguments, MeterPage, handlers.list_meters),
        ToolSpec(TOOL_USAGE_HISTORY, UsageHistoryArguments, UsageHistoryPage, handlers.usage_history),
    )
}
assert tuple(TOOL_SPECS) == TOOL_NAMES


def tool_definitions(context: ToolContext, names: Collection[str] | None = None) -> list[ToolDefinition]:
    """The tools named (all when None), in TOOL_NAMES order, answering with `context`."""
    return [spec.definition(context) for name, spec in TOOL_SPECS.items() if names is None or name in names]


@functools.cache
def _schema(model: type[BaseModel], role: Role) -> dict[str, Any]:
    # Made once per process: every server built (one per test, or per SSE connection) publishes the same.
    return published_schema(model, role)
