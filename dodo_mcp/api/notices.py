"""What a call in progress tells whoever listens: a request is about to be retried, after how long, and why.

The API layer knows nothing of MCP, yet a client wants to hear of retries and rate-limit waits while a
tool call runs. So DodoClient states each as a fact (a RetryNotice) to the listener of the current
context, and the tools layer, which knows the call, puts the listener there around each tool call with
`listening`. A contextvar rather than an argument: every client method and scan reaches `send`, and the
ingest batches' tasks inherit the listener from the call that started them.
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


Listener = Callable[[RetryNotice], Awaitable[None]]

_listener: ContextVar[Listener | None] = ContextVar("dodo_mcp_api_listener", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Tell `listener` of every retry that the code run inside the block (and the tasks it starts) makes."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


async def tell(notice: RetryNotice) -> None:
    """Hand `notice` to the current listener, if there is one."""
    listener = _listener.get()
    if listener is not None:
        await listener(notice)
