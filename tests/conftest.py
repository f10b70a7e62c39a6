"""Shared fixtures: a Dodo test double on 127.0.0.1 and dodo-mcp spawned over real stdio."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from tests.dodo_double import DodoDouble

# A key that must never appear in any output: every test's stderr and tool results are checked.
API_KEY = "sk_test_SECRET_do_not_leak_4242"
CAPTURED: list[str] = []


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
    """After the whole run: the API key appeared in no stderr and no tool result."""
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


class Session:
    """An MCP client session with a spawned dodo-mcp, and what it wrote to stderr."""

    def __init__(self, client: Client, errlog: Any) -> None:
        self.client = client
        self._errlog = errlog

    async def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        result = await self.client.call_tool(name, arguments)
        CAPTURED.append(repr(result))
        return result

    @property
    def stderr(self) -> str:
        self._errlog.seek(0)
        return str(self._errlog.read())


@asynccontextmanager
async def stdio_session(env: dict[str, str], *args: str, mode: str = "auto") -> AsyncIterator[Session]:
    """Spawn `python -m dodo_mcp ARGS` and talk to it over its stdin and stdout with the SDK's client."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "dodo_mcp", *args], env=env)
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        session: Session | None = None
        try:
            async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:  # type: ignore[arg-type]
                session = Session(client, errlog)
                yield session
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
    keys = ("submitted_count", "ingested_count", "ignored_count", "unconfirmed_count")
    return {key: structured[key] for key in keys}
