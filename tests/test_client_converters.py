"""Each Python agent framework's own converter of MCP tools accepts every tool dodo-mcp publishes, and a
call built from what it converted succeeds against `dodo-mcp --sandbox` over real stdio.

These are the converters of issue 12, run as their users run them, not re-implemented:
- google-genai: `mcp_to_gemini_tool`, reached the way `generate_content(config={"tools": [session]})`
  reaches it (`parse_config_for_mcp_sessions`), then the adapter's automatic function calling answers
  the model's function calls (`get_function_response_parts_async`): everything but the model's turn.
- openai-agents: `MCPUtil.get_function_tools` strict and not, then each FunctionTool's `on_invoke_tool`.
- pydantic-ai: `MCPToolset` (its MCP client, on fastmcp) with `TestModel`, which makes each call's
  arguments from the tool's schema itself.

google-genai and pydantic-ai need Python 3.11; on 3.10 their tests are skipped (the test extra
installs them only on 3.11+). Elsewhere a missing package fails under DODO_MCP_TEST_REQUIRE_PARTS=1.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.clients import scenario
from tests.conftest import ALL_TOOLS, CAPTURED, need_part, server_env

pytestmark = pytest.mark.anyio

NEEDS_311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="google-genai and pydantic-ai need Python >= 3.11")


def need_client(module: str, distribution: str) -> None:
    need_part(
        distribution,
        importlib.util.find_spec(module) is not None,
        'pip install -e ".[test]" (the test extra pins it)',
    )


def sandbox_args(db: Path) -> list[str]:
    return ["-m", "dodo_mcp", "--sandbox", "--sandbox-db", str(db)]


@pytest.fixture
async def seeded(tmp_path: Path) -> tuple[Path, scenario.Seeded]:
    """A sandbox database with the scenario's meter and subscription in it, and their ids."""
    db = tmp_path / "sandbox.sqlite3"
    return db, await scenario.seed(db)


@asynccontextmanager
async def server_errlog() -> AsyncIterator[Any]:
    """The spawned server's stderr, kept for the key-leak check at the end of the run."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        try:
            yield errlog
        finally:
            errlog.seek(0)
            CAPTURED.append(errlog.read())


def schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Every property of a JSON schema, nested ones as `events[].metadata` or `aggregation.key`."""
    paths: set[str] = set()
    for name, sub in (schema.get("properties") or {}).items():
        paths |= {f"{prefix}{name}"} | schema_paths(sub, f"{prefix}{name}.")
    items = schema.get("items")
    if isinstance(items, dict):
        paths |= schema_paths(items, prefix.removesuffix(".") + "[].")
    return paths


# google-genai


def gemini_paths(schema: Any, prefix: str = "") -> set[str]:
    """`schema_paths` of a converted google.genai.types.Schema."""
    paths: set[str] = set()
    for name, sub in (schema.properties or {}).items():
        paths |= {f"{prefix}{name}"} | gemini_paths(sub, f"{prefix}{name}.")
    if schema.items is not None:
        paths |= gemini_paths(schema.items, prefix.removesuffix(".") + "[].")
    return paths


def gemini_required(schema: Any, prefix: str = "") -> set[str]:
    """Every required property of a converted Schema, as paths."""
    required = {f"{prefix}{name}" for name in schema.required or []}
    for name, sub in (schema.properties or {}).items():
        required |= gemini_required(sub, f"{prefix}{name}.")
    if schema.items is not None:
        required |= gemini_required(schema.items, prefix.removesuffix(".") + "[].")
    return required


def schema_required(schema: dict[str, Any], prefix: str = "") -> set[str]:
    required = {f"{prefix}{name}" for name in schema.get("required", [])}
    for name, sub in (schema.get("properties") or {}).items():
        required |= schema_required(sub, f"{prefix}{name}.")
    items = schema.get("items")
    if isinstance(items, dict):
        required |= schema_required(items, prefix.removesuffix(".") + "[].")
    return required


