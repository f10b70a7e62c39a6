"""The sandbox's ASGI app: Dodo's usage-events, meters and usage-history endpoints over a SandboxStore.

A plain ASGI callable rather than a framework router, for one reason: GET
/events/{event_id} must see the id exactly as sent, percent-encoded as one path
segment (`a%2Fb` is the id "a/b"), and routers match on the already-decoded
path. So routing reads `raw_path` and decodes each segment itself.

Status codes and `{"code", "message"}` bodies follow Dodo's docs. Where Dodo
leaves the choice open, the sandbox picks one and keeps to it:
- a body or query that is malformed or of the wrong shape (bad JSON, a missing
  field, a wrong type, an unknown field) answers 422; a well-formed one that
  breaks a rule (limits, timestamp window, duplicate ids, dates) answers 400;
- `start` and `end` are inclusive;
- a request body over MAX_BODY_BYTES answers 413.
The validation itself is dodo_mcp.api.models', the same the tools run.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio.to_thread
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dodo_mcp.api.limits import MAX_METADATA_KEYS
from dodo_mcp.api.meters import CreateMeterRequest, ListMetersQuery, ListMetersResponse, Meter
from dodo_mcp.api.models import ListEventsQuery, parse_ingest_request
from dodo_mcp.api.subscriptions import ListSubscriptionsQuery, UsageHistoryQuery
from dodo_mcp.api.timestamps import format_timestamp, parse_rfc3339, parse_rfc3339_shaped
from dodo_mcp.config import DEFAULT_SANDBOX_API_KEY
from dodo_mcp.sandbox.billing import (
    CreateProductRequest,
    CreateSubscriptionRequest,
    created_subscription,
    product_document,
    refusal,
    subscription_document,
    subscription_view,
    usage_history,
)
from dodo_mcp.sandbox.store import EventQuery, EventRow, SandboxStore, encode_metadata, to_micros

logger = logging.getLogger(__name__)

# Dodo documents a 413 but not its threshold. 1000 events at their largest legal size would be far
# bigger; real batches are a few hundred KB. 16 MiB leaves generous room and bounds memory.
MAX_BODY_BYTES = 16 * 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Clock = Callable[[], datetime]

# Pydantic error types that mean "not the documented shape" (422) rather than "breaks a rule" (400).
_SHAPE_ERRORS = frozenset(
    {
        "json_invalid",
        "json_type",
        "missing",
        "extra_forbidden",
        "model_type",
        "model_attributes_type",
        "dict_type",
        "list_type",
        "string_type",
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "bool_type",
        "bool_parsing",
        "literal_error",
        "union_tag_invalid",
    }
)


class ApiError(Exception):
    """An error answer: HTTP status, Dodo's error code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class SandboxApp:
    """ASGI app serving Dodo's /events, /meters, /products and /subscriptions contract from a SandboxStore."""

    def __init__(
        self,
        store: SandboxStore,
        api_key: str = DEFAULT_SANDBOX_API_KEY,
        *,
        clock: Clock = _utc_now,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not api_key:
            raise ValueError("the sandbox needs a non-empty API key")
        self.store = store
        self._expected = f"Bearer {api_key}".encode()
        self._clock = clock
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, body = await self._handle(scope, receive)
        except ApiError as exc:
            status, body = exc.status, {"code": exc.code, "message": exc.message}
        except Exception:
            logger.exception("sandbox request failed: %s %s", scope.get("method"), scope.get("path"))
            status, body = 500, {"code": "INTERNAL_SERVER_ERROR", "message": "The sandbox hit an internal error"}
        await _respond(send, status, body)

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        self._authenticate(scope)
        method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        parts = raw_path.split(b"?", 1)[0].split(b"/")[1:]
        query = dict(reversed(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)))
        resource = parts[0] if parts else b""
        rest = parts[1:]

        if resource == b"events":
            if not rest:
                _allow(method, "GET")
                return 200, await self._list_events(query)
            if rest == [b"ingest"] and method == "POST":
                return 200, await self._ingest(scope, receive)
            if len(rest) == 1:
                _allow(method, "GET")
                return 200, await self._retrieve_event(rest[0])
        elif resource == b"meters":
            if not rest:
                _allow(method, "GET", "POST")
                if method == "POST":
                    return 201, await self._create_meter(scope, receive)
                return 200, await self._list_meters(query)
            meter_id = _segment(rest[0])
            if len(rest) == 1:
                _allow(method, "GET", "DELETE")
                if method == "DELETE":
                    await self._archive_meter(meter_id, archived=True)
                    return 204, None
                found = await anyio.to_thread.run_sync(self.store.get_meter, meter_id or "")
                if found is None:
                    raise _not_found("Meter")
                return 200, found[0].model_dump(mode="json")
            if rest[1:] == [b"unarchive"]:
                _allow(method, "POST")
                await self._archive_meter(meter_id, archived=False)
                return 200, None
        elif resource == b"products":
            if not rest:
                _allow(method, "POST")
                return 200, await self._create_product(scope, receive)
            if len(rest) == 1:
                _allow(method, "GET")
                product = await anyio.to_thread.run_sync(self.store.get_product, _segment(rest[0]) or "")
                if product is None:
                    raise _not_found("Product")
                return 200, product
        elif resource == b"subscriptions":
            if not rest:
                _allow(method, "GET", "POST")
                if method == "POST":
                    return 200, await self._create_subscription(scope, receive)
                return 200, await self._list_subscriptions(query)
            subscription_id = _segment(rest[0]) or ""
            if len(rest) == 1:
                _allow(method, "GET")
                return 200, await self._subscription(subscription_id)
            if rest[1:] == [b"usage-history"]:
                _allow(method, "GET")
                return 200, await self._usage_history(subscription_id, query)
        elif resource == b"sandbox" and rest == [b"reset"]:
            _allow(method, "POST")
            await anyio.to_thread.run_sync(self.store.reset)
            logger.info("sandbox reset: all events, meters, products and subscriptions deleted")
            return 200, {"reset": True}
        raise ApiError(404, "NOT_FOUND", f"No such endpoint: {method} {raw_path.decode('latin-1')}")

    def _authenticate(self, scope: Scope) -> None:
        given = b""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                given = value
        scheme, _, token = given.partition(b" ")
        presented = b"Bearer " + token.strip() if scheme.lower() == b"bearer" else b""
        # Constant-time, so the key cannot be guessed byte by byte from response times.
        if not hmac.compare_digest(presented, self._expected):
            raise ApiError(
                401,
                "UNAUTHORIZED",
                "Missing or invalid API key: send 'Authorization: Bearer <key>' with the key this sandbox "
                "was started with",
            )

    # Events.

    async def _retrieve_event(self, raw_segment: bytes) -> Any:
        event_id = _segment(raw_segment)
        found = None if not event_id else await anyio.to_thread.run_sync(self.store.get_event, event_id)
        if found is None:
            raise _not_found("Event")
        return found

    async def _list_events(self, raw_query: dict[str, str]) -> Any:
        query = _query(ListEventsQuery, raw_query)
        event_name, meter_filter = query.event_name, None
        if query.meter_id is not None:
            found = await anyio.to_thread.run_sync(self.store.get_meter, query.meter_id)
            if found is None:
                raise _not_found("Meter")
            meter = found[0]
            if event_name is not None and event_name != meter.event_name:
                raise ApiError(
                    400,
                    "INVALID_QUERY_PARAMS",
                    f"event_name {event_name!r} does not match the meter's event_name {meter.event_name!r}; "
                    "leave event_name out or pass the meter's own",
                )
            event_name, meter_filter = meter.event_name, meter.filter
        events_query = EventQuery(
            customer_id=query.customer_id,
            event_name=event_name,
            start=None if query.start is None else to_micros(parse_rfc3339(query.start)),
            end=None if query.end is None else to_micros(parse_rfc3339(query.end)),
            meter_filter=meter_filter,
            limit=query.page_size,
            offset=query.page_size * query.page_number,
        )
        items = await anyio.to_thread.run_sync(self.store.list_events, events_query)
        return {"items": items}

    async def _ingest(self, scope: Scope, receive: Receive) -> Any:
        body = await self._read_body(scope, receive)
        now = self._clock()
        try:
            request = parse_ingest_request(body, now)
        except ValidationError as exc:
            raise _invalid(exc, "INVALID_REQUEST_BODY") from None
        seen: dict[str, int] = {}
        duplicates: list[str] = []
        for index, event in enumerate(request.events):
            first = seen.setdefault(event["event_id"], index)
            if first != index:
                duplicates.append(f"{event['event_id']!r} (events[{first}] and events[{index}])")
        if duplicates:
            raise ApiError(
                400,
                "INVALID_REQUEST_BODY",
                f"Duplicate event_id within one request: {', '.join(duplicates[:5])}"
                f"{' and more' if len(duplicates) > 5 else ''}. The whole request was rejected; nothing was stored",
            )
        now_micros = to_micros(now)
        business_id = self.store.business_id
        rows: list[EventRow] = [
            (
                event["event_id"],
                business_id,
                event["customer_id"],
                event["event_name"],
                # Validated already (a real moment of RFC 3339's shape): only the parse is left to do.
                to_micros(parse_rfc3339_shaped(event["timestamp"])) if "timestamp" in event else now_micros,
                encode_metadata(event.get("metadata")),
            )
            for event in request.events
        ]
        inserted = await anyio.to_thread.run_sync(self.store.ingest_rows, rows)
        return {"ingested_count": inserted}

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        too_large = ApiError(
            413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {self.max_body_bytes} bytes; send fewer events"
        )
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ApiError(400, "INVALID_REQUEST_BODY", "The client disconnected before sending the body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # Meters.

    async def _create_meter(self, scope: Scope, receive: Receive) -> Any:
        body = await self._read_body(scope, receive)
        try:
            request = CreateMeterRequest.model_validate_json(body)
        except ValidationError as exc:
            raise _invalid(exc, "INVALID_REQUEST_BODY") from None
        now = format_timestamp(self._clock())
        meter = Meter(
            id="mtr_" + secrets.token_hex(10),
            business_id=self.store.business_id,
            created_at=now,
            updated_at=now,
            **request.model_dump(),
        )
        await anyio.to_thread.run_sync(self.store.add_meter, meter)
        return meter.model_dump(mode="json")

    async def _list_meters(self, raw_query: dict[str, str]) -> Any:
        query = _query(ListMetersQuery, raw_query)

        def page() -> list[Meter]:
            return self.store.list_meters(
                archived=query.archived, limit=query.page_size, offset=query.page_size * query.page_number
            )

        meters = await anyio.to_thread.run_sync(page)
        return ListMetersResponse(items=meters).model_dump(mode="json")

    async def _archive_meter(self, meter_id: str | None, *, archived: bool) -> None:
        updated_at = format_timestamp(self._clock())
        done = meter_id is not None and await anyio.to_thread.run_sync(
            self.store.set_meter_archived, meter_id, archived, updated_at
        )
        if not done:
            raise _not_found("Meter")

    # Products, subscriptions and usage history: the subset sandbox.billing simulates.

    async def _create_product(self, scope: Scope, receive: Receive) -> Any:
        request = _billing_body(CreateProductRequest, await self._read_body(scope, receive), "product")
        meters = []
        for index, component in enumerate(request.price.meters or []):
            found = await anyio.to_thread.run_sync(self.store.get_meter, component.meter_id)
            if found is None:
                raise ApiError(
                    422,
                    "INVALID_REQUEST_BODY",
                    f"price.meters[{index}].meter_id: no meter {component.meter_id!r} in this business",
                )
            meters.append(found[0])
        product = product_document(request, meters, self.store.business_id, format_timestamp(self._clock()))
        await anyio.to_thread.run_sync(self.store.add_product, product["product_id"], product)
        return product

    async def _create_subscription(self, scope: Scope, receive: Receive) -> Any:
        request = _billing_body(CreateSubscriptionRequest, await self._read_body(scope, receive), "subscription")
        product = await anyio.to_thread.run_sync(self.store.get_product, request.product_id)
        if product is None:
            raise ApiError(404, "NOT_FOUND", f"Product {request.product_id} not found")
        stored = subscription_document(request, product, format_timestamp(self._clock()))
        await anyio.to_thread.run_sync(
            self.store.add_subscription, stored["subscription_id"], stored["customer"]["customer_id"], stored
        )
        return created_subscription(stored)

    async def _list_subscriptions(self, raw_query: dict[str, str]) -> Any:
        query = _query(ListSubscriptionsQuery, raw_query)
        now = self._clock()

        def page() -> list[dict[str, Any]]:
            return self.store.list_subscriptions(
                customer_id=query.customer_id, limit=query.page_size, offset=query.page_size * query.page_number
            )

        return {"items": [subscription_view(stored, now) for stored in await anyio.to_thread.run_sync(page)]}

    async def _subscription(self, subscription_id: str) -> dict[str, Any]:
        stored = await anyio.to_thread.run_sync(self.store.get_subscription, subscription_id)
        if stored is None:
            raise _not_found("Subscription")
        return subscription_view(stored, self._clock())

    async def _usage_history(self, subscription_id: str, raw_query: dict[str, str]) -> Any:
        stored = await anyio.to_thread.run_sync(self.store.get_subscription, subscription_id)
        if stored is None:
            raise _not_found("Subscription")
        query = _query(UsageHistoryQuery, {**raw_query, "subscription_id": subscription_id})
        if query.meter_id is not None and await anyio.to_thread.run_sync(self.store.get_meter, query.meter_id) is None:
            raise _not_found("Meter")
        return {"items": await anyio.to_thread.run_sync(usage_history, self.store, stored, query, self._clock())}


def create_app(store: SandboxStore, api_key: str = DEFAULT_SANDBOX_API_KEY, *, clock: Clock = _utc_now) -> SandboxApp:
    """The sandbox's ASGI app over `store`, accepting `Authorization: Bearer <api_key>`."""
    return SandboxApp(store, api_key, clock=clock)


def _segment(raw: bytes) -> str | None:
    """A path segment percent-decoded exactly, or None if it is not UTF-8 (no id can match it)."""
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


QueryT = TypeVar("QueryT", bound=BaseModel)


def _query(model: type[QueryT], raw_query: dict[str, str]) -> QueryT:
    """The query string as `model`; parameters it does not know are ignored, as Dodo does."""
    known = {name: value for name, value in raw_query.items() if name in model.model_fields}
    try:
        return model.model_validate(known)
    except ValidationError as exc:
        raise _invalid(exc, "INVALID_QUERY_PARAMS", shape_on_400=False) from None


BodyT = TypeVar("BodyT", bound=BaseModel)


def _billing_body(model: type[BodyT], body: bytes, what: Literal["product", "subscription"]) -> BodyT:
    """A product or subscription body as `model`; a field outside the simulated subset is named and refused."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        outside = refusal(exc, what)
        if outside is not None:
            raise ApiError(422, "UNSUPPORTED_IN_SANDBOX", outside) from None
        raise _invalid(exc, "INVALID_REQUEST_BODY") from None


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed here; use {' or '.join(allowed)}")


def _invalid(exc: ValidationError, code: str, *, shape_on_400: bool = True) -> ApiError:
    """One error answer for a validation failure: 422 for a wrong shape, else 400, naming every problem.

    Query strings carry only text, so a query whose values cannot even be read as the documented
    types (`shape_on_400=False`) is a 422 too; a readable but wrong value (e.g. a bad date) is 400.
    """
    errors = exc.errors(include_url=False)
    shape = any(error["type"] in _SHAPE_ERRORS for error in errors)
    if not shape_on_400:
        shape = shape or any(error["type"].startswith(("greater", "less", "too_")) for error in errors)
    problems = [_dodo_message(error) for error in errors[:10]]
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return ApiError(422 if shape else 400, code, "; ".join(problems) + more)


def _dodo_message(error: ErrorDetails) -> str:
    """One validation error as Dodo words it: where, then what (not the tools' agent-facing words)."""
    loc = error["loc"]
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "too_long" and loc and loc[-1] == "metadata":
        message = f"metadata may have at most {MAX_METADATA_KEYS} keys"
        if isinstance(error.get("input"), dict):
            message += f" (got {len(error['input'])})"
    return f"{where or 'body'}: {message}"


async def _respond(send: Send, status: int, body: Any) -> None:
    payload = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    headers = [(b"content-length", str(len(payload)).encode())]
    if payload:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
