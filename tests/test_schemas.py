"""The published tool schemas work in every major client, and say everything an agent needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp_types import Tool
from pydantic import SecretStr

from dodo_mcp.config import Settings
from dodo_mcp.server import build_server
from tests.conftest import ALL_TOOLS, dodo_settings, text_of, tool_session

pytestmark = pytest.mark.anyio


async def list_tools() -> list[Tool]:
    server = build_server(Settings(api_key=SecretStr("sk_test_schema")))
    async with Client(server) as client:
        return (await client.list_tools()).tools


def walk(node: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def properties(schema: dict[str, Any], path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of every object in the schema, nested ones included."""
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}.{name}", prop
        yield from properties(prop, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from properties(schema["items"], f"{path}[]")


async def test_tools_with_exact_names_titles_and_annotations() -> None:
    tools = {tool.name: tool for tool in await list_tools()}
    assert list(tools) == ALL_TOOLS
    hints = {
        name: (
            tool.title,
            tool.annotations.title if tool.annotations else None,
            tool.annotations.model_dump(exclude={"title"}) if tool.annotations else None,
        )
        for name, tool in tools.items()
    }
    read_only = {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True, "open_world_hint": True}
    assert hints == {
        "retrieve_event": ("Retrieve a usage event", "Retrieve a usage event", read_only),
        "list_events": ("List usage events", "List usage events", read_only),
        "ingest_events": (
            "Ingest usage events",
            "Ingest usage events",
            {"read_only_hint": False, "destructive_hint": False, "idempotent_hint": True, "open_world_hint": True},
        ),
        "summarize_events": ("Summarize usage events", "Summarize usage events", read_only),
        "explain_meter_match": ("Explain a meter match", "Explain a meter match", read_only),
        "list_meters": ("List meters", "List meters", read_only),
        "usage_history": ("Usage history of a subscription", "Usage history of a subscription", read_only),
    }


async def test_input_schemas_are_flat_and_portable() -> None:
    tools = {tool.name: tool for tool in await list_tools()}
    assert set(tools["retrieve_event"].input_schema["properties"]) == {"event_id"}
    assert set(tools["list_events"].input_schema["properties"]) == {
        "customer_id",
        "event_name",
        "meter_id",
        "start",
        "end",
        "page_size",
        "page_number",
    }
    assert set(tools["ingest_events"].input_schema["properties"]) == {"events"}
    for tool in tools.values():
        for schema in (tool.input_schema, tool.output_schema):
            assert schema is not None
            assert schema["type"] == "object"
            assert not {"anyOf", "oneOf", "allOf", "$ref", "$defs"} & set(schema), tool.name
            for path, node in walk(schema):
                if isinstance(node, dict):
                    assert "$ref" not in node and "$defs" not in node, (tool.name, path)
        for path, prop in properties(tool.input_schema):
            assert prop.get("description"), f"{tool.name}: {path} has no description"
        for path, prop in properties(tool.output_schema or {}):
            assert prop.get("description"), f"{tool.name} output: {path} has no description"


async def test_schemas_carry_the_documented_limits() -> None:
    tools = {tool.name: tool for tool in await list_tools()}
    listing = tools["list_events"].input_schema["properties"]
    assert (listing["page_size"]["minimum"], listing["page_size"]["maximum"], listing["page_size"]["default"]) == (
        1,
        100,
        10,
    )
    assert (listing["page_number"]["minimum"], listing["page_number"]["default"]) == (0, 0)
    assert listing["start"]["format"] == "date-time"
    events = tools["ingest_events"].input_schema["properties"]["events"]
    assert (events["minItems"], events["maxItems"]) == (1, 10_000)
    event = events["items"]
    assert event["required"] == ["event_id", "customer_id", "event_name"]
    metadata = event["properties"]["metadata"]
    assert metadata == {
        "type": "object",
        "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
        # What the profile can't carry (maxProperties, propertyNames, the value length) is said here.
        "description": "At most 50 keys of at most 100 characters; string (at most 500 characters), number or boolean values",
    }


async def test_schemas_are_in_the_published_profile_every_clients_converter_accepts() -> None:
    """The rules of dodo_mcp/tools/schemas.py's profile, over every node of every published schema."""
    for tool in await list_tools():
        for role, schema in (("input", tool.input_schema), ("output", tool.output_schema or {})):
            for path, node in walk(schema):
                if not isinstance(node, dict):
                    continue
                where = (tool.name, role, path)
                # Inspector 2.x's portability check, and Gemini's single-type dialect.
                assert not isinstance(node.get("type"), list), where
                # A schema that constrains nothing (Inspector 2.x: "untyped-schema").
                assert node.keys() - {"description", "default"}, where
                if role == "input":
                    # google-genai's MCP conversion crashes on a boolean additionalProperties.
                    assert not isinstance(node.get("additionalProperties"), bool), where
                    assert not {"propertyNames", "maxProperties"} & node.keys(), where
        for path, prop in properties(tool.input_schema):
            # Inspector 0.15 parses a --tool-arg as JSON only when type is exactly "object" or "array".
            assert isinstance(prop.get("type"), str) or "anyOf" in prop, (tool.name, path)
    tools = {tool.name: tool for tool in await list_tools()}
    aggregation = tools["summarize_events"].input_schema["properties"]["aggregation"]
    assert (aggregation["type"], aggregation["required"]) == ("object", ["type"])
    # Optional outputs stay nullable, one type per branch.
    assert tools["list_events"].output_schema is not None
    assert tools["list_events"].output_schema["properties"]["next_page_number"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}],
        "description": "Ask for it next; null: the end",
    }


async def test_what_the_profile_leaves_unpublished_is_still_refused_with_the_same_messages() -> None:
    events = [
        {"event_id": "e1", "customer_id": "c", "event_name": "n", "metadata": {f"k{i}": i for i in range(51)}},
        {"event_id": "e2", "customer_id": "c", "event_name": "n", "metadata": {"k" * 101: 1}},
    ]
    async with tool_session(dodo_settings("http://127.0.0.1:9", max_retries=0)) as session:
        result = await session.call("ingest_events", {"events": events})
        unknown = await session.call("list_events", {"page_size": 1, "customer": "cus_1"})
        nulls = await session.call("list_events", {"customer_id": None, "start": None, "page_number": 0})
    assert result.is_error
    assert text_of(result).splitlines()[1:3] == [
        "- events[0] (event_id 'e1').metadata may have at most 50 keys (got 51)",
        f"- events[1] (event_id 'e2').metadata key '{'k' * 58}…' must be at most 100 characters (got 101)",
    ]
    assert unknown.is_error and "customer" in text_of(unknown)
    # An optional argument published without null still takes null, as "not given"; here the upstream
    # is unreachable, so the call fails later, at the request, not at the arguments.
    assert nulls.is_error and "Invalid arguments" not in text_of(nulls)


async def test_instructions_name_environment_ingest_rules_and_paging() -> None:
    server = build_server(Settings(api_key=SecretStr("sk"), environment="live_mode"))
    async with Client(server, mode="legacy") as client:
        text = client.instructions or ""
        info = client.server_info
    assert "Dodo Payments live_mode at https://live.dodopayments.com" in text
    assert "idempotency" in text and "1 to 10000 events per call (sent in batches of at most 1000)" in text
    assert "page_number=next_page_number" in text
    assert info is not None and (info.name, info.version) == ("dodo-mcp", "0.1.0")
