"""What a tool handler sees of a call, and what it gives back, in terms of neither the SDK nor the wire.

dodo_mcp.mcp_sdk adapts the SDK's request context to ToolCall and ToolResult to the SDK's result, so
the handlers are plain async functions of (ToolContext, ToolCall).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel
from pydantic_core import to_json

# The MCP log levels dodo-mcp sends its client (notifications/message).
LogLevel = Literal["debug", "info", "warning", "error"]


class ConfirmForm(BaseModel):
    """The yes/no form a confirmation shows the user: one boolean, `confirm`, worded by each subclass."""

    confirm: bool


class InputRequired(Exception):
    """Raised by ToolCall.confirm when the question must first reach the user and the call come again.

    The 2026-07-28 protocol asks the user between rounds of one tools/call: the server answers "input
    required" with the question, and the client calls again with the answer. So the handler stops here,
    the SDK seam answers with the question, and the handler runs anew on the next round. Nothing may
    catch it on the way out but the seam.
    """


class ToolCall(Protocol):
    """One call of a tool, as it arrived."""

    @property
    def arguments(self) -> Mapping[str, Any] | None:
        """The arguments exactly as the client sent them (None when it sent no object)."""
        ...

    def header(self, name: str) -> str | None:
        """A header of the HTTP request that carried the call (None over stdio, or when absent)."""
        ...

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Progress for the client, when it asked for it with a progress token (else nothing happens)."""
        ...

    async def log(self, level: LogLevel, message: str) -> None:
        """A log message for the client, when the level it asked for lets `level` through (else nothing happens).

        The text goes out as it is: scrub secrets first (ToolContext.log does)."""
        ...

    @property
    def can_elicit(self) -> bool:
        """Whether the client can put a question to the user during this call (MCP form elicitation)."""
        ...

    async def confirm(self, question: str, form: type[ConfirmForm]) -> bool | None:
        """Ask the user `question` with `form`: True when they confirm, False when they decline (or answer no),
        None when they dismiss it. Only when `can_elicit`. May raise InputRequired (see there)."""
        ...


@dataclass(frozen=True)
class ToolResult:
    """A tool's answer: the text every client shows the model, and structured content for those that read it."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False


def success(model: BaseModel, text: str | None = None, *, exclude_unset: bool = False) -> ToolResult:
    """structuredContent plus a compact JSON copy of it (or `text`) for clients that read only text.

    `exclude_unset` leaves out the optional fields this answer never set (a shape's other variant's)."""
    data = model.model_dump(mode="json", exclude_unset=exclude_unset)
    return ToolResult(text if text is not None else to_json(data).decode(), data)


def failure(text: str, model: BaseModel | None = None) -> ToolResult:
    """An isError answer; with `model`, its report follows the text and is the structured content too."""
    if model is None:
        return ToolResult(text, is_error=True)
    data = model.model_dump(mode="json")
    return ToolResult(text + "\n" + to_json(data).decode(), data, is_error=True)


@dataclass(frozen=True)
class ToolDefinition:
    """A tool as the SDK seam needs it: what tools/list publishes, and the function that answers a call."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    # The four MCP hints, by their snake_case names (read_only_hint, destructive_hint, ...).
    hints: Mapping[str, bool]
    answer: Callable[[ToolCall], Awaitable[ToolResult]]
    # The `ui://` view (tools.views) a host supporting MCP Apps draws the results with; None: text only.
    view_uri: str | None = None


class RequestHeaders(Protocol):
    """Any request as far as its HTTP headers go: a tool call, a completion request."""

    def header(self, name: str) -> str | None:
        """A header of the HTTP request that carried it (None over stdio, or when absent)."""
        ...
