"""The tools, each a thin function: validate the raw arguments once, call the API layer, shape the answer.

Each reads its raw arguments and validates them with its model (tools.arguments), so unknown
arguments are reported rather than dropped and every message is ours. `answering_errors` turns
every failure into an isError result whose text says what went wrong and what to do next, and is the
one choke point that takes every secret out of every result, whatever Dodo echoed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import SecretStr
from pydantic_core import to_json

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import DodoError, NotFoundError
from dodo_mcp.api.notices import Notice, RetryNotice, listening
from dodo_mcp.api.redaction import scrub, secret_values
from dodo_mcp.config import PER_CLIENT_KEY_HEADER
from dodo_mcp.tools.arguments import InvalidArgumentsError, validate_arguments
from dodo_mcp.tools.call import InputRequired, LogLevel, RequestHeaders, ToolCall, ToolResult, failure, success
from dodo_mcp.tools.explain import explain
from dodo_mcp.tools.ingest import ingest, ingest_answer, unconfirmed_batch_notices
from dodo_mcp.tools.list_text import page_text
from dodo_mcp.tools.live_confirmation import live_ingest_refusal
from dodo_mcp.tools.messages import error_text, retry_notice
from dodo_mcp.tools.models import (
    EventPage,
    ExplainMeterMatchArguments,
    IngestEventsArguments,
    ListEventsArguments,
    ListMetersArguments,
    MeterPage,
    RetrieveEventArguments,
    SummarizeEventsArguments,
    UsageEvent,
    UsageHistoryArguments,
    UsageHistoryPage,
    UsageMeter,
    UsagePeriod,
)
from dodo_mcp.tools.names import (
    TOOL_EXPLAIN_METER_MATCH,
    TOOL_INGEST_EVENTS,
    TOOL_LIST_EVENTS,
    TOOL_LIST_METERS,
    TOOL_RETRIEVE_EVENT,
    TOOL_SUMMARIZE_EVENTS,
    TOOL_USAGE_HISTORY,
)
from dodo_mcp.tools.summarize import summarize, summary_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolContext:
    """What the tools share for the life of the server: the one DodoClient, the key policy, the call guard."""

    client: DodoClient
    # Whether a client may send its own Dodo key (PER_CLIENT_KEY_HEADER) for its calls.
    per_client_api_key: bool = False
    # Entered around every call: the server wiring counts calls in flight with it, so a shutdown can wait.
    call_guard: AbstractContextManager[Any] = field(default_factory=nullcontext)
    # Secrets besides the Dodo keys that no result may carry: the HTTP transport's auth token.
    secrets: tuple[str, ...] = ()

    def api_key(self, call: RequestHeaders) -> SecretStr | None:
        """The calling client's own Dodo key, only when the operator opted in; used for this request only."""
        if not self.per_client_api_key:
            return None
        value = call.header(PER_CLIENT_KEY_HEADER)
        return SecretStr(value.strip()) if value and value.strip() else None

    def secrets_of(self, call: ToolCall) -> tuple[str, ...]:
        """What nothing sent to the client may carry: the server's key, the caller's own key and the auth token."""
        keys = (self.client.settings.api_key, self.api_key(call))
        return secret_values([*self.secrets, *(key.get_secret_value() for key in keys if key is not None)])

    def without_secrets(self, result: ToolResult, call: ToolCall) -> ToolResult:
        """`result` with the server's key, the caller's own key and the auth token taken out of it."""
        secrets = self.secrets_of(call)
        # The text carries the structured content's data, so a secret absent from it is absent from both,
        # and the common case costs one substring search per secret.
        if not any(secret in result.text or _json_escaped(secret) in result.text for secret in secrets):
            return result
        return replace(result, text=scrub(result.text, secrets), structured=scrub(result.structured, secrets))

    async def log(self, call: ToolCall, level: LogLevel, message: str) -> None:
        """A log message for the client of `call`, with every secret taken out first, whatever Dodo echoed."""
        await call.log(level, scrub(message, self.secrets_of(call)))


def _json_escaped(text: str) -> str:
    return to_json(text).decode()[1:-1]


Handler = Callable[[ToolContext, ToolCall], Awaitable[ToolResult]]


