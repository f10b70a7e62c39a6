"""Property-based: arbitrary JSON thrown at every tool over real stdio never crashes anything.

Every invalid call comes back as an isError result that names its problems, with no request sent
upstream; every valid one goes through; and the server answers the next call correctly.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic_core import from_json

from dodo_mcp.tools.arguments import InvalidArgumentsError, validate_arguments
from dodo_mcp.tools.models import IngestEventsArguments, ListEventsArguments, RetrieveEventArguments
from tests.conftest import Session, server_env, stdio_session, text_of
from tests.dodo_double import EVENT, DodoDouble

MODELS: dict[str, type[BaseModel]] = {
    "retrieve_event": RetrieveEventArguments,
    "list_events": ListEventsArguments,
    "ingest_events": IngestEventsArguments,
}
CASES_RUN: dict[str, int] = dict.fromkeys(MODELS, 0)
_NOW = re.compile(r"now is [^)]*")

nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(["", ".", "..", "../", "..%2F", "%2e%2e", "/", "a/../b", "%", "%00", "\x00", "\x7f", " ", "\n"]),
    st.text(alphabet=string.printable + "\x00\x01\x1b\u200b\ufeffü😀", max_size=30),
    st.builds(lambda n: "x" * n, st.integers(0, 200_000)),
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)),
    max_leaves=12,
)
metadata = st.one_of(
    st.none(),
    json_value,
    st.dictionaries(st.text(max_size=120), json_scalar, max_size=55),
)
timestamp = st.one_of(
    st.none(),
    nasty_text,
    st.sampled_from(["2026-01-15T10:30:00Z", "2026-13-01T00:00:00Z", "yesterday", "1700000000"]),
    st.integers(),
)
event = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {"event_id": nasty_text, "customer_id": nasty_text, "event_name": nasty_text},
        optional={"metadata": metadata, "timestamp": timestamp, "extra": json_value},
    ),
)
ARGUMENTS = {
    "retrieve_event": st.one_of(
        st.dictionaries(st.sampled_from(["event_id", "eventId", "id"]), json_value, max_size=2),
        st.fixed_dictionaries({"event_id": nasty_text}),
    ),
    "list_events": st.dictionaries(
        st.sampled_from(
            ["customer_id", "event_name", "meter_id", "start", "end", "page_size", "page_number", "limit", "cursor"]
        ),
        st.one_of(json_value, st.integers(min_value=-(2**40), max_value=2**40)),
        max_size=5,
    ),
    "ingest_events": st.one_of(
        st.dictionaries(st.sampled_from(["events", "event", "batch"]), json_value, max_size=2),
        st.fixed_dictionaries({"events": st.lists(event, max_size=6)}),
    ),
}


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal("asyncio") as blocking:
        yield blocking


@pytest.fixture(scope="module")
def fuzzed(portal: BlockingPortal, dodo_double: DodoDouble) -> Iterator[Session]:
    with portal.wrap_async_context_manager(stdio_session(server_env(dodo_double.url))) as session:
        yield session


def check_call(portal: BlockingPortal, session: Session, double: DodoDouble, tool: str, arguments: Any) -> None:
    CASES_RUN[tool] += 1
    double.reset()
    expected: Any = None
    try:
        expected = validate_arguments(MODELS[tool], arguments if isinstance(arguments, dict) else {}, tool=tool)
    except InvalidArgumentsError as exc:
        error = exc
    result = portal.call(session.call, tool, arguments)
    text = text_of(result)
    if expected is not None:
        assert not result.is_error, text
        assert len(double.requests) >= 1
        if tool == "ingest_events":
            # Read over stdio in one pass (tools.one_pass) or not, Dodo gets exactly the validated events.
            sent = [event for request in double.requests for event in from_json(request.body)["events"]]
            assert sent == expected.events
    else:
        # The same words the general reading's validation gives, whichever way the line was read; only
        # "now" (stated by a stale timestamp's error) is read off the clock a moment apart.
        assert _NOW.sub("now is …", text) == _NOW.sub("now is …", str(error))
        assert result.is_error
        assert double.requests == [], "an invalid call reached Dodo"
        assert text.startswith("Invalid arguments (")
        assert "\n- " in text and "Nothing was sent to Dodo" in text
        assert "Error executing tool" not in text and "Traceback" not in text
        assert len(text) < 20_000


@pytest.mark.parametrize("tool", list(MODELS))
def test_arbitrary_arguments(tool: str, portal: BlockingPortal, fuzzed: Session, dodo_double: DodoDouble) -> None:
    @settings(
        max_examples=int(os.environ.get("DODO_MCP_FUZZ_EXAMPLES", "150")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(ARGUMENTS[tool])
    @example({"events": [{"event_id": f"e{i}", "customer_id": "c", "event_name": "n"} for i in range(10_001)]})
    @example({"event_id": "../meters", "page_number": 2**31})
    @example({"page_number": 2**31, "page_size": -1, "start": "\x00"})
    @example({"events": [{"event_id": "e", "customer_id": "c", "event_name": "n", "metadata": {"a": {"b": {"c": 1}}}}]})
    def run(arguments: dict[str, Any]) -> None:
        check_call(portal, fuzzed, dodo_double, tool, arguments)

    run()
    # Hypothesis really threw a crowd of cases at the tool, not a handful.
    assert CASES_RUN[tool] >= 50, CASES_RUN
    print(f"bad-input cases run against {tool}: {CASES_RUN[tool]}")
    # The server is still up and answers a valid call correctly.
    dodo_double.reset()
    after = portal.call(fuzzed.call, "retrieve_event", {"event_id": "evt_1"})
    assert after.structured_content == EVENT
