"""What a call in progress tells whoever listens: each request made and how it ended, and a request about to be
retried, after how long, and why.

The API layer knows nothing of MCP, yet a client wants to hear of retries and rate-limit waits while a
tool call runs. So DodoClient states each as a fact (a RetryNotice) to the listener of the current
context, and the tools layer, which knows the call, puts the listener there around each tool call with
`listening`. A contextvar rather than an argument: every client method and scan reaches `send`, and the
ingest batches' tasks inherit the listener from the call that started them.

Listeners nest: one set inside another's block is told first, then the outer one is. The HTTP transport's
metrics listen around every request this way, and the tools layer's client log inside each tool call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from dodo_mcp.api.errors import DodoError, Operation


@dataclass(frozen=True)
class RetryNotice:
    """A request failed and will be sent again once `wait_s` has passed."""

    operation: Operation
    # The attempt that failed (from 1), and the most this request makes.
    attempt: int
    attempts: int
    wait_s: float
    # Why: the failure, as the API layer raised it (its message may quote Dodo, so it is scrubbed before it goes out).
    error: DodoError
    # Whether the wait is the one Dodo asked for (Retry-After), rather than our own backoff.
    asked_by_dodo: bool


@dataclass(frozen=True)
class RequestNotice:
    """One request to Dodo was answered, or failed without an answer, after `seconds`."""

    operation: Operation
    # The attempt (from 1).
    attempt: int
    # Dodo's HTTP status ("200", "429", ...), or "timeout" or "connection_error" when no answer came.
    outcome: str
    seconds: float


Notice = RetryNotice | RequestNotice
Listener = Callable[[Notice], Awaitable[None]]

_listener: ContextVar[Listener | None] = ContextVar("dodo_mcp_api_listener", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Tell `listener` of every request and retry that the code run inside the block (and the tasks it starts)
    makes, and then whichever listener was set outside the block."""
    outer = _listener.get()

    async def both(notice: Notice) -> None:
        await listener(notice)
        if outer is not None:
            await outer(notice)

    token = _listener.set(listener if outer is None else both)
    try:
        yield
    finally:
        _listener.reset(token)


async def tell(notice: Notice) -> None:
    """Hand `notice` to the current listener, if there is one."""
    listener = _listener.get()
    if listener is not None:
        await listener(notice)
