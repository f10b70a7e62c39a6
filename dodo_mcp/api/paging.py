"""Explicit, bounded paging over GET /events (newest first) and GET /meters.

Pages are 0-based and asked for one by one (never the official SDKs' auto-paginator, which computes
the next page as `(page_number or 1) + 1` and so skips page 1 when starting from 0). Dodo returns no
total, so a short page is the last one. A scan is bounded, whichever comes first:
- MAX_PAGES_PER_SCAN requests: Dodo allows 100 a minute per key, and one scan takes at most half,
  so the agent's next calls in the same minute still get through; pages are also spaced
  MIN_PAGE_INTERVAL_S apart, under Dodo's burst limit of 10 a second (not against the sandbox,
  which has no rate limit);
- DEADLINE_SHARE of the per-call deadline, leaving the rest for answering.

A failure of the first page is raised; a later failure, like a bound reached, ends the scan with
`stopped` saying why, and what was read stays usable.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import anyio
from pydantic import SecretStr

from dodo_mcp.api.client import DodoClient
from dodo_mcp.api.errors import DodoError, Operation, RequestInfo, ScanTimeout
from dodo_mcp.api.limits import (
    BURST_PER_SECOND,
    MAX_METERS_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_USAGE_HISTORY_PAGE_SIZE,
    REQUESTS_PER_MINUTE,
)
from dodo_mcp.api.meters import ListMetersQuery, MeterT
from dodo_mcp.api.models import Event, EventFilters
from dodo_mcp.api.subscriptions import ListSubscriptionsQuery, Subscription

MAX_PAGES_PER_SCAN = REQUESTS_PER_MINUTE // 2
# A little over 1/BURST_PER_SECOND, so that no second ever holds more than the burst.
MIN_PAGE_INTERVAL_S = 1.1 / BURST_PER_SECOND
DEADLINE_SHARE = 0.8

StopReason = Literal["page_limit", "request_budget", "time_limit", "page_failed"]
ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class ScanStop:
    """Why a scan ended before the last page: which bound, at which page, and the failure if one."""

    reason: StopReason
    page_number: int
    error: DodoError | None = None


class PageScan(Generic[ItemT]):
    """The pages of one listing, as an async iterator of lists of items.

    scan = EventScan(client, filters)   # or MeterScan(client)
    async for items in scan.pages(): ...
    scan.complete   # True once the last (short) page was read
    scan.stopped    # else why it stopped early, if it did
    """

    def __init__(
        self,
        client: DodoClient,
        operation: Operation,
        fetch: Callable[[int, int], Awaitable[list[ItemT]]],
        *,
        what: str,
        api_key: SecretStr | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = MAX_PAGES_PER_SCAN,
    ) -> None:
        # The time budget runs from here, so what the caller does before paging spends from it too.
        self._budget_ends = anyio.current_time() + client.settings.deadline_s * DEADLINE_SHARE
        self._client = client
        self._operation = operation
        self._fetch = fetch  # (page_number, page_size) -> the page's items
        self._what = what
        self.page_size = page_size
        # What the trailing minute leaves decides as much as the fixed bound: half of it, so the next
        # scan or call still gets through (api/budget.py). Not against the sandbox, which has no rate limit.
        self.budgeted = False
        if not client.settings.sandbox:
            key = client.check_api_key(api_key).get_secret_value()
            share = client.budget.share(key, max_pages)
            self.budgeted = share < max_pages
            max_pages = share
        self.max_pages = max_pages
        self.complete = False
        self.stopped: ScanStop | None = None

    @property
    def budget_s(self) -> float:
        return self._client.settings.deadline_s * DEADLINE_SHARE

    async def pages(self) -> AsyncGenerator[list[ItemT], None]:
        """Each page's items in turn, until the short last page or a bound (see `stopped`)."""
        spaced = not self._client.settings.sandbox
        last_request = -MIN_PAGE_INTERVAL_S
        for page_number in range(self.max_pages):
            if spaced:
                await anyio.sleep(max(last_request + MIN_PAGE_INTERVAL_S - anyio.current_time(), 0))
            last_request = anyio.current_time()
            items = await self._page(page_number)
            if items is None:
                return
            yield items
            if len(items) < self.page_size:
                self.complete = True
                return
        self.stopped = ScanStop("request_budget" if self.budgeted else "page_limit", self.max_pages)

    async def _page(self, page_number: int) -> list[ItemT] | None:
        """One page, or None (with `stopped` set) when it failed or did not come in time; the first page's
        failure is raised."""
        items: list[ItemT] | None = None
        try:
            with anyio.move_on_after(self._budget_ends - anyio.current_time()):
                items = await self._fetch(page_number, self.page_size)
        except DodoError as exc:
            if page_number == 0:
                raise
            self.stopped = ScanStop("page_failed", page_number, exc)
            return None
        if items is None:
            if page_number == 0:
                settings = self._client.settings
                info = RequestInfo(self._operation, settings.environment, settings.base_url, settings.deadline_s)
                raise ScanTimeout(f"Dodo sent no page of {self._what} within {self.budget_s:g} s.", info)
            self.stopped = ScanStop("time_limit", page_number)
        return items


class EventScan(PageScan[Event]):
    """GET /events matching `filters`, page by page."""

    def __init__(
        self,
        client: DodoClient,
        filters: EventFilters,
        *,
        api_key: SecretStr | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = MAX_PAGES_PER_SCAN,
    ) -> None:
        async def fetch(page_number: int, size: int) -> list[Event]:
            return await client.list_events(filters.page(page_number, size), api_key=api_key)

        super().__init__(
            client,
            Operation.LIST_EVENTS,
            fetch,
            what="events",
            api_key=api_key,
            page_size=page_size,
            max_pages=max_pages,
        )


class MeterScan(PageScan[MeterT]):
    """GET /meters (the active ones, or the archived), page by page, as `model`."""

    def __init__(
        self,
        client: DodoClient,
        model: type[MeterT],
        *,
        archived: bool = False,
        api_key: SecretStr | None = None,
        page_size: int = MAX_METERS_PAGE_SIZE,
        max_pages: int = MAX_PAGES_PER_SCAN,
    ) -> None:
        async def fetch(page_number: int, size: int) -> list[MeterT]:
            query = ListMetersQuery(page_size=size, page_number=page_number, archived=archived)
            return await client.list_meters(query, api_key=api_key, model=model)

        super().__init__(
            client,
            Operation.LIST_METERS,
            fetch,
            what="meters",
            api_key=api_key,
            page_size=page_size,
            max_pages=max_pages,
        )


class SubscriptionScan(PageScan[Subscription]):
    """GET /subscriptions (optionally one customer's), page by page."""

    def __init__(
        self,
        client: DodoClient,
        *,
        customer_id: str | None = None,
        api_key: SecretStr | None = None,
        page_size: int = MAX_USAGE_HISTORY_PAGE_SIZE,
        max_pages: int = MAX_PAGES_PER_SCAN,
    ) -> None:
        async def fetch(page_number: int, size: int) -> list[Subscription]:
            query = ListSubscriptionsQuery(customer_id=customer_id, page_size=size, page_number=page_number)
            return await client.list_subscriptions(query, api_key=api_key)

        super().__init__(
            client,
            Operation.LIST_SUBSCRIPTIONS,
            fetch,
            what="subscriptions",
            api_key=api_key,
            page_size=page_size,
            max_pages=max_pages,
        )
