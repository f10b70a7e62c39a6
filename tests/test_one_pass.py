"""tools.one_pass: an ingest_events call read in one pass says and sends exactly what the general reading does.

The reader is only a shortcut: for every line, the message it gives is the general reading's, value for
value, and the arguments validate to the same records, or fail with the same words, whichever way they
were read. Over real stdio (the CLI's path), every answer and every body sent to Dodo is the one the
in-process server gives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from mcp_types import JSONRPCMessage, JSONRPCRequest
from pydantic_core import from_json, to_json

from dodo_mcp.api.client import ingest_body
from dodo_mcp.api.fast_events import CheckedEvents
from dodo_mcp.api.limits import MAX_ID_LENGTH
from dodo_mcp.jsonrpc import Refusal, read_message
from dodo_mcp.server import start_server
from dodo_mcp.tools.arguments import InvalidArgumentsError, validate_arguments
from dodo_mcp.tools.models import IngestEventsArguments
from dodo_mcp.tools.one_pass import read_ingest_call
from tests.conftest import Session, dodo_settings, server_env, stdio_session, text_of, tool_session
from tests.dodo_double import DodoDouble

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
RECENT = "2026-12-01T11:30:00Z"


def event(n: int, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"evt_{n}", "customer_id": f"cus_{n % 3}", "event_name": "api_request", **fields}


# Arguments of ingest_events, each a case the general reading and the one pass must agree on.
ARGUMENTS: dict[str, Any] = {
    "valid": {"events": [event(n, metadata={"tokens": n, "model": "small", "cached": n % 2 == 0}) for n in range(5)]},
    "valid, every metadata type": {"events": [event(1, metadata={"s": "x", "b": True, "i": -7, "f": 1.5e-7})]},
    "valid, recent timestamp": {"events": [event(1, timestamp=RECENT)]},
    "valid, non-ASCII and a newline": {"events": [event(1, metadata={"note": "café\nbar 😀"})]},
    "null timestamp and metadata": {"events": [event(1, timestamp=None), event(2, metadata=None)]},
    "a stale timestamp": {"events": [event(1), event(2, timestamp="2026-11-01T00:00:00Z")]},
    "a timestamp in the future": {"events": [event(1, timestamp="2026-12-02T00:00:00Z")]},
    "an impossible date": {"events": [event(1, timestamp="2026-02-30T00:00:00Z")]},
    "a timestamp of the wrong shape": {"events": [event(1, timestamp="yesterday")]},
    "unreadable ids": {"events": [event(1, event_id="."), event(2, event_id="..")]},
    "an empty id": {"events": [event(1), event(3, event_id="")]},
    "a control character in an id": {"events": [event(1, customer_id="cus\u0001")]},
    "DEL in an id": {"events": [event(1, event_name="api\x7f")]},
    "NUL in a metadata string": {"events": [event(1, metadata={"k": "a\u0000b"})]},
    "an id too long": {"events": [event(1, event_id="x" * (MAX_ID_LENGTH + 1))]},
    "nested metadata": {"events": [event(1, metadata={"a": {"b": 1}})]},
    "too many metadata keys": {"events": [event(1, metadata={f"k{n}": n for n in range(51)})]},
    "an integer beyond 64 bits": {"events": [event(1, metadata={"big": 2**70})]},
    "duplicate ids": {"events": [event(1), event(2), event(1)]},
    "an unknown event field": {"events": [event(1, amount=3)]},
    "an id that is a number": {"events": [event(1, event_id=5)]},
    "no events": {"events": []},
    "too many events": {"events": [event(n) for n in range(10_001)]},
    "events as a JSON string": {"events": json.dumps([event(1)])},
    "unknown arguments after": {"events": [event(1)], "foo": 1, "bar": [2]},
    "unknown arguments before": {"foo": 1, "events": [event(1)], "bar": [2]},
    "unknown arguments and a bad event": {"foo": 1, "events": [event(1, timestamp="nope")], "bar": 2},
}


def call_line(arguments: Any, *, ascii_only: bool = False, request_id: Any = 7, **params: Any) -> bytes:
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "ingest_events", "arguments": arguments, **params},
    }
    return json.dumps(message, ensure_ascii=ascii_only, separators=(",", ":")).encode()


def arguments_of(message: JSONRPCMessage | Refusal) -> Any:
    assert isinstance(message, JSONRPCRequest) and message.params is not None
    return message.params["arguments"]


def outcome(arguments: Any) -> Any:
    """What validate_arguments makes of `arguments`: the records, or the error's whole text."""
    try:
        return validate_arguments(IngestEventsArguments, arguments, tool="ingest_events", now=NOW).events
    except InvalidArgumentsError as exc:
        return str(exc)


