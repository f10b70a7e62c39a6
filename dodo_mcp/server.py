"""The server wiring: the MCPServer with its tools, prompts and instructions, the one DodoClient, and the calls
in flight.

The transports (stdio.py, http_transport.py) serve what `build_server` returns (or, on stdio, what
`start_server` does, installed after the handshake); the tools layer knows nothing of them. The shared state lives here: the client (opened by the lifespan, which the
SSE transport runs once per connection, so it is reference-counted) and InFlightCalls, which a
shutdown waits on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
from mcp.server.mcpserver import MCPServer
from mcp_types import JSONRPCMessage

from dodo_mcp import __version__
from dodo_mcp.api.limits import (
    DEFAULT_PAGE_SIZE,
    MAX_EVENTS_PER_CALL,
    MAX_EVENTS_PER_REQUEST,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
    MAX_PAGE_SIZE,
    MAX_SCAN_EVENTS,
)
from dodo_mcp.config import Settings
from dodo_mcp.jsonrpc import OnePass, Refusal, read_message
from dodo_mcp.mcp_sdk import (
    WatchRequest,
    add_tools,
    advertise_what_is_served,
    app_views,
    check_prompt_requests,
    sdk_tool,
    serve_client_logging,
    serve_completions,
    watch_requests,
)
from dodo_mcp.tools.messages import IDEMPOTENT
from dodo_mcp.tools.names import (
    TOOL_EXPLAIN_METER_MATCH,
    TOOL_INGEST_EVENTS,
    TOOL_LIST_EVENTS,
    TOOL_LIST_METERS,
    TOOL_NAMES,
    TOOL_SUMMARIZE_EVENTS,
    TOOL_USAGE_HISTORY,
)
from dodo_mcp.tools.prompts import prompt_request_problem, served_prompts
from dodo_mcp.tools.views import served_views

if TYPE_CHECKING:
    # Imported by ServerStart.install: DodoClient, the models and the handlers are what the tools need,
    # and nothing the handshake does.
    from dodo_mcp.api.client import DodoClient
    from dodo_mcp.tools.completion import Completer, CompletionAnswer, CompletionRequest

SERVER_NAME = "dodo-mcp"
SERVER_TITLE = "Dodo Payments usage events"
WEBSITE_URL = "https://github.com/dodo-mcp/dodo-mcp"


class InFlightCalls:
    """Counts tool calls in progress, so a shutdown can wait for them to finish. Enter it around each call."""

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


def instructions(settings: Settings, tools: Collection[str] = TOOL_NAMES) -> str:
    """What the agent should know before its first call, about the tools it has."""
    parts = [
        "dodo-mcp reads and records Dodo Payments usage events, the events that drive usage-based billing.\n"
        f"Calls go to {settings.target}."
    ]
    if TOOL_INGEST_EVENTS in tools:
        parts.append(f"""\
Ingest rules (ingest_events): 1 to {MAX_EVENTS_PER_CALL} events per call (sent in batches of at most \
{MAX_EVENTS_PER_REQUEST}). event_id is the idempotency \
key: {IDEMPOTENT}, so re-sending the same events after an error is safe and \
never double-counts; use deterministic ids (customer + action + time), unique within a call. timestamp \
is RFC 3339 within the last hour and at most 5 minutes ahead (omit it for now). metadata holds at most \
{MAX_METADATA_KEYS} keys of at most {MAX_METADATA_KEY_LENGTH} characters, with string (at most \
{MAX_METADATA_STRING_LENGTH} characters), number or boolean values; no objects or arrays.""")
    if TOOL_LIST_EVENTS in tools:
        parts.append(f"""\
Paging (list_events): pages are 0-based, newest first; page_size 1 to {MAX_PAGE_SIZE} (default \
{DEFAULT_PAGE_SIZE}). Call again with page_number=next_page_number until next_page_number is null. \
Narrow with customer_id, event_name, meter_id or a start/end range rather than paging through everything.""")
    if TOOL_SUMMARIZE_EVENTS in tools:
        parts.append(f"""\
