"""An ingest_events call read in one pass, from the request's bytes to checked records.

A 1,000-event tools/call is some 150 KB of JSON. Read the general way (dodo_mcp.jsonrpc), it is parsed
into Python values, since the SDK needs the message, and then the events field's validator walks all
of them again, building the records that are sent (api.fast_events), while the parsed copy stays alive
to the end of the call. Read here, pydantic-core validates the bytes against the schema of exactly
that call: a request whose method is tools/call, whose tool is ingest_events, and whose events pass
the fast path's core checks. It builds the records as it parses and takes everything else in the
message as it is. The message the SDK gets is the same, value for value; its events are CheckedEvents,
which the events field's validator takes without a second walk. The Python rules, the duplicate ids
and the rest of the arguments are checked as always.

Anything else (another method or tool, invalid JSON, one event the core checks refuse) is not this
reader's: it answers None, the line is read the general way, and every refusal and every error message
is what it always was.

Measured with `bench/ab.py` (1,000 events, constant backend): the issue 15 closing note has the figures.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, Union

from pydantic import ConfigDict, StrictInt, StrictStr, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from dodo_mcp.tools.models import EVENTS_IN_ESCAPE_FREE_JSON, EVENTS_IN_JSON
from dodo_mcp.tools.names import TOOL_INGEST_EVENTS

if TYPE_CHECKING:
    _Checked = list[Any]
    _EscapeFree = list[Any]
else:
    _Checked, _EscapeFree = EVENTS_IN_JSON, EVENTS_IN_ESCAPE_FREE_JSON

EventsT = TypeVar("EventsT")


# Every object but the events' records takes the members it does not name as they are (extra="allow"):
# whether they are right is for the general rules to say, exactly as for any other message.
@with_config(ConfigDict(extra="allow"))
class _Arguments(TypedDict, Generic[EventsT]):
    events: EventsT


@with_config(ConfigDict(extra="allow"))
class _Params(TypedDict, Generic[EventsT]):
    name: Literal["ingest_events"]
    arguments: _Arguments[EventsT]


@with_config(ConfigDict(extra="allow"))
class _IngestCall(TypedDict, Generic[EventsT]):
    # A string or an integer, as jsonrpc.read_message takes ids: never `true` read as the id 1.
    id: Union[StrictInt, StrictStr]  # noqa: UP007 - pydantic needs the runtime Union on 3.10
    method: Literal["tools/call"]
    params: _Params[EventsT]


assert TOOL_INGEST_EVENTS == "ingest_events", "_Params names the tool as a literal"
# Cheap to look for (a memchr-speed search), and in every ingest_events call as sent by clients.
_TOOL_NAME = f'"{TOOL_INGEST_EVENTS}"'.encode()


def read_ingest_call(data: bytes) -> dict[str, Any] | None:
    """The JSON value of `data` when it is an ingest_events call whose events pass the core checks, else None."""
    if _TOOL_NAME not in data:
        return None
    checked, escape_free = _readers()
    # Without a backslash (so no escape sequence) or a DEL byte, no string in the text holds a control character.
    call = checked if b"\\" in data or b"\x7f" in data else escape_free
    try:
        return dict(call.validate_json(data))
    except ValidationError:
        return None


@functools.cache
def _readers() -> tuple[TypeAdapter[_IngestCall[_Checked]], TypeAdapter[_IngestCall[_EscapeFree]]]:
    # Built at the first ingest_events call, not with the tools (some 6 ms that tools/list would wait for).
    return TypeAdapter(_IngestCall[_Checked]), TypeAdapter(_IngestCall[_EscapeFree])