@pytest.mark.parametrize("ascii_only", [False, True], ids=["utf-8", "escaped"])
@pytest.mark.parametrize("case", list(ARGUMENTS))
def test_the_one_pass_reading_validates_to_the_same_records_or_the_same_errors(case: str, ascii_only: bool) -> None:
    line = call_line(ARGUMENTS[case], ascii_only=ascii_only)
    general = read_message(line)
    one_pass = read_message(line, one_pass=read_ingest_call)
    arguments, general_arguments = arguments_of(one_pass), arguments_of(general)
    assert one_pass.model_dump(by_alias=True) == general.model_dump(by_alias=True)  # type: ignore[union-attr]
    expected = outcome(general_arguments)
    assert outcome(arguments) == expected
    # Validated, the arguments are still what the client sent (the SDK's requestState digest reads them).
    assert json.dumps(arguments, sort_keys=True) == json.dumps(from_json(line)["params"]["arguments"], sort_keys=True)
    if not isinstance(expected, str):
        assert ingest_body(outcome(arguments)) == to_json({"events": expected}, exclude_none=True)


def test_only_events_the_core_checks_pass_are_read_in_one_pass() -> None:
    taken = {case for case in ARGUMENTS if read_ingest_call(call_line(ARGUMENTS[case])) is not None}
    assert taken == {
        "valid",
        "valid, every metadata type",
        "valid, recent timestamp",
        "valid, non-ASCII and a newline",
        "null timestamp and metadata",
        # The Python rules (the window, a real date, readable and unique ids) are the validator's, as always.
        "a stale timestamp",
        "a timestamp in the future",
        "an impossible date",
        "unreadable ids",
        "an integer beyond 64 bits",
        "duplicate ids",
        "unknown arguments after",
        "unknown arguments before",
    }
    read = read_ingest_call(call_line(ARGUMENTS["valid"], progress=None, _meta={"progressToken": "p"}))
    assert read is not None
    assert isinstance(read["params"]["arguments"]["events"], CheckedEvents)
    assert read["params"]["_meta"] == {"progressToken": "p"}


@pytest.mark.parametrize(
    "line",
    [
        call_line(ARGUMENTS["valid"], request_id=True),
        call_line(ARGUMENTS["valid"], request_id=None),
        call_line(ARGUMENTS["valid"], request_id=1.0),
        call_line(ARGUMENTS["valid"], request_id="a-string-id"),
        call_line(ARGUMENTS["valid"])[:-1],
        call_line(ARGUMENTS["valid"]) + b"x",
        call_line(ARGUMENTS["valid"]).replace(b'"jsonrpc":"2.0"', b'"jsonrpc":"1.0"'),
        call_line(ARGUMENTS["valid"]).replace(b'"tools/call"', b'"tools/list"'),
        call_line(ARGUMENTS["valid"]).replace(b'"method":"tools/call",', b""),
        call_line(ARGUMENTS["valid"]).replace(b'"evt_1"', b'"evt_\xff"'),
        b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_events","arguments":{"customer_id":"ingest_events"}}}',
        b'{"jsonrpc":"2.0","id":3,"result":{"name":"ingest_events"}}',
    ],
    ids=[
        "id true",
        "id null",
        "id 1.0",
        "string id",
        "cut short",
        "trailing bytes",
        "jsonrpc 1.0",
        "another method",
        "no method",
        "invalid UTF-8",
        "another tool",
        "a response",
    ],
)
def test_every_line_reads_as_the_general_reading_reads_it(line: bytes) -> None:
    general = read_message(line)
    one_pass = read_message(line, one_pass=read_ingest_call)
    if isinstance(general, Refusal):
        assert isinstance(one_pass, Refusal)
        assert one_pass.answer == general.answer
    else:
        assert not isinstance(one_pass, Refusal)
        assert one_pass.model_dump(by_alias=True) == general.model_dump(by_alias=True)


