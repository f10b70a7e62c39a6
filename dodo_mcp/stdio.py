"""A lean stdio transport for MCPServer: the SDK's own server loop, without worker threads.

The SDK's `stdio_server` wraps stdin and stdout with `anyio.wrap_file`, so every line read and
every write and flush is handed to a worker thread and back. Here the event loop waits for the
descriptors to be ready and calls `os.read`/`os.write` itself; messages are parsed and
serialised exactly as the SDK does (`jsonrpc_message_adapter`, `model_dump_json(by_alias=True,
exclude_unset=True)`) and fed to the SDK's own server loop (dodo_mcp.mcp_sdk.run_server_loop), so
the protocol, sessions and handlers are the SDK's, unchanged.

Unlike the SDK's transport, requests read before stdin closes are answered before serving ends
(`dodo-mcp < requests.jsonl` works), for up to DRAIN_TIMEOUT_S.

Every line that is not a valid JSON-RPC message gets the answer JSON-RPC prescribes, where the
SDK's transport logs it and answers nothing, so the client would wait forever: -32700 with id null
for a line that does not parse (invalid UTF-8 included: it is refused, never replaced), -32600 for
valid JSON that is not a valid message, with its id when it has one.

Like the SDK, while serving it points fd 0 at the null device and fd 1 at stderr, so a stray
`print` or a child process cannot corrupt the wire; both are restored on exit. POSIX only:
`run_stdio` falls back to the SDK's transport on Windows.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import stat
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCMessage, JSONRPCRequest, JSONRPCResponse

from dodo_mcp.jsonrpc import Refusal, read_message
from dodo_mcp.mcp_sdk import run_server_loop

READ_CHUNK = 1 << 16
# At end of input, how long requests already read may still take to be answered before serving ends.
DRAIN_TIMEOUT_S = 60.0
# A pipe that polls writable has room for at least this much: a write this size never blocks. Used
# only where the pipe has no non-blocking twin (see _nonblocking_twin).
WRITE_CHUNK = getattr(select, "PIPE_BUF", 512)


def run_stdio(server: MCPServer[Any], install: Install | None = None, read: ReadMessage = read_message) -> None:
    """Serve `server` over this process's stdin and stdout until stdin closes (`MCPServer.run("stdio")`),
    calling `install` once the handshake is answered and reading each line with `read` (see serve_stdio)."""
    if sys.platform == "win32":  # pragma: no cover
        if install is not None:
            install()
        server.run("stdio")
        return
    anyio.run(functools.partial(serve_stdio, server, install=install, read=read))


async def serve_stdio(
    server: MCPServer[Any],
    *,
    fds: tuple[int, int] | None = None,
    install: Install | None = None,
    read: ReadMessage = read_message,
) -> None:
    """Serve over `fds` (read fd, write fd), or over the claimed stdin and stdout when None.

    `install` (server.ServerStart's) adds what every request but the handshake needs. It runs once the
    answer to an opening `initialize` is written, before the next message is read, so the client waits for
    those imports only once it has its answer; if the first message is anything else, it runs first.
    `read` reads each line into its message (server.ServerStart.read_message, where there is one)."""
    with contextlib.ExitStack() as stack:
        read_fd, write_fd = fds if fds is not None else stack.enter_context(claimed_stdio())
        incoming_send, incoming = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        outgoing, outgoing_receive = anyio.create_memory_object_stream[SessionMessage](0)
        unanswered = Unanswered()
        async with anyio.create_task_group() as group:
            group.start_soon(write_messages, write_fd, outgoing_receive, unanswered)
            reading = anyio.CancelScope()
            replies = outgoing.clone()

            async def read_all() -> None:
                with reading, replies:
                    await read_messages(read_fd, incoming_send, unanswered, replies, install, read)

            group.start_soon(read_all)
            try:
                await run_server_loop(server, incoming, outgoing)
            finally:
                reading.cancel()
                # The writer sends what is queued, then ends.
                outgoing.close()


class Unanswered:
    """The ids of requests read and not yet answered, so that end of input can wait for their answers."""

    def __init__(self) -> None:
        self.ids: set[str | int] = set()
        self.settled = anyio.Event()

    def read(self, message: object) -> None:
        if isinstance(message, JSONRPCRequest):
            self.ids.add(message.id)

    def written(self, message: object) -> None:
        if isinstance(message, JSONRPCResponse | JSONRPCError) and message.id is not None:
            self.ids.discard(message.id)
            if not self.ids:
                self.settled.set()
                self.settled = anyio.Event()

    async def wait(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            while self.ids:
                await self.settled.wait()


async def read_messages(
    fd: int,
    sink: MemoryObjectSendStream[SessionMessage | Exception],
    unanswered: Unanswered | None = None,
    replies: MemoryObjectSendStream[SessionMessage] | None = None,
    install: Install | None = None,
    read: ReadMessage = read_message,
) -> None:
    """Parse newline-delimited JSON-RPC from `fd` into `sink` until end of file (and the answers to what
    was read, when `unanswered` tracks them), then close `sink`. A line that is not a valid message is
    answered on `replies` with its JSON-RPC error; without `replies` its exception goes to `sink`.
    `install` and `read`, when given, are as serve_stdio says."""
    # The install waits for the handshake's answer, which only a tracked writer reports.
    assert install is None or unanswered is not None, "install needs the writer's Unanswered"
    tracked = unanswered if unanswered is not None else Unanswered()
    gate = _InstallGate(install, tracked)
    pollable = _pollable(fd)
    pending: list[bytes] = []
    async with sink:
        while True:
            if pollable:
                await anyio.wait_readable(fd)
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                break
            if b"\n" not in chunk:
                pending.append(chunk)
                continue
            pending.append(chunk)
            *lines, rest = b"".join(pending).split(b"\n")
            pending = [rest] if rest else []
            for line in lines:
                await _deliver(line, read, sink, tracked, replies, gate)
        if pending:
            await _deliver(b"".join(pending), read, sink, tracked, replies, gate)
        if unanswered is not None:
            await unanswered.wait(DRAIN_TIMEOUT_S)


async def _deliver(
    line: bytes,
    read: ReadMessage,
    sink: MemoryObjectSendStream[SessionMessage | Exception],
    unanswered: Unanswered,
    replies: MemoryObjectSendStream[SessionMessage] | None,
    gate: _InstallGate,
) -> None:
    if not line.strip():
        return
    message = read(line)
    if isinstance(message, Refusal):
        if replies is None:
            await sink.send(message.cause)
        else:
            await replies.send(SessionMessage(message.answer))
        return
    handshake = gate.pending and isinstance(message, JSONRPCRequest) and message.method == "initialize"
    if not handshake:
        gate.run()
    unanswered.read(message)
    await sink.send(SessionMessage(message))
    if handshake:
        await gate.after_answer()


# What adds the rest of the server after the handshake (server.ServerStart.install).
Install = Callable[[], None]
# What reads a line into its message, or the refusal to answer it with (jsonrpc.read_message's signature).
ReadMessage = Callable[[bytes], JSONRPCMessage | Refusal]


class _InstallGate:
    """Runs `install` once: after the answer to an opening initialize, or before any other first message."""

    def __init__(self, install: Install | None, unanswered: Unanswered) -> None:
        self._install = install
        self._unanswered = unanswered

    @property
    def pending(self) -> bool:
        return self._install is not None

    def run(self) -> None:
        install, self._install = self._install, None
        if install is not None:
            install()

    async def after_answer(self) -> None:
        # Nothing else is read meanwhile: the next message (tools/list, most likely) finds the tools there.
        await self._unanswered.wait(DRAIN_TIMEOUT_S)
        self.run()


async def write_messages(
    fd: int, source: MemoryObjectReceiveStream[SessionMessage], unanswered: Unanswered | None = None
) -> None:
    """Write each message as one JSON line, without blocking the event loop on a full pipe."""
    with _nonblocking_twin(fd) as twin:
        async with source:
            async for session_message in source:
                text = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                await _write_all(fd, twin, memoryview(text.encode() + b"\n"))
                if unanswered is not None:
                    unanswered.written(session_message.message)


async def _write_all(fd: int, twin: _Twin, data: memoryview) -> None:
    """One write per message where the pipe has room: a second write would wake the reader twice."""
    while data:
        if twin.fd is not None:
            try:
                written = os.write(twin.fd, data)
            except BlockingIOError:
                await anyio.wait_writable(fd)
                continue
        elif not twin.pollable:
            written = os.write(fd, data)
        else:
            # Blocking and shared: only PIPE_BUF bytes are sure to fit once the pipe polls writable.
            if not twin.poller.poll(0):
                await anyio.wait_writable(fd)
            written = os.write(fd, data[:WRITE_CHUNK])
        data = data[written:]


class _Twin:
    """How to write to fd without blocking: its non-blocking twin, or polling before each PIPE_BUF."""

    def __init__(self, fd: int | None, pollable: bool, poller: select.poll) -> None:
        self.fd, self.pollable, self.poller = fd, pollable, poller


@contextlib.contextmanager
def _nonblocking_twin(fd: int) -> Iterator[_Twin]:
    """A non-blocking descriptor of the same pipe, opened anew (Linux's /proc/self/fd), so O_NONBLOCK is
    ours alone: set on `fd` itself it would change the open file description the parent process shares.
    Elsewhere (no /proc, a socket, a regular file) None, and writes fall back to PIPE_BUF at a time."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    twin: int | None = None
    if stat.S_ISFIFO(os.fstat(fd).st_mode):
        with contextlib.suppress(OSError):
            twin = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        yield _Twin(twin, _pollable(fd), poller)
    finally:
        if twin is not None:
            os.close(twin)


def _pollable(fd: int) -> bool:
    """Pipes, sockets and terminals can be waited on; epoll refuses regular files and devices such as
    /dev/null, which never block anyway."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


@contextlib.contextmanager
def claimed_stdio() -> Iterator[tuple[int, int]]:
    """Private duplicates of fds 0 and 1 for the wire; fd 0 reads the null device and fd 1 goes to stderr."""
    import fcntl

    sys.stdout.flush()
    read_fd = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    write_fd = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
    finally:
        os.close(null)
    try:
        yield read_fd, write_fd
    finally:
        with contextlib.suppress(ValueError, OSError):
            sys.stdout.flush()
        os.dup2(read_fd, 0)
        os.dup2(write_fd, 1)
        os.close(read_fd)
        os.close(write_fd)
