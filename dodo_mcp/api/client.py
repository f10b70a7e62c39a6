"""DodoClient: the one way dodo-mcp talks to Dodo's API.

One httpx2 transport per process (api/http11.py's, for the network), opened by whoever first enters
the client and closed by the last to leave (the SSE transport enters once per connection). Every request runs inside a per-call
deadline that also bounds its retries, and every failure comes out as a member of the DodoError
family, carrying facts rather than advice.

One concern a layer, as httpx does it: `send` runs the retry loop inside the deadline; `_attempt`
makes one request and maps what happened (an answer, a timeout, a dropped connection, an error
status) onto a response or an error; errors.api_error reads an error body.

The transport is a seam: pass an httpx2 transport (an ASGI app for the sandbox, a MockTransport in
tests) instead of patching anything.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import httpx2
from pydantic import BaseModel, SecretStr, ValidationError

from dodo_mcp import __version__
from dodo_mcp.api import json_bytes
from dodo_mcp.api.budget import RequestBudget
from dodo_mcp.api.errors import (
    ConfigurationError,
    DodoAPIError,
    DodoError,
    DodoResponseError,
    DodoTimeout,
    DodoTransportError,
    Operation,
    RequestInfo,
    api_error,
)
from dodo_mcp.api.fast_events import EventRecord
from dodo_mcp.api.http11 import DEFAULT_KEEPALIVE_EXPIRY_S, DEFAULT_MAX_KEEPALIVE, Http11Transport, uses_proxy
from dodo_mcp.api.meters import ListMetersQuery, ListMetersResponse, Meter, MeterT
from dodo_mcp.api.models import (
    Event,
    EventT,
    IngestEventsResponse,
    ListEventsQuery,
    ListEventsResponse,
    check_path_segment,
)
from dodo_mcp.api.notices import RequestNotice, RetryNotice, tell
from dodo_mcp.api.retry import RetryPolicy, retry_after_seconds
from dodo_mcp.api.subscriptions import (
    BillingPeriod,
    BillingPeriodT,
    ListSubscriptionsQuery,
    ListSubscriptionsResponse,
    Subscription,
    UsageHistoryQuery,
    UsageHistoryResponse,
)
from dodo_mcp.config import Settings

logger = logging.getLogger(__name__)

USER_AGENT = f"dodo-mcp/{__version__}"
ModelT = TypeVar("ModelT", bound=BaseModel)
# Every request's headers after Host, in this order; Authorization (and Content-Type for a body) follow.
_HEADERS = (
    (b"Accept", b"application/json"),
    (b"Accept-Encoding", b"gzip, deflate"),
    (b"Connection", b"keep-alive"),
    (b"User-Agent", USER_AGENT.encode()),
)


@dataclass(frozen=True)
class ApiCall:
    """One request to make: the operation, its path and query or body, and the ids it names."""

    operation: Operation
    path: str
    params: Mapping[str, str | int] | None = None
    content: bytes | None = None
    event_id: str | None = None
    meter_id: str | None = None
    subscription_id: str | None = None


@dataclass(frozen=True)
class Sent:
    """A request's answer (below 400), how many attempts it took, and whether an earlier one may have taken effect."""

    response: httpx2.Response
    attempts: int
    # A write whose earlier attempt's outcome was lost (a 503, a dropped connection) may have taken
    # effect before the attempt that answered: for an ingest, Dodo then counts those events as known.
    earlier_attempt_unconfirmed: bool = False


@dataclass(frozen=True)
class IngestOutcome:
    """Dodo's answer to one ingest batch, how many requests it took, and whether an earlier one may have stored it."""

    ingested_count: int
    attempts: int
    earlier_attempt_unconfirmed: bool = False


