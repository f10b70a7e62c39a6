"""The tool names, and which tools to serve.

Kept free of imports so the CLI can name the tools in --help and check --tools without loading them.
"""

from __future__ import annotations

from collections.abc import Sequence

TOOL_RETRIEVE_EVENT = "retrieve_event"
TOOL_LIST_EVENTS = "list_events"
TOOL_INGEST_EVENTS = "ingest_events"
TOOL_SUMMARIZE_EVENTS = "summarize_events"
TOOL_EXPLAIN_METER_MATCH = "explain_meter_match"
TOOL_LIST_METERS = "list_meters"
TOOL_USAGE_HISTORY = "usage_history"
# Every tool, in the order tools/list shows them.
TOOL_NAMES = (
    TOOL_RETRIEVE_EVENT,
    TOOL_LIST_EVENTS,
    TOOL_INGEST_EVENTS,
    TOOL_SUMMARIZE_EVENTS,
    TOOL_EXPLAIN_METER_MATCH,
    TOOL_LIST_METERS,
    TOOL_USAGE_HISTORY,
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
