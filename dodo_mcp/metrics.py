"""Prometheus metrics of an HTTP server: tool calls, their latency, requests to Dodo, retries and rate-limit waits.

SDK-free: dodo_mcp.mcp_sdk enters `Metrics.watching` around every MCP request, which times a tool call
and, through api/notices.py's listener, hears every request DodoClient makes and every retry it waits
for. Each server has its own registry, so servers in one process never mix their counts.

Labels are bounded and carry no secret: a tool name (only the served ones; anything else is
"unknown"), an operation (the API layer's fixed "GET /events" and the like, never a path with an id),
a status or outcome word. No key, token, id or argument ever becomes a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from dodo_mcp.api.errors import RateLimitError
from dodo_mcp.api.notices import Notice, RequestNotice, RetryNotice, listening

# A tool call's outcomes: a result, an isError result, a question for the user (2026-07-28's multi-round
# call), or a protocol error or crash that no result came of.
OUTCOMES = ("ok", "error", "input_required", "failed")
UNKNOWN_TOOL = "unknown"
# Tool calls take from milliseconds (a page) to the 30 s deadline (a long scan or ingest).
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST

# Sets how a watched request ended: one of OUTCOMES.
Settle = Callable[[str], None]


class Metrics:
    """One server's metrics, in its own registry."""

    def __init__(self, tools: Collection[str], clock: Callable[[], float] = time.perf_counter) -> None:
        self._tools = frozenset(tools)
        self._clock = clock
        self.registry = CollectorRegistry()
        registry = self.registry
        self.tool_calls = Counter(
            "dodo_mcp_tool_calls", "Tool calls, by tool and outcome.", ["tool", "outcome"], registry=registry
        )
        self.tool_seconds = Histogram(
            "dodo_mcp_tool_call_duration_seconds",
            "How long tool calls took, by tool.",
            ["tool"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge("dodo_mcp_tool_calls_in_flight", "Tool calls in progress.", registry=registry)
        self.upstream = Counter(
            "dodo_mcp_upstream_requests",
            "Requests to Dodo, by operation and status (or timeout, connection_error).",
            ["operation", "status"],
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "dodo_mcp_upstream_request_duration_seconds",
            "How long requests to Dodo took, by operation.",
            ["operation"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "dodo_mcp_upstream_retries",
            "Requests to Dodo retried, by operation and reason (rate_limit for a 429, else error).",
            ["operation", "reason"],
            registry=registry,
        )
        self.rate_limit_waits = Counter(
            "dodo_mcp_rate_limit_waits",
            "Waits before a retry after Dodo's 429, by operation.",
            ["operation"],
            registry=registry,
        )
        self.rate_limit_wait_seconds = Counter(
            "dodo_mcp_rate_limit_wait_seconds",
            "Seconds waited after Dodo's 429 before retrying, by operation.",
            ["operation"],
            registry=registry,
        )
        self.sessions = Gauge(
            "dodo_mcp_sessions_open", "MCP sessions open (SSE streams or Streamable HTTP sessions).", registry=registry
        )

    def count_sessions(self, count: Callable[[], int]) -> None:
        """Read the sessions gauge from `count` at each scrape."""
        self.sessions.set_function(count)

    @contextmanager
    def watching(self, method: str, tool: str | None) -> Iterator[Settle]:
        """Around one MCP request: hear its requests to Dodo and, for a tools/call, count and time it."""
        with listening(self.heard):
            if method != "tools/call":
                yield _ignore
                return
            label = tool if tool in self._tools else UNKNOWN_TOOL
            outcome = ["failed"]

            def settle(value: str) -> None:
                outcome[0] = value

            self.in_flight.inc()
            started = self._clock()
            try:
                yield settle
            finally:
                self.in_flight.dec()
                self.tool_calls.labels(label, outcome[0]).inc()
                self.tool_seconds.labels(label).observe(self._clock() - started)

    async def heard(self, notice: Notice) -> None:
        operation = notice.operation.value
        if isinstance(notice, RequestNotice):
            self.upstream.labels(operation, notice.outcome).inc()
            self.upstream_seconds.labels(operation).observe(notice.seconds)
            return
        assert isinstance(notice, RetryNotice)
        rate_limited = isinstance(notice.error, RateLimitError)
        self.retries.labels(operation, "rate_limit" if rate_limited else "error").inc()
        if rate_limited:
            self.rate_limit_waits.labels(operation).inc()
            self.rate_limit_wait_seconds.labels(operation).inc(notice.wait_s)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


def _ignore(_: str) -> None:
    pass
