"""DodoClient: the one way dodo-mcp talks to Dodo's usage-events API.

One httpx2.AsyncClient per process, opened by whoever first enters the client
and closed by the last to leave (the SSE transport enters once per connection).
Every request runs inside a per-call deadline that also bounds its retries, and
every failure comes out as a member of the DodoError family.

The transport is a seam: pass an httpx2 transport (an ASGI app for the
sandbox, a MockTransport in tests) instead of patching anything.
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
from pydantic_core import to_json

from dodo_mcp import __version__
from dodo_mcp.config import API_KEY_ENV, Settings
from dodo_mcp.errors import (
    ConfigurationError,
    DodoAPIError,
    DodoError,
    DodoResponseError,
    DodoTimeout,
    DodoTransportError,
    NotFoundError,
    api_error,
)
from dodo_mcp.meters import Meter
from dodo_mcp.models import Event, EventInput, IngestEventsResponse, ListEventsQuery, ListEventsResponse
from dodo_mcp.retry import RetryPolicy, is_retryable_status

logger = logging.getLogger(__name__)

USER_AGENT = f"dodo-mcp/{__version__}"
ModelT = TypeVar("ModelT", bound=BaseModel)


class DodoClient:
    """Async client for GET /events/{id}, GET /events, POST /events/ingest and GET /meters/{id}."""

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
        self._http: httpx2.AsyncClient | None = None
        self._users = 0

    async def __aenter__(self) -> DodoClient:
        self._users += 1
        return self

    def _client(self) -> httpx2.AsyncClient:
        """The shared HTTP client, made on first use.

        Not at startup: its TLS context and connection pool cost ~100 ms that every MCP client would
        otherwise wait for before `initialize` is answered; the first request pays it instead.
        """
        if self._users == 0:
            raise RuntimeError("DodoClient used outside 'async with'")
        if self._http is None:
            self._http = httpx2.AsyncClient(
                base_url=self.settings.base_url,
                transport=self._transport,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=httpx2.Timeout(self.settings.deadline_s, connect=self.settings.connect_timeout_s),
                limits=httpx2.Limits(max_keepalive_connections=20, keepalive_expiry=30),
                follow_redirects=False,
            )
        return self._http

    async def __aexit__(self, *exc_info: object) -> None:
        self._users -= 1
        if self._users == 0 and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    # The three operations.

    async def retrieve_event(self, event_id: str, *, api_key: SecretStr | None = None) -> Event:
        response = await self.request("GET", event_path(event_id), operation="retrieve_event", api_key=api_key)
        return _parse(response, Event, "an Event")

    async def list_events(self, query: ListEventsQuery, *, api_key: SecretStr | None = None) -> list[Event]:
        response = await self.request(
            "GET",
            "/events",
            params=query.to_params(),
            operation="list_events",
            meter_id=query.meter_id,
            api_key=api_key,
        )
        return _parse(response, ListEventsResponse, "a list of events").items

    async def ingest_events(
        self, events: Sequence[EventInput], *, deadline_at: float | None = None, api_key: SecretStr | None = None
    ) -> IngestOutcome:
        """Send one API-sized batch. Dodo's ingested_count counts new events only."""
        # The validated events' own fields, nulls left out (they are the API's defaults): the same bytes
        # as a model dump with exclude_none, in a third of the time.
        body = to_json({"events": [{k: v for k, v in e.__dict__.items() if v is not None} for e in events]})
        response, attempts = await self._send(
            "POST",
            "/events/ingest",
            content=body,
            headers={"Content-Type": "application/json"},
            operation="ingest_events",
            deadline_at=deadline_at,
            api_key=api_key,
        )
        return IngestOutcome(_parse(response, IngestEventsResponse, "an ingest result").ingested_count, attempts)

    async def retrieve_meter(self, meter_id: str, *, api_key: SecretStr | None = None) -> Meter:
        """GET /meters/{meter_id}, through the same deadline, retries and error mapping as the events calls."""
        try:
            response = await self.request(
                "GET", meter_path(meter_id), operation="retrieve_meter", meter_id=meter_id, api_key=api_key
            )
        except NotFoundError as exc:
            # The generic meter hint suggests dropping meter_id from a listing; here the id is the point.
            exc.hint = (
                f"No meter with meter_id {meter_id!r} exists in {self.settings.environment}. Meter ids are "
                "case-sensitive: check the id in the Dodo dashboard (Meters), and that the key's environment is "
                "the meter's."
            )
            raise
        return _parse(response, Meter, "a Meter")

    def check_api_key(self, api_key: SecretStr | None = None) -> SecretStr:
        """The key to use (a per-request key wins), or ConfigurationError naming the variable."""
        if api_key is not None:
            return api_key
        if self.settings.api_key is None:
            raise ConfigurationError(
                f"The server has no Dodo API key: {API_KEY_ENV} is not set.",
                f"Ask the user to set {API_KEY_ENV} in this MCP server's configuration (a {self.settings.environment} "
                "key from the Dodo dashboard, Developer > API Keys), or to start the server with --sandbox to "
                "try it without an account. Retrying will not help until then.",
            )
        return self.settings.api_key

    def deadline_from_now(self) -> float:
        """The absolute deadline for a call starting now, on this client's clock."""
        return self._clock() + self.settings.deadline_s

    # The transport, deadline and retries.

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        meter_id: str | None = None,
        api_key: SecretStr | None = None,
    ) -> httpx2.Response:
        """Send a request, retrying what is safe to retry, all within the per-call deadline."""
        response, _ = await self._send(
            method,
            path,
            operation=operation,
            params=params,
            content=content,
            headers=headers,
            meter_id=meter_id,
            api_key=api_key,
        )
        return response

    async def _send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        meter_id: str | None = None,
        deadline_at: float | None = None,
        api_key: SecretStr | None = None,
    ) -> tuple[httpx2.Response, int]:
        """`request`, also returning how many attempts it took. Failures carry `attempts` too."""
        key = self.check_api_key(api_key)
        http = self._client()
        request_headers = {"Authorization": f"Bearer {key.get_secret_value()}", **(headers or {})}
        if deadline_at is None:
            deadline_at = self.deadline_from_now()
        retries = self.retry_policy.max_retries
        for attempt in range(retries + 1):
            remaining = deadline_at - self._clock()
            started = self._clock()
            failure: DodoError
            wait_headers: Mapping[str, str] = {}
            try:
                with anyio.fail_after(max(remaining, 0.001)):
                    response = await http.request(method, path, params=params, content=content, headers=request_headers)
            except TimeoutError:
                failure = DodoTimeout(
                    f"Dodo did not answer within the {self.settings.deadline_s:g} s deadline "
                    f"({attempt + 1} attempt{'s' if attempt else ''}).",
                    _retry_hint(operation),
                )
                _log(method, path, None, started, self._clock(), attempt, "deadline")
                failure.attempts = attempt + 1
                raise failure from None
            except httpx2.TimeoutException as exc:
                failure = DodoTimeout(f"The request to Dodo timed out ({type(exc).__name__}).", _retry_hint(operation))
                _log(method, path, None, started, self._clock(), attempt, type(exc).__name__)
            except httpx2.TransportError as exc:
                failure = DodoTransportError(
                    f"Could not reach Dodo at {self.settings.base_url}: {_describe_transport_error(exc)}.",
                    _retry_hint(operation),
                )
                _log(method, path, None, started, self._clock(), attempt, type(exc).__name__)
            else:
                _log(method, path, response.status_code, started, self._clock(), attempt, None)
                if response.status_code < 400:
                    return response, attempt + 1
                failure = api_error(
                    response.status_code,
                    response.headers,
                    response.content,
                    operation=operation,
                    environment=self.settings.environment,
                    meter_id=meter_id,
                )
                wait_headers = response.headers
            failure.attempts = attempt + 1
            if isinstance(failure, DodoAPIError) and not is_retryable_status(failure.status):
                raise failure
            if attempt == retries:
                raise failure
            wait = self.retry_policy.wait(attempt, self._draw(), wait_headers)
            left = deadline_at - self._clock()
            if wait >= left:
                failure.hint = (
                    f"Not retried: the next try was due in {wait:.1f} s, past this call's "
                    f"{self.settings.deadline_s:g} s deadline. Wait about {max(wait, 1):.0f} s and call again."
                    + (" " + _retry_hint(operation) if operation == "ingest_events" else "")
                )
                raise failure
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class IngestOutcome:
    """Dodo's answer to one ingest batch, and how many requests it took."""

    ingested_count: int
    attempts: int


