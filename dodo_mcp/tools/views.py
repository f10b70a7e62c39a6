"""The MCP App views (the io.modelcontextprotocol/ui extension): which tool results a host may draw, and with what.

A view is a `ui://` HTML resource that hosts supporting MCP Apps render in a sandboxed iframe beside a tool's
answer, handing it the tool's result; a tool names it in `_meta.ui.resourceUri`. The results themselves do
not change: a client that does not negotiate the extension reads exactly the same text and
structuredContent. The HTML is built from app/ (see app/build.mjs) and ships in the package as ui/usage.html.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources

from dodo_mcp.tools.names import TOOL_SUMMARIZE_EVENTS, TOOL_USAGE_HISTORY


@dataclass(frozen=True)
class AppView:
    """One `ui://` view: what resources/list says of it, the tools whose results it draws, and its HTML file."""

    uri: str
    name: str
    title: str
    description: str
    tools: tuple[str, ...]
    # The file under dodo_mcp/ui/.
    file: str

    def html(self) -> str:
        return resources.files("dodo_mcp").joinpath("ui").joinpath(self.file).read_text(encoding="utf-8")


USAGE_VIEW = AppView(
    uri="ui://dodo/usage",
    name="usage",
    title="Usage chart",
    description=(
        "Draws summarize_events (per hour or day: a time series; else sorted bars) and usage_history "
        "(free and chargeable units per billing period)."
    ),
    tools=(TOOL_SUMMARIZE_EVENTS, TOOL_USAGE_HISTORY),
    file="usage.html",
)

APP_VIEWS: tuple[AppView, ...] = (USAGE_VIEW,)


def view_of(tool: str) -> AppView | None:
    """The view that draws `tool`'s results, if one does."""
    return next((view for view in APP_VIEWS if tool in view.tools), None)


def served_views(tools: Collection[str]) -> list[AppView]:
    """The views of the tools served: none when --tools leaves out every tool a view draws."""
    return [view for view in APP_VIEWS if any(tool in tools for tool in view.tools)]
