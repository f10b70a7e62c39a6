"""OpenTelemetry traces over OTLP/HTTP: the SDK's span for each tool call, ours for each request to Dodo under it.

dodo-mcp runs as a process with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a collector double on 127.0.0.1,
which decodes what the real exporter sends with OpenTelemetry's own protobuf classes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import API_KEY, server_env, stdio_session
from tests.dodo_double import DodoDouble, Reply
from tests.test_http import TOKEN, mcp_client, serving

pytestmark = pytest.mark.anyio


@contextmanager
def collector() -> Iterator[tuple[str, list[Any]]]:
    """An OTLP/HTTP trace collector on 127.0.0.1: its URL, and the spans received."""
    spans: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                for scope in resource.scope_spans:
                    spans.extend((service, span) for span in scope.spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", spans
    finally:
        server.shutdown()
        server.server_close()


def attributes(span: Any) -> dict[str, Any]:
    found = {}
    for attribute in span.attributes:
        value = attribute.value
        found[attribute.key] = value.int_value if value.HasField("int_value") else value.string_value
    return found


@pytest.mark.parametrize("transport", ["streamable-http", "stdio"])
async def test_a_tool_call_and_its_requests_to_dodo_are_spans(dodo: DodoDouble, transport: str) -> None:
    with collector() as (endpoint, spans):
        env = server_env(
            dodo.url,
            DODO_MCP_AUTH_TOKEN=TOKEN,
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_SERVICE_NAME="dodo-mcp-test",
            OTEL_BSP_SCHEDULE_DELAY="50",
        )
        dodo.script(Reply(503, {"code": "UNAVAILABLE", "message": "down"}))  # then the default 200
        if transport == "stdio":
            async with stdio_session(env) as session:
                assert not (await session.call("list_events", {"customer_id": "cus_traced"})).is_error
                assert "exporting traces over OTLP as dodo-mcp-test" in session.stderr
        else:
            with serving("--transport", "streamable-http", env=env) as served:
                async with mcp_client(served, "streamable-http") as client:
                    assert not (await client.call_tool("list_events", {"customer_id": "cus_traced"})).is_error
                assert "exporting traces over OTLP as dodo-mcp-test" in served.stderr
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(s.name == "tools/call list_events" for _, s in list(spans)):
            time.sleep(0.05)
        received = list(spans)
    assert {service for service, _ in received} == {"dodo-mcp-test"}
    [call] = [span for _, span in received if span.name == "tools/call list_events"]
    assert attributes(call)["gen_ai.tool.name"] == "list_events"
    requests = sorted(
        (span for _, span in received if span.name == "GET /events"), key=lambda s: s.start_time_unix_nano
    )
    assert [span.parent_span_id for span in requests] == [call.span_id, call.span_id]
    assert [span.trace_id for span in requests] == [call.trace_id, call.trace_id]
    common = {
        "http.request.method": "GET",
        "url.template": "/events",
        "server.address": "127.0.0.1",
        "dodo.operation": "GET /events",
    }
    assert [attributes(span) for span in requests] == [
        {**common, "dodo.attempt": 1, "http.response.status_code": 503, "error.type": "503"},
        {**common, "dodo.attempt": 2, "http.response.status_code": 200},
    ]
    # Each request's span lies within the tool call's.
    for span in requests:
        assert (
            call.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano <= call.end_time_unix_nano
        )
    # No key, token or argument in any span.
    for _, span in received:
        for value in attributes(span).values():
            assert API_KEY not in str(value) and TOKEN not in str(value) and "cus_traced" not in str(value)