def event_path(event_id: str) -> str:
    """/events/{event_id} with the id percent-encoded as exactly one path segment."""
    if event_id in ("", ".", ".."):
        raise ValueError(f"{event_id!r} is not a valid event id")
    return "/events/" + quote(event_id, safe="")


def meter_path(meter_id: str) -> str:
    """/meters/{meter_id} with the id percent-encoded as exactly one path segment."""
    if meter_id in ("", ".", ".."):
        raise ValueError(f"{meter_id!r} is not a valid meter id")
    return "/meters/" + quote(meter_id, safe="")


def _parse(response: httpx2.Response, model: type[ModelT], what: str) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the body"
        shown = _preview(response.content)
        raise DodoResponseError(
            f"Dodo answered {response.status_code} but the body is not {what} "
            f"({where}: {first['msg']}; body starts {shown}).",
            "This is a problem on Dodo's side or in the base URL setting, not in your call. "
            "Try again in a minute; if it persists, check DODO_PAYMENTS_BASE_URL.",
        ) from None


def _preview(content: bytes, limit: int = 120) -> str:
    if not content:
        return "empty"
    text = content[:limit].decode("utf-8", "replace")
    return repr(text + ("…" if len(content) > limit else ""))


def _describe_transport_error(exc: httpx2.TransportError) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.rstrip('.')}" if text else type(exc).__name__


def _retry_hint(operation: str) -> str:
    if operation == "ingest_events":
        return (
            "Whether these events were stored is unconfirmed. It is safe to call ingest_events again with "
            "the same events: Dodo ignores event_ids it already has, so nothing is double-counted."
        )
    return "Try the call again in a few seconds."


def _log(
    method: str, path: str, status: int | None, started: float, ended: float, attempt: int, failure: str | None
) -> None:
    # The path carries ids, never credentials; headers are never logged.
    logger.debug(
        "%s %s -> %s in %.1f ms (attempt %d)",
        method,
        path,
        status if status is not None else failure,
        (ended - started) * 1000,
        attempt + 1,
    )