def answering_errors(name: str, handler: Handler) -> Handler:
    """`handler`, with every failure turned into an isError result the agent can act on."""

    @functools.wraps(handler)
    async def call(context: ToolContext, tool_call: ToolCall) -> ToolResult:
        async def tell_client(notice: Notice) -> None:
            # Retries and rate-limit waits, not each request.
            if isinstance(notice, RetryNotice):
                await context.log(tool_call, "info", retry_notice(notice))

        try:
            with context.call_guard, listening(tell_client):
                return context.without_secrets(await handler(context, tool_call), tool_call)
        except InputRequired:
            # Not a failure: the question goes to the user, and the call comes again with the answer.
            raise
        except (DodoError, InvalidArgumentsError) as exc:
            logger.info("%s failed: %s", name, type(exc).__name__)
            text = error_text(exc) if isinstance(exc, DodoError) else str(exc)
            return context.without_secrets(failure(text), tool_call)
        except Exception:
            # A bug of ours: the traceback goes to stderr, never to the agent.
            logger.exception("%s crashed", name)
            return failure(
                f"dodo-mcp hit an internal error in {name} (details are in the server's log on stderr). "
                "The server is still running; try the call once more, and report the problem if it repeats."
            )

    return call


async def retrieve_event(context: ToolContext, call: ToolCall) -> ToolResult:
    arguments = validate_arguments(RetrieveEventArguments, call.arguments, tool=TOOL_RETRIEVE_EVENT)
    event = await context.client.retrieve_event(arguments.event_id, api_key=context.api_key(call), model=UsageEvent)
    return success(event)


async def list_events(context: ToolContext, call: ToolCall) -> ToolResult:
    query = validate_arguments(ListEventsArguments, call.arguments, tool=TOOL_LIST_EVENTS)
    items = await context.client.list_events(query, api_key=context.api_key(call), model=UsageEvent)
    page = EventPage.of(items, query)
    data = page.model_dump(mode="json")
    return ToolResult(page_text(data), data)


async def list_meters(context: ToolContext, call: ToolCall) -> ToolResult:
    query = validate_arguments(ListMetersArguments, call.arguments, tool=TOOL_LIST_METERS)
    items = await context.client.list_meters(query, api_key=context.api_key(call), model=UsageMeter)
    return success(MeterPage.of(items, query))


async def ingest_events(context: ToolContext, call: ToolCall) -> ToolResult:
    arguments = validate_arguments(IngestEventsArguments, call.arguments, tool=TOOL_INGEST_EVENTS)
    # A missing key is said before the user is asked to confirm anything.
    key = context.client.check_api_key(context.api_key(call))
    refusal = await live_ingest_refusal(context.client.settings, call, arguments.events)
    if refusal is not None:
        return refusal

    async def progress(sent: int, total: int) -> None:
        await call.report_progress(sent, total, "events sent")

    result, failures = await ingest(context.client, arguments.events, api_key=key, progress=progress)
    for notice in unconfirmed_batch_notices(result, failures):
        await context.log(call, "warning", notice)
    return ingest_answer(result, failures)


async def summarize_events(context: ToolContext, call: ToolCall) -> ToolResult:
    arguments = validate_arguments(SummarizeEventsArguments, call.arguments, tool=TOOL_SUMMARIZE_EVENTS)

    async def progress(scanned: int, cap: int) -> None:
        await call.report_progress(scanned, cap, f"{scanned} events scanned")

    summary = await summarize(context.client, arguments, api_key=context.api_key(call), progress=progress)
    return success(summary, summary_text(summary))


async def explain_meter_match(context: ToolContext, call: ToolCall) -> ToolResult:
    arguments = validate_arguments(ExplainMeterMatchArguments, call.arguments, tool=TOOL_EXPLAIN_METER_MATCH)
    # With a meter_id the answer is today's single verdict; `meters` and `complete` only come without one.
    return success(await explain(context.client, arguments, api_key=context.api_key(call)), exclude_unset=True)


async def usage_history(context: ToolContext, call: ToolCall) -> ToolResult:
    query = validate_arguments(UsageHistoryArguments, call.arguments, tool=TOOL_USAGE_HISTORY)
    key = context.api_key(call)
    try:
        items = await context.client.usage_history(query, api_key=key, model=UsagePeriod)
    except NotFoundError:
        # Dodo's 404 does not say whether the subscription or the meter is missing: ask about the meter,
        # whose own 404 then names it (only on this error path, so a good call costs one request).
        if query.meter_id is not None:
            await context.client.retrieve_meter(query.meter_id, api_key=key)
        raise
    return success(UsageHistoryPage.of(items, query))
