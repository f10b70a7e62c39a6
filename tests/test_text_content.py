"""Each tool's text content carries the same data as its structuredContent, by the README's rules.

Clients that read only the text must see what clients that read structuredContent see. The README
("Text and structuredContent carry the same data") states the rules, and `text_form` below is them:
from a result's structuredContent it builds the JSON its text must hold, and the text must parse to
exactly that, so that nothing is lost and nothing is left out but what the rules leave out.

    retrieve_event, ingest_events, explain_meter_match   the text is the structuredContent
    list_events       fields every item of a page of two or more shares (business_id, customer_id,
                      event_name) stated once under "common"; null fields left out
    summarize_events  a group's zero `skipped`, a null `note` or `oldest_scanned`, a zero
                      `omitted_groups` left out
    an error with a report (an ingest batch not confirmed): the message, then on the last line the
                      report, the structuredContent as JSON; other errors are text only
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp_types import CallToolResult

from tests.conftest import Session, dodo_settings, sandbox_session, text_of, tool_session
from tests.dodo_double import DodoDouble, Reply
from tests.test_insights import create_meters

pytestmark = pytest.mark.anyio

# The fields list_events may state once for the whole page (tools/list_text.py's, as the README names them).
SHAREABLE = ("business_id", "customer_id", "event_name")


def text_form(tool: str, structured: dict[str, Any]) -> dict[str, Any]:
    """The JSON a tool's text must hold, given its structuredContent, by the README's rules."""
    if tool == "list_events":
        items = structured["items"]
        common = {}
        if len(items) > 1:
            common = {key: items[0][key] for key in SHAREABLE if all(item[key] == items[0][key] for item in items)}
        compact = [{k: v for k, v in item.items() if k not in common and v is not None} for item in items]
        rest = {k: v for k, v in structured.items() if k != "items"}
        return {**({"common": common} if common else {}), "items": compact, **rest}
    if tool == "summarize_events":
        groups = [{k: v for k, v in group.items() if not (k == "skipped" and v == 0)} for group in structured["groups"]]
        left_out = {"note": None, "oldest_scanned": None, "omitted_groups": 0}
        rest = {k: v for k, v in structured.items() if k != "groups" and not (k in left_out and v == left_out[k])}
        return {**rest, "groups": groups}
    return structured


async def same_data(session: Session, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    """Call `tool`; its text must hold exactly its structuredContent's data, by the rules."""
    result = await session.call(tool, arguments)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert json.loads(text_of(result)) == text_form(tool, result.structured_content)
    return result