def test_the_server_reads_in_one_pass_once_the_tools_are_installed() -> None:
    start = start_server(dodo_settings("http://127.0.0.1:9"))
    line = call_line(ARGUMENTS["valid"])
    assert type(arguments_of(start.read_message(line))["events"]) is list
    start.install()
    assert isinstance(arguments_of(start.read_message(line))["events"], CheckedEvents)
    # A server that does not serve ingest_events reads every line the general way.
    read_only = start_server(dodo_settings("http://127.0.0.1:9"), tools=["list_events"])
    read_only.install()
    assert type(arguments_of(read_only.read_message(line))["events"]) is list


def test_a_body_beyond_orjson_is_written_by_pydantic_core() -> None:
    records: list[Any] = [{"event_id": "e", "customer_id": "c", "event_name": "n", "metadata": {"big": 2**70}}]
    assert ingest_body(records) == to_json({"events": records})
    assert (
        ingest_body(records)
        == b'{"events":[{"event_id":"e","customer_id":"c","event_name":"n","metadata":{"big":1180591620717411303424}}]}'
    )


def test_without_orjson_the_body_is_the_same_bytes_from_pydantic_core() -> None:
    # As on Python 3.15, where orjson has no wheel and pyproject leaves it out: the import fails.
    code = (
        "import sys; sys.modules['orjson'] = None\n"
        "from dodo_mcp.api.client import ingest_body\n"
        "sys.stdout.buffer.write(ingest_body([{'event_id': 'e', 'customer_id': 'c', 'event_name': 'n', "
        "'metadata': {'f': 1.5e-07, 'u': 'café'}}]))"
    )
    written = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    records: list[Any] = [event(0, event_id="e", customer_id="c", event_name="n", metadata={"f": 1.5e-07, "u": "café"})]
    assert (
        written
        == ingest_body(records)
        == '{"events":[{"event_id":"e","customer_id":"c","event_name":"n","metadata":{"f":1.5e-7,"u":"café"}}]}'.encode()
    )


# Over real stdio, against the in-process server, on the same double: each case's answer and bodies.
STDIO_CASES = [
    "valid",
    "valid, non-ASCII and a newline",
    "null timestamp and metadata",
    "a stale timestamp",
    "unreadable ids",
    "duplicate ids",
    "NUL in a metadata string",
    "unknown arguments before",
]


async def answers(session: Session, double: DodoDouble) -> list[tuple[str, bool, list[bytes]]]:
    seen = []
    for case in STDIO_CASES:
        double.reset()
        arguments = dict(ARGUMENTS[case])
        if case == "a stale timestamp":
            # Stale by a day from the real clock, whichever reading it has.
            stale = datetime.now(timezone.utc) - timedelta(days=1)
            arguments = {"events": [event(1), event(2, timestamp=stale.strftime("%Y-%m-%dT%H:%M:%SZ"))]}
        result = await session.call("ingest_events", arguments)
        seen.append((text_of(result), bool(result.is_error), [request.body for request in double.requests]))
    return seen


@pytest.mark.anyio
async def test_over_stdio_every_answer_and_body_is_the_in_process_servers(dodo_double: DodoDouble) -> None:
    async with stdio_session(server_env(dodo_double.url)) as session:
        over_stdio = await answers(session, dodo_double)
    async with tool_session(dodo_settings(dodo_double.url)) as session:
        in_process = await answers(session, dodo_double)
    for case, stdio_answer, process_answer in zip(STDIO_CASES, over_stdio, in_process, strict=True):
        stdio_text, process_text = stdio_answer[0], process_answer[0]
        if case == "a stale timestamp":
            # The error states "now"; the two servers read the clock at different seconds.
            stdio_text, process_text = (text.split("(now is")[0] for text in (stdio_text, process_text))
        assert (stdio_text, *stdio_answer[1:]) == (process_text, *process_answer[1:]), case
    assert over_stdio[0][2] == [ingest_body(ARGUMENTS["valid"]["events"])]
