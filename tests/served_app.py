"""Serve any ASGI app with a real uvicorn on 127.0.0.1, in a background thread."""

from __future__ import annotations

import threading
import time

import uvicorn
from starlette.types import ASGIApp
from typing_extensions import Self

from dodo_mcp.listen import listening_socket


class ServedApp:
    """`with ServedApp(app) as served:` then talk to `served.url`."""

    def __init__(self, app: ASGIApp) -> None:
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="auto", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        # The product's own binding (TCP_NODELAY on, listening at once) on a free loopback port.
        self._sock = listening_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> Self:
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
