"""Shared fixtures: a Dodo test double on 127.0.0.1, and MCP client sessions with dodo-mcp.

Two kinds of session, one `Session` API:
- `tool_session` / `sandbox_session`: the SDK's own client talking to `build_server(...)` in this
  process (`mcp.Client(server)`). For everything the tools do: forwarding, errors, arguments,
  summaries, prompts. No process, so no start-up to wait for.
- `stdio_session`: `python -m dodo_mcp ARGS` spawned and driven over its real stdin and stdout, for
  what only a process shows: the CLI, the stdio transport, the environment, the logs on stderr.

Every session checks each tool result's structuredContent against the tool's published
outputSchema, and records every result and log line so that the run can prove the key never leaked.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult
from pydantic import SecretStr

from dodo_mcp.config import Settings
from dodo_mcp.sandbox import open_store, sandbox_backend
from dodo_mcp.server import build_server
from dodo_mcp.tools.names import TOOL_NAMES
from dodo_mcp.tools.registry import TOOL_SPECS
from dodo_mcp.tools.schemas import result_contract
from tests.dodo_double import DodoDouble

# A key that must never appear in any output: every test's stderr, logs and tool results are checked.
API_KEY = "sk_test_SECRET_do_not_leak_4242"
CAPTURED: list[str] = []
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Set by .ci/run: a test whose system part (a browser, Node 22, HAProxy, npm) is missing fails there
# instead of skipping, so CI can never pass by leaving a heavy test out.
REQUIRE_PARTS_ENV = "DODO_MCP_TEST_REQUIRE_PARTS"
# The headline numbers of an ingest_events result: every event is in exactly one of the last four.
COUNT_KEYS = (
    "submitted_count",
    "ingested_count",
    "ignored_count",
    "possibly_stored_by_earlier_attempt",
    "unconfirmed_count",
)


def need_part(part: str, found: bool, how: str) -> None:
    """Skip the calling test when a system part is missing, saying how to get it; fail under CI.

    `part` names what is missing ("Node >= 22"), `how` how to install it. Under
    DODO_MCP_TEST_REQUIRE_PARTS=1 (which .ci/run sets) a missing part is a failure, not a skip.
    """
    if found:
        return
    reason = f"{part} is not installed here ({how})"
    if os.environ.get(REQUIRE_PARTS_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_PARTS_ENV}=1 says every system part must be present")
    pytest.skip(reason)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def dodo_double() -> Iterator[DodoDouble]:
    with DodoDouble() as double:
        yield double


@pytest.fixture
def dodo(dodo_double: DodoDouble) -> DodoDouble:
    dodo_double.reset()
    return dodo_double


@pytest.fixture(scope="session", autouse=True)
def secrets_never_leak() -> Iterator[None]:
    """After the whole run: the API key appeared in no stderr, no log line and no tool result."""
    yield
    leaked = [text[:200] for text in CAPTURED if API_KEY in text]
    assert not leaked, f"the API key leaked into output: {leaked}"


def server_env(url: str | None = None, **overrides: str | None) -> dict[str, str]:
    """A clean environment for a spawned server: only what it needs, plus overrides (None removes)."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "SYSTEMROOT", "TMPDIR") if name in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env["DODO_PAYMENTS_API_KEY"] = API_KEY
    if url is not None:
        env["DODO_PAYMENTS_BASE_URL"] = url
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def dodo_settings(url: str | None = None, **overrides: Any) -> Settings:
    """The settings `server_env(url)` gives a spawned server: the test key, and the double's base URL."""
    return Settings(**{"api_key": SecretStr(API_KEY), "base_url_override": url, **overrides})


class Session:
    """An MCP client session with dodo-mcp (in this process or spawned), and what the server logged."""

    def __init__(self, client: Client, log: Any) -> None:
        self.client = client
        self._log = log
        self._output_schemas: dict[str, dict[str, Any] | None] | None = None

    async def call(self, name: str, arguments: Any, **options: Any) -> CallToolResult:
        result = await self.client.call_tool(name, arguments, **options)
        CAPTURED.append(repr(result))
        await self._check_output(name, result)
        return result

    async def _check_output(self, name: str, result: CallToolResult) -> None:
        """structuredContent is what the tool's outputSchema says (the SDK does not check it for us), and meets
        the whole result contract (required fields and formats too, which the published schema leaves out)."""
        if result.structured_content is None:
            return
        if self._output_schemas is None:
            listed = await self.client.list_tools()
            self._output_schemas = {tool.name: tool.output_schema for tool in listed.tools}
        schema = self._output_schemas.get(name)
        assert schema is not None, f"{name} returned structuredContent but publishes no outputSchema"
        jsonschema.validate(result.structured_content, schema)
        if not result.is_error:
            jsonschema.validate(
                result.structured_content,
                result_contract(TOOL_SPECS[name].result),
                format_checker=jsonschema.FormatChecker(),
            )

    @property
    def stderr(self) -> str:
        """What the server wrote to stderr (spawned), or logged (in this process)."""
        if isinstance(self._log, list):
            return "".join(self._log)
        self._log.seek(0)
        return str(self._log.read())


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + "\n")


@contextmanager
def logged_lines() -> Iterator[list[str]]:
    """dodo_mcp's log lines (every level) while the block runs, formatted as on stderr."""
    lines: list[str] = []
    handler = _Lines(lines)
    logger = logging.getLogger("dodo_mcp")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        CAPTURED.extend(lines)


@asynccontextmanager
async def tool_session(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    tools: Collection[str] = TOOL_NAMES,
    mode: str = "auto",
) -> AsyncIterator[Session]:
    """The SDK's client with `build_server(settings, ...)`, in this process."""
    with logged_lines() as lines:
        server = build_server(settings, transport=transport, tools=tools)
        async with Client(server, mode=mode) as client:  # type: ignore[arg-type]
            yield Session(client, lines)


@asynccontextmanager
async def sandbox_session(db: Path | str = ":memory:", **options: Any) -> AsyncIterator[Session]:
    """`tool_session` against the sandbox on `db`, in-process, as `dodo-mcp --sandbox --sandbox-db DB` serves it."""
    store = open_store(db)
    try:
        settings, transport = sandbox_backend(dodo_settings(), store)
        async with tool_session(settings, transport=transport, **options) as session:
            yield session
    finally:
        store.close()


@asynccontextmanager
async def stdio_session(env: dict[str, str], *args: str, mode: str = "auto") -> AsyncIterator[Session]:
    """Spawn `python -m dodo_mcp ARGS` and talk to it over its stdin and stdout with the SDK's client."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "dodo_mcp", *args], env=env)
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        try:
            async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:  # type: ignore[arg-type]
                yield Session(client, errlog)
        finally:
            errlog.seek(0)
            CAPTURED.append(errlog.read())


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert block.type == "text"
    return block.text


def counts(structured: dict[str, Any] | None) -> dict[str, int]:
    """The headline numbers of an ingest_events result."""
    assert structured is not None
    return {key: structured[key] for key in COUNT_KEYS}


def ingest_counts(
    *, submitted: int, ingested: int, ignored: int = 0, possibly_earlier: int = 0, unconfirmed: int = 0
) -> dict[str, int]:
    """The headline numbers an ingest_events result should have, to compare with `counts(...)`."""
    return dict(zip(COUNT_KEYS, (submitted, ingested, ignored, possibly_earlier, unconfirmed), strict=True))


# Every tool, exactly as tools/list must name them, in its order.
ALL_TOOLS = [
    "retrieve_event",
    "list_events",
    "ingest_events",
    "summarize_events",
    "explain_meter_match",
    "list_meters",
    "usage_history",
]