Totals and breakdowns (summarize_events): count, sum, max or last per customer_id, event_name, \
metadata.<key>, hour or day, computed from at most {MAX_SCAN_EVENTS:,} events per call; use it instead of \
paging list_events. If complete is false, follow its note.""")
    if TOOL_EXPLAIN_METER_MATCH in tools:
        parts.append(
            "Why a meter does or does not count an event (explain_meter_match): the first failing condition of "
            "the meter's event_name and filter; without meter_id, every active meter is checked at once."
        )
    if TOOL_LIST_METERS in tools:
        parts.append(
            "Meter ids (list_meters): the business's meters with their event_name, aggregation and filter; look "
            "a meter_id up there rather than asking the user for it."
        )
    if TOOL_USAGE_HISTORY in tools:
        parts.append(
            "What a customer is billed for usage (usage_history): a subscription's billing periods with each meter's "
            "consumed, free and chargeable units and price; compare a period with summarize_events over the same "
            "customer, meter_id and start/end to go from events to the bill."
        )
    parts.append("Errors come back as tool results that say what to fix; follow them rather than retrying blindly.")
    return "\n\n".join(parts)


def build_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    client: DodoClient | None = None,
    per_client_api_key: bool = False,
    in_flight: InFlightCalls | None = None,
    tools: Collection[str] = TOOL_NAMES,
    secrets: Collection[str] = (),
    watch: WatchRequest | None = None,
) -> MCPServer[Any]:
    """The MCP server for these settings, serving `tools` (see tools.names.select_tools) and the prompts they allow.

    Pass `client` to share one across servers or connections, `in_flight` to wait for calls at shutdown, and
    `secrets` (the HTTP auth token) to keep them out of every tool result as the Dodo keys are, and `watch`
    to run every request inside it (the HTTP transport's metrics).
    """
    start = start_server(
        settings,
        transport=transport,
        client=client,
        per_client_api_key=per_client_api_key,
        in_flight=in_flight,
        tools=tools,
        secrets=secrets,
        watch=watch,
    )
    start.install()
    return start.server


@dataclass
class ServerStart:
    """A server that can answer the handshake, and `install`, which adds what every other request needs.

    `initialize` needs the name, the instructions and the capabilities, which light modules give; the
    tools, prompts and completion need DodoClient, the models and the handlers, some 50 ms of imports and
    schemas. The stdio transport answers `initialize` first and installs the rest before it reads the next
    message (stdio.serve_stdio's `install`); build_server installs at once.
    """

    server: MCPServer[Any]
    install: Callable[[], None]
    _slot: _ClientSlot
    # Filled by install: the reader of an ingest_events call in one pass (tools.one_pass).
    _one_pass: list[OnePass]

    def read_message(self, data: bytes, what: str = "line") -> JSONRPCMessage | Refusal:
        """jsonrpc.read_message for the transports: once installed, an ingest_events call is read in one pass."""
        return read_message(data, what, self._one_pass[0] if self._one_pass else None)

    @property
    def client(self) -> DodoClient:
        """The server's DodoClient (given, or made by `install`), to hold for the life of a process."""
        assert self._slot.client is not None, "install first"
        return self._slot.client


def start_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    client: DodoClient | None = None,
    per_client_api_key: bool = False,
    in_flight: InFlightCalls | None = None,
    tools: Collection[str] = TOOL_NAMES,
    secrets: Collection[str] = (),
    watch: WatchRequest | None = None,
) -> ServerStart:
    """build_server's server, its tools, prompts and completion left to `install` (see ServerStart)."""
    slot = _ClientSlot(client)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[_ClientSlot]:
        # DodoClient is reference-counted: the SSE transport runs this once per
        # connection, and every connection shares the one HTTP client.
        async with slot:
            yield slot

    server: MCPServer[Any] = MCPServer(
        SERVER_NAME,
        title=SERVER_TITLE,
        version=__version__,
        instructions=instructions(settings, tools),
        website_url=WEBSITE_URL,
        lifespan=lifespan,
        log_level=settings.log_level,  # type: ignore[arg-type]
        # The MCP App views of the tools served (tools.views): ui:// resources, and the extension advertised.
        extensions=[app_views(views)] if (views := served_views(tools)) else None,
        # No subscriptions/listen: the tools and prompts served never change during a session, so a
        # 2026-07-28 client is not told to listen for changes (listChanged stays false, as on the handshake).
        subscriptions=False,
    )
    # What is advertised is what will be served: the tools selected, and the prompts they allow.
    advertise_what_is_served(server, tools=bool(tools), prompts=bool(served_prompts(tools)))
    # Retries, rate-limit waits and unconfirmed ingest batches reach the client as log messages.
    serve_client_logging(server)
    if watch is not None:
        watch_requests(server, watch)
    # Served from the start, so the handshake advertises it; answered by the Completer `install` makes.
    completers: list[Completer] = []

    async def complete(request: CompletionRequest) -> CompletionAnswer:
        return await completers[0].complete(request)

    serve_completions(server, complete)
    one_pass: list[OnePass] = []

    def install() -> None:
        from dodo_mcp.api.client import DodoClient
        from dodo_mcp.tools.completion import Completer
        from dodo_mcp.tools.handlers import ToolContext
        from dodo_mcp.tools.registry import tool_definitions

        dodo = slot.fill(client or DodoClient(settings, transport=transport))
        context = ToolContext(
            client=dodo,
            per_client_api_key=per_client_api_key,
            call_guard=in_flight or InFlightCalls(),
            secrets=tuple(secrets),
        )
        add_tools(server, [sdk_tool(definition) for definition in tool_definitions(context, tools)])
        for spec, render in served_prompts(tools):
            server.prompt(name=spec.name, title=spec.title, description=spec.description)(render)
        check_prompt_requests(server, lambda name, arguments: prompt_request_problem(tools, name, arguments))
        completers.append(Completer(context, tools))
        if TOOL_INGEST_EVENTS in tools:
            from dodo_mcp.tools.one_pass import read_ingest_call

            one_pass.append(read_ingest_call)

    return ServerStart(server, install, slot, one_pass)


class _ClientSlot:
    """Where the one DodoClient goes once the tools are installed, entered by every running lifespan.

    A lifespan that starts before the client exists (stdio: serving begins, then the handshake, then
    `install`) counts as its user from the moment it is filled in."""

    def __init__(self, client: DodoClient | None) -> None:
        self.client = client
        self._lifespans = 0

    def fill(self, client: DodoClient) -> DodoClient:
        self.client = client
        for _ in range(self._lifespans):
            client.enter()
        return client

    async def __aenter__(self) -> _ClientSlot:
        self._lifespans += 1
        if self.client is not None:
            self.client.enter()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._lifespans -= 1
        if self.client is not None:
            await self.client.__aexit__(*exc_info)
