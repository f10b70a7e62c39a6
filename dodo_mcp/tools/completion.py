"""Argument completion (MCP completion/complete): real ids for the prompts' id arguments, from Dodo itself.

A client that supports completion offers these values as the user types a prompt's arguments (its
slash command). Each argument name that completes has one value source (SOURCES): a listing read in
one bounded scan, whose rows carry the completable fields.

- customer_id and event_name: the newest events (GET /events, newest first, COMPLETION_PAGES pages of
  100), narrowed upstream by the other one when the client already chose it (event names of the chosen
  customer; customers that sent the chosen event name);
- meter_id: the active meters (GET /meters, COMPLETION_PAGES pages of 100), narrowed to those of the
  chosen event_name;
- subscription_id: the newest subscriptions (GET /subscriptions, COMPLETION_PAGES pages of 100),
  narrowed upstream to the chosen customer_id's.
A narrowing that leaves nothing (a customer with no events yet, a meter of another event name: what
investigate_missing_usage looks for) falls back to the values without it.

Matching: ids are case-sensitive, so the values that start with what was typed come first, exactly;
then those that start with it ignoring case (a user typing "cus_a" still sees "CUS_A1"). At most
MAX_VALUES (the protocol's cap); `total` is the number of matches when the listing was read to its
end and omitted when the scan stopped early (older values may match too); `has_more` is true when
more matched than were sent, false when the listing was read to its end and none were left out, and
omitted when unknown.

Upstream is spared: a listing is cached COMPLETION_TTL_S per key digest (never the key itself), so a
burst of keystrokes makes at most one upstream round per TTL, and requests arriving while a round is
under way wait for it. A round takes at most 1/COMPLETION_SHARE of what Dodo's rate limit leaves in
the trailing minute (api/budget.py, shared with summarize_events and explain_meter_match); when that
is nothing, the answer comes from the cache, however old, or is empty. Completion never fails: an
upstream error, a timeout or a missing key answers no values (cached as such for the TTL, so a down
Dodo is not asked again on every keystroke) and is logged on stderr without the key.

A request naming a prompt this server does not offer, or an argument the prompt does not have, is
refused as invalid params (the spec's -32602), in the words prompts/get uses; an argument of the
prompt that completes from nothing (since, start, end) answers no values.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from pydantic import SecretStr, ValidationError

from dodo_mcp.api.budget import key_digest
from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import ConfigurationError, DodoAPIError, DodoError
from dodo_mcp.api.meters import Meter
from dodo_mcp.api.models import Event, EventFilters
from dodo_mcp.api.paging import EventScan, MeterScan, PageScan, SubscriptionScan
from dodo_mcp.api.redaction import secret_values
from dodo_mcp.api.subscriptions import Subscription
from dodo_mcp.tools.call import RequestHeaders
from dodo_mcp.tools.handlers import ToolContext
from dodo_mcp.tools.prompts import prompt_arguments, prompt_name_problem, served_prompts, unknown_arguments_problem

logger = logging.getLogger(__name__)

# The protocol's cap on the values of one answer.
MAX_VALUES = 100
# How long one upstream round answers every completion of its listing (per key).
COMPLETION_TTL_S = 30.0
# Pages of 100 per round: the newest 200 events, or the first 200 meters.
COMPLETION_PAGES = 2
# A round takes at most this fraction (1/N) of the requests the trailing minute leaves, so completion, a
# nicety, never costs the agent's own calls: with all 100 left it may take its 2 pages, below 10 none.
COMPLETION_SHARE = 10
# Completion answers while the user types: a slow Dodo is cut short and what came back is used.
COMPLETION_TIMEOUT_S = 5.0
# Listings held at once (keys × listings × narrowings), the least recently used dropped first.
MAX_CACHED = 256

Row = Mapping[str, str]


class CompletionRequest(RequestHeaders, Protocol):
    """One completion/complete request, as it arrived: a prompt's argument, what was typed, what is chosen."""

    @property
    def prompt(self) -> str | None:
        """The prompt named (None when the request names a resource template instead)."""
        ...

    @property
    def resource(self) -> str | None:
        """The resource template's URI, when the request names one."""
        ...

    @property
    def argument(self) -> str:
        """The argument being completed."""
        ...

    @property
    def value(self) -> str:
        """What the user has typed of it so far."""
        ...

    @property
    def chosen(self) -> Mapping[str, str]:
        """The prompt's other arguments already chosen (the request's context.arguments)."""
        ...


