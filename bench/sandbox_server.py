"""The sandbox's HTTP API for the benchmarks: `dodo-mcp sandbox serve` with TCP_NODELAY on every connection.

`dodo-mcp sandbox serve` binds its socket with uvicorn's `Config.bind_socket()`, which creates it with
protocol 0; asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP, so each response
(headers and body are two writes) waits ~40 ms for the client's delayed ACK. This launcher binds the
socket with IPPROTO_TCP and is otherwise the same app, store and uvicorn settings.

    python bench/sandbox_server.py --db PATH      prints "listening on http://127.0.0.1:PORT" to stderr
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys

import uvicorn

from dodo_mcp.sandbox import DEFAULT_SANDBOX_API_KEY, create_app, open_store


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    store = open_store(args.db)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(
        create_app(store, DEFAULT_SANDBOX_API_KEY), log_config=None, access_log=False, lifespan="on"
    )
    print(f"dodo-mcp sandbox listening on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
