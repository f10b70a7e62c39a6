"""Resumable Streamable HTTP streams: where a session's SSE events wait for a client that lost its connection.

A proxy that cuts an idle SSE stream, or a flaky network, must not lose the result of a long call. The
SDK numbers every SSE event on a POST's stream (after a priming event with an id, an empty data field
and a `retry` field); a client whose stream ended early reconnects with GET and `Last-Event-ID`, and
the SDK replays, from its EventStore, what came after that event, then follows the call live.

The interface (`mcp.server.streamable_http.EventStore`, the SDK's) is two methods:

- `store_event(stream_id, message)` keeps one event (`message` None for a priming event) and returns
  its id, unique in the store;
- `replay_events_after(last_event_id, send_callback)` sends each event of the same stream stored after
  that one, in order, and returns the stream's id; None when the id is unknown (never stored, or evicted).

MemoryEventStore is the default: one per process, bounded by count and age. A shared one (Redis,
a database) implements the same two methods; pass it to `build_app(..., event_store=...)`. Sessions
live in one replica's memory, so a load balancer must route a session to its replica either way
(deploy/haproxy.cfg does, by mcp-session-id); a shared store adds only that events outlive a
replica's process. Each session sees the store through its own SessionEvents, so stream ids (the
SDK uses the JSON-RPC request id, which every session starts again at 0) never meet across sessions,
and an event id from another session replays nothing.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage


@dataclass(frozen=True)
class _Stored:
    stream_id: StreamId
    message: JSONRPCMessage | None
    stored_at: float


class MemoryEventStore(EventStore):
    """Events in this process's memory: at most `max_events`, none older than `max_age_s` (oldest go first)."""

    def __init__(self, max_events: int, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_events < 1 or not max_age_s > 0:
            raise ValueError("an event store needs room for at least one event and a positive age limit")
        self.max_events = max_events
        self.max_age_s = max_age_s
        self._clock = clock
        # Insertion order is age order: eviction pops from the front.
        self._events: OrderedDict[EventId, _Stored] = OrderedDict()
        self._streams: dict[StreamId, deque[EventId]] = {}

    @property
    def size(self) -> int:
        """How many events are kept. (Not __len__: the SDK tests a store's truth, and an empty one must be true.)"""
        return len(self._events)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        now = self._clock()
        self._evict(now, room_for=1)
        event_id = uuid.uuid4().hex
        self._events[event_id] = _Stored(stream_id, message, now)
        self._streams.setdefault(stream_id, deque()).append(event_id)
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        self._evict(self._clock(), room_for=0)
        last = self._events.get(last_event_id)
        if last is None:
            return None
        # Copied before sending: a send may wait, and events stored meanwhile are followed live by the SDK.
        stream = list(self._streams[last.stream_id])
        for event_id in stream[stream.index(last_event_id) + 1 :]:
            stored = self._events[event_id]
            if stored.message is not None:
                await send_callback(EventMessage(stored.message, event_id))
        return last.stream_id

    def _evict(self, now: float, room_for: int) -> None:
        while self._events:
            event_id, oldest = next(iter(self._events.items()))
            if len(self._events) + room_for <= self.max_events and now - oldest.stored_at <= self.max_age_s:
                return
            del self._events[event_id]
            stream = self._streams[oldest.stream_id]
            stream.popleft()  # the stream's oldest event is the store's oldest of it
            if not stream:
                del self._streams[oldest.stream_id]


class SessionEvents(EventStore):
    """One session's view of a shared store: its stream ids prefixed by its own, so sessions never meet."""

    def __init__(self, shared: EventStore, scope: str | None = None) -> None:
        self._shared = shared
        self._prefix = f"{scope or uuid.uuid4().hex}/"

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        return await self._shared.store_event(self._prefix + stream_id, message)

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        # Held until the stream is known to be this session's: another session's events are never sent.
        replayed: list[EventMessage] = []

        async def hold(event: EventMessage) -> None:
            replayed.append(event)

        stream_id = await self._shared.replay_events_after(last_event_id, hold)
        if stream_id is None or not stream_id.startswith(self._prefix):
            return None
        for event in replayed:
            await send_callback(event)
        return stream_id[len(self._prefix) :]