@dataclass(frozen=True)
class CompletionAnswer:
    """The values to offer, and what is known of those not sent (None: unknown)."""

    values: tuple[str, ...] = ()
    total: int | None = None
    has_more: bool | None = None


NO_VALUES = CompletionAnswer()


class CompletionRefused(Exception):
    """A completion request naming what is not there; the message says what is, for the client to fix it."""


@dataclass(frozen=True)
class Listing:
    """One upstream round's rows (each a few completable fields), newest or listed first, deduplicated."""

    rows: tuple[Row, ...]
    # Whether the listing was read to its end (else older rows may exist).
    complete: bool
    # Whether the round failed or timed out (so no second round is tried for a fallback).
    failed: bool = False


FAILED = Listing((), complete=False, failed=True)

# (client, key, upstream filters, pages) -> the scan of one round.
ScanFactory = Callable[[DodoClient, SecretStr | None, Mapping[str, str], int], PageScan[Any]]


@dataclass(frozen=True)
class ValueSource:
    """Where one argument's values come from: a listing's scan, each item's row, and how the chosen narrow it.

    The argument's values are its own field of the rows. `upstream` names the chosen arguments sent as
    the listing's filters (one cached listing per combination); `local` those matched against the rows.
    """

    listing: str
    scan: ScanFactory
    row: Callable[[Any], Row]
    upstream: tuple[str, ...] = ()
    local: tuple[str, ...] = ()


def _event_scan(client: DodoClient, api_key: SecretStr | None, filters: Mapping[str, str], pages: int) -> EventScan:
    return EventScan(client, EventFilters.model_validate(filters), api_key=api_key, max_pages=pages)


def _event_row(event: Event) -> Row:
    return {"customer_id": event.customer_id, "event_name": event.event_name}


def _meter_scan(client: DodoClient, api_key: SecretStr | None, _: Mapping[str, str], pages: int) -> MeterScan[Meter]:
    return MeterScan(client, Meter, api_key=api_key, max_pages=pages)


def _meter_row(meter: Meter) -> Row:
    return {"meter_id": meter.id, "event_name": meter.event_name}


def _subscription_scan(
    client: DodoClient, api_key: SecretStr | None, filters: Mapping[str, str], pages: int
) -> SubscriptionScan:
    return SubscriptionScan(client, customer_id=filters.get("customer_id"), api_key=api_key, max_pages=pages)


def _subscription_row(subscription: Subscription) -> Row:
    return {"subscription_id": subscription.subscription_id, "customer_id": subscription.customer.customer_id}


# Every argument name that completes, wherever a prompt has it. One entry a source.
SOURCES: Mapping[str, ValueSource] = {
    "customer_id": ValueSource("events", _event_scan, _event_row, upstream=("event_name",)),
    "event_name": ValueSource("events", _event_scan, _event_row, upstream=("customer_id",)),
    "meter_id": ValueSource("meters", _meter_scan, _meter_row, local=("event_name",)),
    "subscription_id": ValueSource("subscriptions", _subscription_scan, _subscription_row, upstream=("customer_id",)),
}

# (key digest, listing, upstream filters)
CacheKey = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class _Cached:
    at: float
    listing: Listing


