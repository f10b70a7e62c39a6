"""Fixtures for the sandbox tests: a store on disk and the sandbox served by uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, SandboxStore, create_app, open_store
from tests.served_app import ServedApp

AUTH = {"Authorization": f"Bearer {DEFAULT_SANDBOX_API_KEY}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SandboxStore]:
    opened = open_store(tmp_path / "sandbox.sqlite3")
    yield opened
    opened.close()


class LiveSandbox(ServedApp):
    """The sandbox app served by a real uvicorn on 127.0.0.1, in a background thread."""

    def __init__(self, store: SandboxStore, api_key: str = DEFAULT_SANDBOX_API_KEY) -> None:
        super().__init__(create_app(store, api_key))
        self.store = store

    def client(self, **kwargs: Any) -> httpx2.Client:
        headers = kwargs.pop("headers", AUTH)
        return httpx2.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="session")
def shared_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSandbox]:
    # One server for the session (starting uvicorn per test would dominate the run time).
    shared_store = open_store(tmp_path_factory.mktemp("live") / "sandbox.sqlite3")
    with LiveSandbox(shared_store) as server:
        yield server
    shared_store.close()


@pytest.fixture
def live(shared_live: LiveSandbox) -> LiveSandbox:
    """The shared server, emptied for this test."""
    shared_live.store.reset()
    return shared_live


@pytest.fixture
def http(live: LiveSandbox) -> Iterator[httpx2.Client]:
    with live.client() as client:
        yield client