class DodoClient:
    """Async client for Dodo's usage-events, meters and usage-history endpoints, with one deadline per call."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.retry_policy = RetryPolicy(max_retries=settings.max_retries)
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._draw = draw
        # Every request is counted, so the scans that page share what Dodo's rate limit leaves.
        self.budget = RequestBudget(settings.requests_per_minute, clock)
        self._http: httpx2.AsyncBaseTransport | None = None
        # httpx2's merge of a base URL with a path: the base with one trailing slash, then the path.
        self._base_url = settings.base_url.rstrip("/") + "/"
        self._timeouts = httpx2.Timeout(settings.deadline_s, connect=settings.connect_timeout_s).as_dict()
        self._users = 0

    def enter(self) -> DodoClient:
        """Count one more user, what `async with` does on the way in, for a holder with no await at hand."""
        self._users += 1
        return self

    async def __aenter__(self) -> DodoClient:
        return self.enter()

    async def __aexit__(self, *exc_info: object) -> None:
        self._users -= 1
        if self._users == 0 and self._http is not None:
            transport, self._http = self._http, None
            await transport.aclose()

    def _http_transport(self) -> httpx2.AsyncBaseTransport:
        """The shared transport, made on first use.

        Not at startup: its TLS context and connection pool cost ~100 ms that every MCP client would
        otherwise wait for before `initialize` is answered; the first request pays it instead.
        """
        if self._users == 0:
            raise RuntimeError("DodoClient used outside 'async with'")
        if self._http is None:
            self._http = self._transport or _network_transport()
        return self._http

    # The operations.

    # `model` parses events as a subclass of Event (the tools' own, which only words its fields for
    # agents), straight from the body: no second pass to convert them.

    async def retrieve_event(
        self,
        event_id: str,
        *,
        api_key: SecretStr | None = None,
        model: type[EventT] = Event,  # type: ignore[assignment]  # mypy refuses a TypeVar's default value
    ) -> EventT:
        call = ApiCall(Operation.RETRIEVE_EVENT, event_path(event_id), event_id=event_id)
        sent = await self.send(call, api_key=api_key)
        return self._parse(sent.response, call, model, "an Event", sent.attempts)

    async def list_events(
        self,
        query: ListEventsQuery,
        *,
        api_key: SecretStr | None = None,
        model: type[EventT] = Event,  # type: ignore[assignment]  # as above
    ) -> list[EventT]:
        call = ApiCall(Operation.LIST_EVENTS, "/events", params=query.to_params(), meter_id=query.meter_id)
        sent = await self.send(call, api_key=api_key)
        page = self._parse(sent.response, call, ListEventsResponse[model], "a list of events", sent.attempts)  # type: ignore[valid-type]
        return page.items

    async def ingest_events(
        self, events: Sequence[EventRecord], *, deadline_at: float | None = None, api_key: SecretStr | None = None
    ) -> IngestOutcome:
        """Send one API-sized batch. Dodo's ingested_count counts new events only."""
        call = ApiCall(Operation.INGEST_EVENTS, "/events/ingest", content=ingest_body(events))
        sent = await self.send(call, deadline_at=deadline_at, api_key=api_key)
        answer = self._parse(sent.response, call, IngestEventsResponse, "an ingest result", sent.attempts)
        return IngestOutcome(answer.ingested_count, sent.attempts, sent.earlier_attempt_unconfirmed)

    async def retrieve_meter(self, meter_id: str, *, api_key: SecretStr | None = None) -> Meter:
        call = ApiCall(Operation.RETRIEVE_METER, meter_path(meter_id), meter_id=meter_id)
        sent = await self.send(call, api_key=api_key)
        return self._parse(sent.response, call, Meter, "a Meter", sent.attempts)

    async def list_meters(
        self,
        query: ListMetersQuery,
        *,
        api_key: SecretStr | None = None,
        model: type[MeterT] = Meter,  # type: ignore[assignment]  # mypy refuses a TypeVar's default value
    ) -> list[MeterT]:
        call = ApiCall(Operation.LIST_METERS, "/meters", params=query.to_params())
        sent = await self.send(call, api_key=api_key)
        page = self._parse(sent.response, call, ListMetersResponse[model], "a list of meters", sent.attempts)  # type: ignore[valid-type]
        return page.items

    async def usage_history(
        self,
        query: UsageHistoryQuery,
        *,
        api_key: SecretStr | None = None,
        model: type[BillingPeriodT] = BillingPeriod,  # type: ignore[assignment]  # mypy refuses a TypeVar's default value
    ) -> list[BillingPeriodT]:
        """One page of a subscription's billing periods, each with its meters' usage."""
        call = ApiCall(
            Operation.USAGE_HISTORY,
            subscription_path(query.subscription_id) + "/usage-history",
            params=query.to_params(),
            meter_id=query.meter_id,
            subscription_id=query.subscription_id,
        )
        sent = await self.send(call, api_key=api_key)
        page = self._parse(sent.response, call, UsageHistoryResponse[model], "a usage history", sent.attempts)  # type: ignore[valid-type]
        return page.items

    async def list_subscriptions(
        self, query: ListSubscriptionsQuery, *, api_key: SecretStr | None = None
    ) -> list[Subscription]:
        call = ApiCall(Operation.LIST_SUBSCRIPTIONS, "/subscriptions", params=query.to_params())
        sent = await self.send(call, api_key=api_key)
        page = self._parse(sent.response, call, ListSubscriptionsResponse, "a list of subscriptions", sent.attempts)
        return page.items

    def check_api_key(self, api_key: SecretStr | None = None) -> SecretStr:
        """The key to use (a per-request key wins), or ConfigurationError."""
        if api_key is not None:
            return api_key
        if self.settings.api_key is None:
            raise ConfigurationError(self.settings.environment)
        return self.settings.api_key

    def now(self) -> float:
        """This client's clock (monotonic seconds), which its deadlines and its request budget read too."""
        return self._clock()

    def deadline_from_now(self) -> float:
        """The absolute deadline for a call starting now, on this client's clock."""
        return self._clock() + self.settings.deadline_s

    # The deadline and the retries.

    async def send(self, call: ApiCall, *, deadline_at: float | None = None, api_key: SecretStr | None = None) -> Sent:
        """Make the request, retrying what is safe to retry, all before `deadline_at` (default: a deadline from now).

        Returns a response below 400, the number of attempts it took and whether an earlier attempt
        may have taken effect (a write's outcome lost on the way); every failure is raised as
        a DodoError carrying `attempts` and, when a retry would have passed the deadline, `retry_in`.
        """
        key = self.check_api_key(api_key)
        http = self._http_transport()
        headers = [*_HEADERS, (b"Authorization", b"Bearer " + key.get_secret_value().encode())]
        if call.content is not None:
            headers.append((b"Content-Type", b"application/json"))
        if deadline_at is None:
            deadline_at = self.deadline_from_now()
        info = self._request_info(call)
        retries = self.retry_policy.max_retries
        unknown = False  # whether an earlier attempt may have taken effect
        for attempt in range(retries + 1):
            self.budget.record(key.get_secret_value())
            started = self._clock()
            outcome, wait_headers = await self._attempt(http, call, headers, deadline_at - self._clock(), info, attempt)
            await tell(RequestNotice(call.operation, attempt + 1, _outcome_label(outcome), self._clock() - started))
            if isinstance(outcome, httpx2.Response):
                return Sent(outcome, attempt + 1, unknown)
            outcome.attempts = attempt + 1
            outcome.earlier_attempt_unconfirmed = unknown
            unknown = outcome.unconfirmed
            if not outcome.retryable or attempt == retries:
                raise outcome
            wait = self.retry_policy.wait(attempt, self._draw(), wait_headers)
            if wait >= deadline_at - self._clock():
                outcome.retry_in = wait
                raise outcome
            asked = retry_after_seconds(wait_headers) is not None
            await tell(RetryNotice(call.operation, attempt + 1, retries + 1, wait, outcome, asked))
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_info(self, call: ApiCall) -> RequestInfo:
        settings = self.settings
        return RequestInfo(
            call.operation,
            settings.environment,
            settings.base_url,
            settings.deadline_s,
            event_id=call.event_id,
            meter_id=call.meter_id,
            subscription_id=call.subscription_id,
        )

    def _parse(self, response: httpx2.Response, call: ApiCall, model: type[ModelT], what: str, attempts: int) -> ModelT:
        """The body as `model`, or DodoResponseError saying what arrived (a write's outcome is then unknown)."""
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the body"
            error = DodoResponseError(
                f"Dodo answered {response.status_code} but the body is not {what} "
                f"({where}: {first['msg']}; body starts {_preview(response.content)}).",
                self._request_info(call),
            )
            error.attempts = attempts
            raise error from None

    async def _exchange(
        self, http: httpx2.AsyncBaseTransport, call: ApiCall, headers: list[tuple[bytes, bytes]]
    ) -> httpx2.Response:
        """One request and its whole answer, straight through the transport. httpx2.AsyncClient's layers
        (URL merging, auth, redirects, hooks) are work DodoClient never needs (about 30 µs a request),
        and its cookie jar would be one jar for every caller's API key under --per-client-api-key."""
        request = httpx2.Request(
            call.operation.method,
            self._base_url + call.path.lstrip("/"),
            params=call.params,
            headers=headers,
            content=call.content,
            extensions={"timeout": self._timeouts},
        )
        response = await http.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def _attempt(
        self,
        http: httpx2.AsyncBaseTransport,
        call: ApiCall,
        headers: list[tuple[bytes, bytes]],
        remaining_s: float,
        info: RequestInfo,
        attempt: int,
    ) -> tuple[httpx2.Response | DodoError, Mapping[str, str]]:
        """One request within `remaining_s`: a response below 400, or the error it came to (and the headers that
        may say when to retry)."""
        method = call.operation.method
        started = self._clock()
        try:
            with anyio.fail_after(max(remaining_s, 0.001)):
                response = await self._exchange(http, call, headers)
        except TimeoutError:
            _log(method, call.path, "deadline", started, self._clock(), attempt)
            s = "s" if attempt else ""
            return DodoTimeout(
                f"Dodo did not answer within the {self.settings.deadline_s:g} s deadline ({attempt + 1} attempt{s}).",
                info,
            ), {}
        except httpx2.TimeoutException as exc:
            _log(method, call.path, type(exc).__name__, started, self._clock(), attempt)
            return DodoTimeout(f"The request to Dodo timed out ({type(exc).__name__}).", info, retryable=True), {}
        except httpx2.TransportError as exc:
            _log(method, call.path, type(exc).__name__, started, self._clock(), attempt)
            return DodoTransportError(
                f"Could not reach Dodo at {self.settings.base_url}: {_describe_transport_error(exc)}.",
                info,
                retryable=True,
            ), {}
        _log(method, call.path, response.status_code, started, self._clock(), attempt)
        if response.status_code < 400:
            return response, {}
        retry_after = retry_after_seconds(response.headers) if response.status_code == 429 else None
        return api_error(response.status_code, response.content, info, retry_after), response.headers