class Completer:
    """Answers completion/complete for the prompts a server serving `tools` offers."""

    def __init__(
        self, context: ToolContext, tools: Collection[str], *, sources: Mapping[str, ValueSource] = SOURCES
    ) -> None:
        self._context = context
        self._client = context.client
        self._tools = tuple(tools)
        self._sources = sources
        self._cache: OrderedDict[CacheKey, _Cached] = OrderedDict()
        # The rounds under way: a request for the same listing waits for the round rather than starting one.
        self._rounds: dict[CacheKey, anyio.Event] = {}

    async def complete(self, request: CompletionRequest) -> CompletionAnswer:
        """The values for the request's argument (never an error for Dodo's failures; CompletionRefused for a
        prompt or argument that is not there)."""
        source = self._source(request)
        if source is None:
            return NO_VALUES
        api_key = self._context.api_key(request)
        try:
            key = self._client.check_api_key(api_key)
        except ConfigurationError:
            logger.info(
                "completion of %s: no Dodo API key is configured or sent; answering no values", request.argument
            )
            return NO_VALUES
        upstream = _upstream_filters(request, source)
        local = {name: request.chosen[name] for name in source.local if request.chosen.get(name)}
        listing = await self._listing(source, key, api_key, upstream, request.argument)
        rows = _narrowed(listing.rows, local)
        if not rows and (upstream or local) and not listing.failed:
            # The narrowing left nothing: offer the values without it rather than none.
            listing = await self._listing(source, key, api_key, {}, request.argument)
            rows = listing.rows
        values = _distinct(row[request.argument] for row in rows if request.argument in row)
        return self._answer(values, request.value, listing.complete)

    def _source(self, request: CompletionRequest) -> ValueSource | None:
        """The argument's source; None when it completes from nothing; CompletionRefused when it is not there."""
        if request.prompt is None:
            raise CompletionRefused(
                f"dodo-mcp serves no resource templates, so there is nothing to complete for {request.resource!r}. "
                f"Completion is offered for the arguments {', '.join(self._sources)} of the prompts (prompts/list)."
            )
        problem = prompt_name_problem(self._tools, request.prompt)
        if problem is not None:
            raise CompletionRefused(problem)
        render = {spec.name: render for spec, render in served_prompts(self._tools)}[request.prompt]
        expected = prompt_arguments(render)
        if request.argument not in {argument.name for argument in expected}:
            raise CompletionRefused(unknown_arguments_problem(request.prompt, [request.argument], expected))
        return self._sources.get(request.argument)

    async def _listing(
        self,
        source: ValueSource,
        key: SecretStr,
        api_key: SecretStr | None,
        filters: Mapping[str, str],
        argument: str,
    ) -> Listing:
        """The source's listing for `filters`: cached, or one bounded round upstream, or what the budget allows."""
        cache_key: CacheKey = (key_digest(key.get_secret_value()), source.listing, tuple(sorted(filters.items())))
        cached = self._fresh(cache_key)
        if cached is not None:
            return cached
        under_way = self._rounds.get(cache_key)
        if under_way is not None:
            await under_way.wait()
            return self._stale(cache_key) or FAILED
        pages = self._pages(key)
        if pages == 0:
            logger.debug("completion of %s: the request budget is low; answering from the cache", argument)
            return self._stale(cache_key) or FAILED
        done = self._rounds[cache_key] = anyio.Event()
        try:
            listing = await self._round(source, api_key, filters, pages, argument)
            self._store(cache_key, listing)
        finally:
            del self._rounds[cache_key]
            done.set()
        return listing

    def _pages(self, key: SecretStr) -> int:
        """Pages this round may request: a small share of what the trailing minute leaves (the sandbox has no
        rate limit)."""
        if self._client.settings.sandbox:
            return COMPLETION_PAGES
        return min(COMPLETION_PAGES, self._client.budget.remaining(key.get_secret_value()) // COMPLETION_SHARE)

    async def _round(
        self, source: ValueSource, api_key: SecretStr | None, filters: Mapping[str, str], pages: int, argument: str
    ) -> Listing:
        """One bounded scan of the source's listing; what came back before a failure or the timeout is kept."""
        rows: list[Row] = []
        complete = False
        secrets = self._secrets(api_key)
        try:
            with anyio.move_on_after(COMPLETION_TIMEOUT_S) as timeout:
                scan = source.scan(self._client, api_key, filters, pages)
                async with aclosing(scan.pages()) as read:
                    async for items in read:
                        rows += [row for row in map(source.row, items) if not _carries_secret(row, secrets)]
                complete = scan.complete
        except DodoError as exc:
            logger.warning(
                "completion of %s: listing %s failed (%s); answering no values",
                argument,
                source.listing,
                _described(exc),
            )
            return FAILED
        if timeout.cancelled_caught:
            logger.warning(
                "completion of %s: Dodo did not list %s within %g s; answering what came back (%d)",
                argument,
                source.listing,
                COMPLETION_TIMEOUT_S,
                len(rows),
            )
        return Listing(tuple(_distinct(rows)), complete, failed=timeout.cancelled_caught)

    def _secrets(self, api_key: SecretStr | None) -> tuple[str, ...]:
        keys = (self._client.settings.api_key, api_key)
        return secret_values([*self._context.secrets, *(key.get_secret_value() for key in keys if key is not None)])

    def _fresh(self, cache_key: CacheKey) -> Listing | None:
        cached = self._cache.get(cache_key)
        if cached is None or self._client.now() - cached.at >= COMPLETION_TTL_S:
            return None
        self._cache.move_to_end(cache_key)
        return cached.listing

    def _stale(self, cache_key: CacheKey) -> Listing | None:
        cached = self._cache.get(cache_key)
        return cached.listing if cached is not None else None

    def _store(self, cache_key: CacheKey, listing: Listing) -> None:
        self._cache[cache_key] = _Cached(self._client.now(), listing)
        self._cache.move_to_end(cache_key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)

    @staticmethod
    def _answer(values: list[str], typed: str, complete: bool) -> CompletionAnswer:
        exact = [value for value in values if value.startswith(typed)]
        folded = typed.casefold()
        loose = [value for value in values if not value.startswith(typed) and value.casefold().startswith(folded)]
        matches = exact + loose
        shown = tuple(matches[:MAX_VALUES])
        cut = len(matches) > len(shown)
        if complete:
            return CompletionAnswer(shown, len(matches), cut)
        return CompletionAnswer(shown, None, True if cut else None)


def _upstream_filters(request: CompletionRequest, source: ValueSource) -> dict[str, str]:
    """The chosen arguments the source sends upstream, when they are valid filters (else none: ignored)."""
    chosen = {name: request.chosen[name] for name in source.upstream if request.chosen.get(name, "").strip()}
    try:
        EventFilters.model_validate(chosen)
    except ValidationError:
        return {}
    return chosen


def _narrowed(rows: tuple[Row, ...], wanted: Mapping[str, str]) -> tuple[Row, ...]:
    return tuple(row for row in rows if all(row.get(name) == value for name, value in wanted.items()))


def _distinct(items: Any) -> list[Any]:
    """`items` without repeats, in their order (rows compared by their fields)."""
    seen: set[Any] = set()
    kept = []
    for item in items:
        identity = tuple(sorted(item.items())) if isinstance(item, Mapping) else item
        if identity not in seen:
            seen.add(identity)
            kept.append(item)
    return kept


def _carries_secret(row: Row, secrets: tuple[str, ...]) -> bool:
    # A value is an id to paste into a prompt: one that carries a key is left out, not redacted.
    return any(secret in value for value in row.values() for secret in secrets)


def _described(error: DodoError) -> str:
    """The error's kind and status, never its message (which may quote what Dodo echoed)."""
    if isinstance(error, DodoAPIError):
        return f"{type(error).__name__}, status {error.status}"
    return type(error).__name__
