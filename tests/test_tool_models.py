"""The tool-facing models are the one source of what agents read, and derive from the wire models without drift.

A tool model built on a wire model restates each field with the wire's type and default and its
own, shorter description: nothing else may differ, or a rule would be enforced one way for the
tools and another for the sandbox. Every description tools/list publishes is written on a field of
dodo_mcp.tools.models; tool titles and descriptions are the arguments models' own.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dodo_mcp.api.meters import ListMetersQuery, MeterAggregation
from dodo_mcp.api.models import Event, EventFilters, EventInput, ListEventsQuery
from dodo_mcp.config import Settings
from dodo_mcp.server import build_server
from dodo_mcp.tools import models
from dodo_mcp.tools.registry import TOOL_SPECS

DERIVED: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (models.UsageEvent, Event),
    (models.UsageEventInput, EventInput),
    (models.ListEventsArguments, ListEventsQuery),
    (models.SummarizeEventsArguments, EventFilters),
    (models.SummaryAggregation, MeterAggregation),
    (models.ListMetersArguments, ListMetersQuery),
]


def comparable(info: FieldInfo) -> dict[str, Any]:
    """Everything a field is, but its description."""
    return {
        "annotation": info.annotation,
        "default": info.default,
        "default_factory": info.default_factory,
        "metadata": [repr(item) for item in info.metadata],
        "json_schema_extra": info.json_schema_extra,
        "alias": info.alias,
    }


@pytest.mark.parametrize(("tool_model", "wire_model"), DERIVED, ids=lambda m: m.__name__)
def test_a_tool_model_differs_from_its_wire_model_only_in_its_descriptions(
    tool_model: type[BaseModel], wire_model: type[BaseModel]
) -> None:
    assert issubclass(tool_model, wire_model)
    own = inspect.get_annotations(tool_model)
    for name, wire in wire_model.model_fields.items():
        tool = tool_model.model_fields[name]
        assert name in own, f"{tool_model.__name__}.{name} is not restated: its description would be the wire model's"
        assert comparable(tool) == comparable(wire), f"{tool_model.__name__}.{name} drifted from {wire_model.__name__}"
        assert tool.description, f"{tool_model.__name__}.{name} has no description"
    # The validators come with the inheritance, so a rule is checked the same way on both.
    assert set(wire_model.__pydantic_decorators__.field_validators) <= set(
        tool_model.__pydantic_decorators__.field_validators
    )


def written_descriptions() -> set[str]:
    """Every field description written in dodo_mcp.tools.models."""
    found: set[str] = set()
    for _, model in inspect.getmembers(models, inspect.isclass):
        if issubclass(model, BaseModel) and model.__module__ == models.__name__:
            found.update(
                info.description
                for name, info in model.model_fields.items()
                if info.description and name in inspect.get_annotations(model)
            )
    return found


def descriptions(node: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            if "description" in prop:
                yield f"{path}.{name}", prop["description"]
            yield from descriptions(prop, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            yield from descriptions(node["items"], f"{path}[]")


@pytest.mark.anyio
async def test_tools_list_publishes_only_what_the_tool_models_say() -> None:
    written = written_descriptions()
    async with Client(build_server(Settings())) as client:
        tools = (await client.list_tools()).tools
    assert [tool.name for tool in tools] == list(TOOL_SPECS)
    for tool in tools:
        spec = TOOL_SPECS[tool.name]
        assert (tool.title, tool.description) == (spec.arguments.tool_title, spec.arguments.tool_description)
        published = [*descriptions(tool.input_schema, "input"), *descriptions(tool.output_schema, "output")]
        assert published, tool.name
        stray = [(path, text) for path, text in published if text not in written]
        assert stray == [], f"{tool.name} publishes text no tool model holds"


def test_defaults_of_the_tool_arguments_are_the_wire_defaults() -> None:
    # The defaults an agent is told about are the ones the API applies.
    assert models.ListEventsArguments.model_fields["page_size"].default == ListEventsQuery().page_size
    assert models.ListEventsArguments().to_params() == ListEventsQuery().to_params()
    assert models.SummarizeEventsArguments().page(0, 100) == EventFilters().page(0, 100)
    assert all(info.default is not PydanticUndefined for info in EventFilters.model_fields.values())