def argument_paths(value: Any, prefix: str = "") -> set[str]:
    """The property paths an argument value uses (metadata's own keys are values, not properties)."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for name, sub in value.items():
            paths.add(f"{prefix}{name}")
            if name != "metadata":
                paths |= argument_paths(sub, f"{prefix}{name}.")
    elif isinstance(value, list):
        for item in value:
            paths |= argument_paths(item, prefix.removesuffix(".") + "[].")
    return paths


@NEEDS_311
async def test_google_genai_converts_every_tool_keeping_every_property_and_its_adapter_calls_them(
    seeded: tuple[Path, scenario.Seeded],
) -> None:
    need_client("google.genai", "google-genai")
    from google.genai import _extra_utils, types

    db, seed = seeded
    params = StdioServerParameters(command=sys.executable, args=sandbox_args(db), env=server_env())
    async with (
        server_errlog() as errlog,
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = {tool.name: tool.input_schema for tool in (await session.list_tools()).tools}

        # What generate_content does with an MCP session among its tools, before it calls the model.
        config, adapters = await _extra_utils.parse_config_for_mcp_sessions(
            types.GenerateContentConfig(tools=[session])
        )
        assert config is not None and config.tools is not None
        declarations = {
            str(declaration.name): declaration
            for tool in config.tools
            if isinstance(tool, types.Tool)
            for declaration in tool.function_declarations or []
        }
        assert list(declarations) == ALL_TOOLS
        assert sorted(adapters) == sorted(ALL_TOOLS)
        for name, declaration in declarations.items():
            assert gemini_paths(declaration.parameters) == schema_paths(listed[name]), name
            assert gemini_required(declaration.parameters) == schema_required(listed[name]), name

        # The model's function calls, answered by the adapter as automatic function calling does.
        expected = scenario.calls(scenario.usage_events(datetime.now(timezone.utc)), seed)
        for tool, arguments, _ in expected:
            parameters = declarations[tool].parameters
            assert argument_paths(arguments) <= gemini_paths(parameters), tool
            assert gemini_required(parameters) <= argument_paths(arguments), tool
        response = types.GenerateContentResponse(
            candidates=[
                types.Candidate(
                    content=types.Content(
                        role="model",
                        parts=[
                            types.Part(function_call=types.FunctionCall(name=tool, args=arguments))
                            for tool, arguments, _ in expected
                        ],
                    )
                )
            ]
        )
        function_map = _extra_utils.get_function_map(config, adapters, is_caller_method_async=True)
        parts = await _extra_utils.get_function_response_parts_async(response, function_map)

    answers = [part.function_response for part in parts]
    assert [answer.name for answer in answers if answer is not None] == [tool for tool, _, _ in expected]
    for answer, (tool, _, structured) in zip(answers, expected, strict=True):
        assert answer is not None and answer.response is not None
        assert list(answer.response) == ["result"], (tool, answer.response)
        result = answer.response["result"]
        assert (result.is_error, result.structured_content) == (False, structured), tool


# openai-agents


def accepts_null(schema: dict[str, Any]) -> bool:
    return bool(Draft202012Validator(schema).is_valid(None))


def strict_verdict(input_schema: dict[str, Any], strict: Any) -> str:
    """Why a tool is served strict or not: "strict", or what strict conversion would break."""
    from agents.strict_schema import ensure_strict_json_schema

    if not strict.strict_json_schema:
        # MCPUtil logs only that conversion failed; the same function says why.
        try:
            ensure_strict_json_schema(json.loads(json.dumps(input_schema)), _reject_open_objects=True)
        except Exception as error:
            return f"strict conversion fails: {error}"
        raise AssertionError("MCPUtil fell back to non-strict, but strict conversion succeeds")
    # Strict mode requires every property: an optional one stays optional only if it can be null.
    optional = [name for name in input_schema.get("properties", {}) if name not in input_schema.get("required", [])]
    mandatory = [name for name in optional if not accepts_null(strict.params_json_schema["properties"][name])]
    return f"strict makes optional arguments mandatory: {', '.join(mandatory)}" if mandatory else "strict"


async def test_openai_agents_converts_every_tool_and_each_function_tool_calls_the_sandbox(
    seeded: tuple[Path, scenario.Seeded],
) -> None:
    need_client("agents", "openai-agents")
    from agents import Agent, FunctionTool, RunContextWrapper
    from agents.mcp import MCPServerStdio, MCPServerStdioParams, MCPUtil
    from agents.tool_context import ToolContext

    db, seed = seeded
    agent = Agent(name="dodo")
    params = MCPServerStdioParams(command=sys.executable, args=sandbox_args(db), env=server_env())
    async with MCPServerStdio(params=params, cache_tools_list=True, use_structured_content=True) as server:
        listed = {tool.name: tool.input_schema for tool in await server.list_tools()}
        converted = {
            convert_to_strict: await MCPUtil.get_function_tools(
                server, convert_to_strict, RunContextWrapper(None), agent
            )
            for convert_to_strict in (True, False)
        }
        # An MCP tool always becomes a FunctionTool (the other Tool kinds are OpenAI's hosted tools).
        assert all(isinstance(tool, FunctionTool) for tools in converted.values() for tool in tools)
        strict = {t.name: t for t in converted[True] if isinstance(t, FunctionTool)}
        loose = {t.name: t for t in converted[False] if isinstance(t, FunctionTool)}
        assert list(strict) == list(loose) == ALL_TOOLS
        verdicts = {name: strict_verdict(listed[name], strict[name]) for name in ALL_TOOLS}
        assert verdicts == {
            "retrieve_event": "strict",
            "list_events": "strict makes optional arguments mandatory: customer_id, event_name, meter_id, start, end, page_size, page_number",
            "ingest_events": "strict conversion fails: JSON schema contains an object that permits undeclared properties and cannot be converted to a strict schema without changing its accepted values.",
            "summarize_events": "strict makes optional arguments mandatory: customer_id, event_name, meter_id, start, end, group_by, aggregation, max_events",
            "explain_meter_match": "strict makes optional arguments mandatory: meter_id",
            "list_meters": "strict makes optional arguments mandatory: page_size, page_number, archived",
            "usage_history": "strict makes optional arguments mandatory: start_date, end_date, meter_id, page_size, page_number",
        }
        # Strict where it keeps the tool's contract, the non-strict fallback otherwise.
        chosen = {name: strict[name] if verdicts[name] == "strict" else loose[name] for name in ALL_TOOLS}
        assert [name for name, tool in chosen.items() if tool.strict_json_schema] == ["retrieve_event"]

        for i, (name, arguments, structured) in enumerate(
            scenario.calls(scenario.usage_events(datetime.now(timezone.utc)), seed)
        ):
            tool = chosen[name]
            Draft202012Validator(tool.params_json_schema).validate(arguments)
            raw = json.dumps(arguments)
            context = ToolContext(None, tool_name=name, tool_call_id=f"call_{i}", tool_arguments=raw)
            output = await tool.on_invoke_tool(context, raw)
            CAPTURED.append(repr(output))
            # use_structured_content: a success is structuredContent as JSON; an error would be its text.
            assert isinstance(output, str), (name, output)
            assert json.loads(output) == structured, name


# pydantic-ai


@NEEDS_311
async def test_pydantic_ai_test_model_calls_every_tool_with_arguments_made_from_its_schema(
    seeded: tuple[Path, scenario.Seeded],
) -> None:
    need_client("pydantic_ai", "pydantic-ai-slim[mcp]")
    from fastmcp.client.transports import StdioTransport
    from pydantic_ai import Agent
    from pydantic_ai.mcp import MCPToolset
    from pydantic_ai.messages import ModelRequest, ModelResponse, RetryPromptPart, ToolCallPart, ToolReturnPart
    from pydantic_ai.models.test import TestModel

    db, seed = seeded
    meter_id = seed.meter_id
    # "failed": a tool error reaches the model as the tool's own words, rather than retrying until the run fails.
    toolset: MCPToolset[None] = MCPToolset(
        StdioTransport(command=sys.executable, args=sandbox_args(db), env=server_env()),
        tool_error_behavior="failed",
    )
    agent = Agent(TestModel(call_tools="all"), toolsets=[toolset])
    async with agent:
        # One call at a time, in the model's order, so that each result is exact.
        with agent.parallel_tool_call_execution_mode("sequential"):
            run = await agent.run("Use every tool once.")
    messages = run.all_messages()
    CAPTURED.append(repr(messages))

    generated = {
        part.tool_name: part.args_as_dict()
        for message in messages
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
    }
    answers = [
        part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart | RetryPromptPart)
    ]
    # A retry prompt would mean pydantic-ai refused the answer (or the arguments) and asked again.
    assert [part for part in answers if isinstance(part, RetryPromptPart)] == []
    returns = [part for part in answers if isinstance(part, ToolReturnPart)]
    assert generated == {
        "retrieve_event": {"event_id": "a"},
        "list_events": {},
        "ingest_events": {"events": [{"event_id": "a", "customer_id": "a", "event_name": "a"}]},
        "summarize_events": {},
        "explain_meter_match": {"event_id": "a"},
        "list_meters": {},
        "usage_history": {"subscription_id": "a"},
    }
    for part in returns:
        # The meter's timestamps are the sandbox's clock when the fixture made it: not part of the contract here.
        content: Any = part.content
        if part.tool_name == "list_meters" and isinstance(content, dict):
            for item in content["items"]:
                del item["created_at"], item["updated_at"]
    assert [(part.tool_name, part.outcome, part.content) for part in returns] == [
        (
            "retrieve_event",
            "failed",
            "Dodo API error 404 NOT_FOUND: Event not found. No event with this event_id exists in test_mode. Event IDs are case-sensitive and must match exactly; check the id, or find it with list_events.",
        ),
        (
            "list_events",
            "success",
            {"items": [], "page_number": 0, "page_size": 10, "has_more": False, "next_page_number": None},
        ),
        ("ingest_events", "success", scenario.ingested(1)),
        (
            "summarize_events",
            "success",
            {
                "aggregation": "count of events",
                "groups": [{"key": {}, "value": 1, "events": 1, "skipped": 0}],
                "scanned": 1,
                "complete": True,
                "note": None,
                "oldest_scanned": None,
                "omitted_groups": 0,
            },
        ),
        (
            "explain_meter_match",
            "success",
            {
                "matched": False,
                "reason": "event_name_mismatch",
                "failed_clause": None,
                "explanation": (
                    "0 of 1 active meters count event 'a'.\n- No: event 'a' has event_name 'a', but meter "
                    f"'sum api_request' ({meter_id}) counts only 'api_request' events (names are case-sensitive); "
                    "its metadata would pass the meter's filter."
                ),
                "contributes": None,
                "meters": [
                    {
                        "meter_id": meter_id,
                        "name": "sum api_request",
                        "matched": False,
                        "reason": "event_name_mismatch",
                        "failed_clause": None,
                        "contributes": None,
                    }
                ],
                "complete": True,
            },
        ),
        (
            "list_meters",
            "success",
            {
                "items": [
                    {
                        **scenario.METER,
                        "id": meter_id,
                        "business_id": "bus_sandbox",
                        "description": None,
                        "filter": None,
                        "archived": False,
                    }
                ],
                "page_number": 0,
                "page_size": 10,
                "has_more": False,
                "next_page_number": None,
            },
        ),
        (
            "usage_history",
            "failed",
            "Dodo API error 404 NOT_FOUND: Subscription not found. No subscription with subscription_id 'a' exists in "
            "test_mode. Subscription ids are case-sensitive: check the id in the Dodo dashboard (Subscriptions), and "
            "that the key's environment is the subscription's.",
        ),
    ]
