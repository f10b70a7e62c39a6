"""One request budget (issue 14, item 8): the scans that page share what Dodo's rate limit leaves in the
trailing minute, each taking at most half of it, so one call can't starve the next. Through a real client
against the Dodo double, with a limit of 10 a minute so that the shares are small."""

from __future__ import annotations

import pytest

from tests.conftest import dodo_settings, tool_session
from tests.dodo_double import EVENT, DodoDouble, Reply

pytestmark = pytest.mark.anyio

FULL_PAGE = Reply(body={"items": [{**EVENT, "event_id": f"e{i}"} for i in range(100)]})


async def test_each_scan_takes_half_of_what_the_minute_leaves(dodo: DodoDouble) -> None:
    dodo.script(*[FULL_PAGE] * 8)  # the 8 pages the scans may take; then the double's own answers
    settings = dodo_settings(dodo.url, requests_per_minute=10)
    async with tool_session(settings) as session:
        pages = []
        notes = []
        for _ in range(3):
            before = len(dodo.requests)
            result = await session.call("summarize_events", {"max_events": 5000})
            assert result.structured_content is not None and not result.is_error
            pages.append(len(dodo.requests) - before)
            notes.append(result.structured_content["note"])
            assert result.structured_content["complete"] is False
        # 10 a minute: half is 5; then half of the 5 left is 2; then 1 of the 3 left.
        assert pages == [5, 2, 1]
        # Two requests are left in this minute for the agent's next, single calls.
        single = await session.call("retrieve_event", {"event_id": "evt_1"})
        assert not single.is_error
    assert notes[0].startswith(
        "Incomplete: the scan stopped because it used its share (5 pages) of the requests Dodo's rate limit leaves "
        "this minute (100 a minute, shared by every call), after the newest 100 matching events"
    ), notes[0]


async def test_the_sandbox_has_no_rate_limit_so_no_budget(tmp_path: object) -> None:
    from tests.conftest import sandbox_session

    async with sandbox_session() as session:
        result = await session.call("summarize_events", {})
    assert result.structured_content is not None and result.structured_content["complete"] is True
