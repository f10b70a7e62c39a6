"""The context budget: tools/list, read by the model on every conversation, stays under 3,600 cl100k
tokens, counted offline (js-tiktoken ships the ranks; Python's tiktoken would fetch them from outside)."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from bench import tokens
from dodo_mcp.config import Settings
from dodo_mcp.server import build_server
from tests.conftest import ALL_TOOLS, need_part

pytestmark = pytest.mark.anyio


async def test_tools_list_stays_within_the_context_budget() -> None:
    need_part("js-tiktoken (npm)", tokens.available(), tokens.INSTALL)
    async with Client(build_server(Settings())) as client:
        listed = await client.list_tools()
    tools = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]
    whole, *per_tool = tokens.cl100k_counts(
        [json.dumps({"tools": tools}, separators=(",", ":"))]
        + [json.dumps(tool, separators=(",", ":")) for tool in tools]
    )
    print(
        f"tools/list: {whole} cl100k tokens; "
        + ", ".join(f"{t['name']} {n}" for t, n in zip(tools, per_tool, strict=True))
    )
    assert [tool["name"] for tool in tools] == ALL_TOOLS
    # The MCP App view's link is counted too (issue 16), and costs at most 100 tokens.
    linked = {tool["name"]: tool["_meta"] for tool in tools if "_meta" in tool}
    assert linked == {
        name: {"ui": {"resourceUri": "ui://dodo/usage"}} for name in ("summarize_events", "usage_history")
    }
    [unlinked] = tokens.cl100k_counts(
        [json.dumps({"tools": [{k: v for k, v in t.items() if k != "_meta"} for t in tools]}, separators=(",", ":"))]
    )
    print(f"the view's _meta: {whole - unlinked} cl100k tokens")
    assert 0 < whole - unlinked <= 100
    assert whole < tokens.CONTEXT_BUDGET_TOKENS
    # Each tool is counted on its own too (the benchmark reports them): together about the whole.
    assert abs(sum(per_tool) - whole) < 20


def test_the_counter_counts_cl100k_exactly() -> None:
    need_part("js-tiktoken (npm)", tokens.available(), tokens.INSTALL)
    # Known cl100k_base encodings: "hello world" is [15339, 1917].
    assert tokens.cl100k_counts(["hello world", '{"tools":[]}', ""]) == [2, 4, 0]
