"""Fixtures for the sandbox tests: a store on disk and the sandbox served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn

from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, SandboxStore, create_app, open_store

AUTH = {"Authorization": f"Bearer {DEFAULT_SANDBOX_API_KEY}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SandboxStore]:
    opened = open_store(tmp_path / "sandbox.sqlite3")
    yield opened
    opened.close()


class LiveSandbox:
    """The sandbox app served by a real uvicorn on 127.0.0.1, in a background thread."""

    def __init__(self, store: SandboxStore, api_key: str = DEFAULT_SANDBOX_API_KEY) -> None:
        self.store = store
        config = uvicorn.Config(
            create_app(store, api_key), log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        # proto=IPPROTO_TCP so that asyncio sets TCP_NODELAY (else ~40 ms delayed-ACK stalls).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> LiveSandbox:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

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
