"""OpenTelemetry traces, the optional extra (`pip install "dodo-mcp[otel]"`): exported over OTLP when configured.

The SDK instruments itself: every MCP request, each tool call included, is a server span ("tools/call
list_events", with gen_ai.tool.name), parented on the client's traceparent when it sends one. What it
cannot see is the requests to Dodo, so each one becomes a client span under the tool call's span, made
from the RequestNotice DodoClient tells (api/notices.py) with its own start and end. Its attributes are
the method, the route template (never a path with an id), the host, the attempt and the status: no
header, key or token.

Configured by OpenTelemetry's own environment variables: tracing starts when OTEL_EXPORTER_OTLP_ENDPOINT
(or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, with OTEL_SERVICE_NAME (default dodo-mcp), OTEL_BSP_*
and the exporter's headers and timeouts as the OTLP/HTTP exporter reads them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from dodo_mcp.api.notices import Notice, RequestNotice, listening

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SERVICE_NAME = "dodo-mcp"


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the operator asked for traces: an OTLP endpoint is set."""
    env = os.environ if environ is None else environ
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


class Tracing:
    """Spans for the requests to Dodo, beside the SDK's own for each MCP request."""

    def __init__(self, base_url: str, tracer: Any = None) -> None:
        from opentelemetry import trace

        self._tracer = tracer or trace.get_tracer("dodo-mcp")
        self._host = urlsplit(base_url).hostname or ""

    @contextmanager
    def watching(self, method: str, tool: str | None) -> Iterator[Any]:
        """Around one MCP request (inside the SDK's span for it): a span for each request to Dodo it makes."""
        with listening(self.heard):
            yield _ignore

    async def heard(self, notice: Notice) -> None:
        if not isinstance(notice, RequestNotice):
            return
        from opentelemetry.trace import SpanKind, StatusCode

        ended = time.time_ns()
        method, route = notice.operation.value.split(" ", 1)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.template": route,
            "server.address": self._host,
            "dodo.operation": notice.operation.value,
            "dodo.attempt": notice.attempt,
        }
        failed = not notice.outcome.isdigit() or int(notice.outcome) >= 400
        if notice.outcome.isdigit():
            attributes["http.response.status_code"] = int(notice.outcome)
        if failed:
            attributes["error.type"] = notice.outcome
        span = self._tracer.start_span(
            f"{method} {route}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=ended - int(notice.seconds * 1e9),
        )
        if failed:
            span.set_status(StatusCode.ERROR)
        span.end(end_time=ended)


def start_tracing(base_url: str) -> Tracing | None:
    """Set up the OTLP exporter and return the Tracing, when an endpoint is set and the extra is installed."""
    if not wanted():
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "an OTLP endpoint is set but OpenTelemetry's SDK is not installed: no traces are exported "
            "(install dodo-mcp[otel])"
        )
        return None
    service = os.environ.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    logger.info("exporting traces over OTLP as %s", service)
    return Tracing(base_url, provider.get_tracer("dodo-mcp"))


def _ignore(_: str) -> None:
    pass