def events(
    count: int, customer_id: str = "cus_1", event_name: str = "api_request", metadata: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """`count` events of one customer and name, with `metadata` or none at all."""
    return [
        {"event_id": f"{customer_id}:{event_name}:{i}", "customer_id": customer_id, "event_name": event_name}
        | ({} if metadata is None else {"metadata": metadata})
        for i in range(count)
    ]


async def test_retrieve_ingest_and_explain_texts_are_their_structured_content(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    [meter_id] = await create_meters(
        db,
        [
            {
                "name": "Large tokens",
                "event_name": "api_request",
                "measurement_unit": "tokens",
                "aggregation": {"type": "sum", "key": "tokens"},
                "filter": {"conjunction": "and", "clauses": [{"key": "model", "operator": "equals", "value": "large"}]},
            }
        ],
    )
    sent = [
        {
            "event_id": "a",
            "customer_id": "cus_1",
            "event_name": "api_request",
            "metadata": {"tokens": 5, "model": "large"},
        },
        {"event_id": "b", "customer_id": "cus_1", "event_name": "api_request"},
    ]
    async with sandbox_session(db) as session:
        first = await same_data(session, "ingest_events", {"events": sent})
        assert first.structured_content is not None and first.structured_content["ingested_count"] == 2
        await same_data(session, "ingest_events", {"events": sent})  # all ignored this time
        for event_id in ("a", "b"):
            await same_data(session, "retrieve_event", {"event_id": event_id})
            await same_data(session, "explain_meter_match", {"event_id": event_id, "meter_id": meter_id})


async def test_list_events_states_shared_fields_once_and_leaves_out_nulls() -> None:
    async with sandbox_session() as session:
        await same_data(session, "ingest_events", {"events": events(3, metadata={"tokens": 1})})
        await same_data(session, "ingest_events", {"events": events(2, customer_id="cus_2")})  # no metadata: null
        await same_data(session, "ingest_events", {"events": events(1, customer_id="cus_2", event_name="upload")})
        pages: list[dict[str, Any]] = [
            {"customer_id": "cus_1"},  # every shareable field shared
            {"customer_id": "cus_2"},  # customer_id shared, event_name not; metadata null in two
            {"page_size": 100},  # business_id alone shared
            {"customer_id": "cus_2", "event_name": "upload"},  # one item: nothing stated once
            {"customer_id": "cus_nobody"},  # no items
            {"customer_id": "cus_1", "page_size": 2, "page_number": 1},  # the last page
        ]
        texts = []
        for arguments in pages:
            result = await same_data(session, "list_events", arguments)
            texts.append(json.loads(text_of(result)))
    # The rules were met in every form, not only the easy one.
    assert [sorted(text.get("common", {})) for text in texts] == [
        ["business_id", "customer_id", "event_name"],
        ["business_id", "customer_id"],
        ["business_id"],
        [],
        [],
        [],
    ]
    assert all("metadata" not in item for item in texts[1]["items"][1:])


async def test_summarize_events_leaves_out_only_zero_skips_and_absent_fields() -> None:
    mixed = [
        {"event_id": f"m{i}", "customer_id": "cus_1", "event_name": "api_request", "metadata": {"tokens": tokens}}
        for i, tokens in enumerate([3, "n/a", 4, "7", True])
    ]
    many = [
        {"event_id": f"g{i}", "customer_id": "cus_many", "event_name": "api_request", "metadata": {"n": i}}
        for i in range(103)
    ]
    async with sandbox_session() as session:
        await same_data(session, "ingest_events", {"events": mixed})
        await same_data(session, "ingest_events", {"events": many})
        complete = await same_data(
            session,
            "summarize_events",
            {"customer_id": "cus_1", "aggregation": {"type": "sum", "key": "tokens"}, "group_by": ["event_name"]},
        )
        stopped = await same_data(session, "summarize_events", {"customer_id": "cus_1", "max_events": 2})
        crowded = await same_data(session, "summarize_events", {"customer_id": "cus_many", "group_by": ["metadata.n"]})
        await same_data(session, "summarize_events", {"customer_id": "cus_nobody"})
    # Each left-out field was both present and absent somewhere above.
    assert complete.structured_content is not None and complete.structured_content["groups"][0]["skipped"] == 2
    assert stopped.structured_content is not None and stopped.structured_content["note"] is not None
    assert "oldest_scanned" in json.loads(text_of(stopped))
    assert crowded.structured_content is not None and crowded.structured_content["omitted_groups"] == 3
    assert "omitted_groups" in json.loads(text_of(crowded))


async def test_an_error_with_a_report_ends_with_the_report_as_its_structured_content(dodo: DodoDouble) -> None:
    settings = dodo_settings(dodo.url, ingest_batch_size=2, ingest_concurrency=1, max_retries=0)
    refused = Reply(400, {"code": "INVALID_REQUEST_BODY", "message": "refused for the test"})
    async with tool_session(settings) as session:
        dodo.script(Reply(body={"ingested_count": 2}), refused)
        some = await session.call("ingest_events", {"events": events(4)})
        dodo.script(refused)
        alone = await session.call("ingest_events", {"events": events(1)})
    for result, unconfirmed in ((some, 2), (alone, 1)):
        assert result.is_error
        assert result.structured_content is not None
        message, report = text_of(result).rsplit("\n", 1)
        assert message.strip() and not message.lstrip().startswith("{")
        assert json.loads(report) == result.structured_content
        assert result.structured_content["unconfirmed_count"] == unconfirmed


async def test_other_errors_are_text_only() -> None:
    async with sandbox_session() as session:
        for tool, arguments in (
            ("retrieve_event", {"event_id": "never_sent"}),
            ("list_events", {"page_size": 0}),
            ("explain_meter_match", {"event_id": "never_sent", "meter_id": "mtr_none"}),
            ("summarize_events", {"group_by": ["colour"]}),
            ("ingest_events", {"events": []}),
        ):
            result = await session.call(tool, arguments)
            assert result.is_error, tool
            assert result.structured_content is None, tool
            assert text_of(result).strip(), tool