def _network_transport() -> httpx2.AsyncBaseTransport:
    """Http11Transport, unless the environment names a proxy: then an httpx2.AsyncClient, which honours it
    (and NO_PROXY) as it always has."""
    if uses_proxy():
        # The same keep-alive as Http11Transport's.
        limits = httpx2.Limits(
            max_keepalive_connections=DEFAULT_MAX_KEEPALIVE, keepalive_expiry=DEFAULT_KEEPALIVE_EXPIRY_S
        )
        return _ClientTransport(httpx2.AsyncClient(limits=limits, follow_redirects=False))
    return Http11Transport()


class _ClientTransport(httpx2.AsyncBaseTransport):
    """A transport that sends through an httpx2.AsyncClient, for what only the client does (proxies from the
    environment)."""

    def __init__(self, client: httpx2.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._client.send(request)

    async def aclose(self) -> None:
        await self._client.aclose()


def ingest_body(events: Sequence[EventRecord]) -> bytes:
    """The JSON body of POST /events/ingest: `{"events": [...]}`, compact, in UTF-8.

    The records are plain data without nulls (fast_events), so api.json_bytes writes them (orjson)."""
    return json_bytes.dumps({"events": events})


def event_path(event_id: str) -> str:
    """/events/{event_id} with the id percent-encoded as exactly one path segment."""
    return "/events/" + quote(check_path_segment(event_id, "event id"), safe="")


def meter_path(meter_id: str) -> str:
    """/meters/{meter_id} with the id percent-encoded as exactly one path segment."""
    return "/meters/" + quote(check_path_segment(meter_id, "meter id"), safe="")


def subscription_path(subscription_id: str) -> str:
    """/subscriptions/{subscription_id} with the id percent-encoded as exactly one path segment."""
    return "/subscriptions/" + quote(check_path_segment(subscription_id, "subscription id"), safe="")


def _outcome_label(outcome: httpx2.Response | DodoError) -> str:
    """How one attempt ended, in a few words: Dodo's status, or why there was none."""
    if isinstance(outcome, httpx2.Response):
        return str(outcome.status_code)
    if isinstance(outcome, DodoAPIError):
        return str(outcome.status)
    return "timeout" if isinstance(outcome, DodoTimeout) else "connection_error"


def _preview(content: bytes, limit: int = 120) -> str:
    if not content:
        return "empty"
    text = content[:limit].decode("utf-8", "replace")
    return repr(text + ("…" if len(content) > limit else ""))


def _describe_transport_error(exc: httpx2.TransportError) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.rstrip('.')}" if text else type(exc).__name__


def _log(method: str, path: str, outcome: int | str, started: float, ended: float, attempt: int) -> None:
    # The path carries ids, never credentials; headers are never logged.
    logger.debug("%s %s -> %s in %.1f ms (attempt %d)", method, path, outcome, (ended - started) * 1000, attempt + 1)
