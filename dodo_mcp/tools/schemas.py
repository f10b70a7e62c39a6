"""A model's JSON schema made portable (every MCP client accepts it) and lean (cheap in context).

Clients differ in what they tolerate: Claude Code rejects top-level unions, several clients cannot
resolve `$ref`, and some validators choke on `anyOf` even inside properties. Every published tool
schema is `published_schema(model)`, so it stays derived from the models and is still plain.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dodo_mcp.api.limits import MAX_ID_LENGTH, MAX_PAGE_NUMBER

# Keys that cost context tokens and tell a model nothing the description does not.
_NOISE = frozenset({"title"})


def published_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The schema tools/list publishes for `model`: portable, then lean."""
    lean = lean_schema(portable_schema(model))
    assert isinstance(lean, dict)
    return lean


def portable_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with `$ref`s inlined, titles dropped and simple unions flattened."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    result = _simplify(schema, definitions)
    assert isinstance(result, dict)
    return result


def _simplify(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_simplify(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _simplify(merged, definitions)
    out = {key: _simplify(value, definitions) for key, value in node.items() if key not in _NOISE}
    if "anyOf" in out:
        out = _flatten_union(out)
    return out


def _flatten_union(node: dict[str, Any]) -> dict[str, Any]:
    """Rewrite `anyOf` into one schema with a list of types when the branches only differ in type.

    `{"anyOf": [{"type": "string", "format": ...}, {"type": "null"}]}` becomes
    `{"type": ["string", "null"], "format": ...}`. Branches that share other keys
    with different values are left as they are.
    """
    branches = node["anyOf"]
    types: list[str] = []
    shared: dict[str, Any] = {}
    for branch in branches:
        kind = branch.get("type")
        if not isinstance(kind, str):
            return node
        for key, value in branch.items():
            if key == "type":
                continue
            if key in shared and shared[key] != value:
                return node
            shared[key] = value
        if kind == "integer" and "number" in (b.get("type") for b in branches):
            continue  # every integer is a number
        types.append(kind)
    rest = {key: value for key, value in node.items() if key != "anyOf"}
    if any(key in rest for key in shared):
        return node
    return {"type": types[0] if len(types) == 1 else types, **shared, **rest}


def lean_schema(node: Any, *, is_property: bool = False) -> Any:
    """A portable schema without what costs context and tells the model nothing.

    Every tools/list is read in full on every conversation: "default": null, the descriptions of
    whole objects (the tool description says it; the properties' own descriptions are kept) and a
    page_number maximum of 2**31-1 are dropped, and so are the id length bounds (1 to 512): the
    arguments are still checked against them, with a message that says so.
    """
    if isinstance(node, list):
        return [lean_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    is_identifier = node.get("maxLength") == MAX_ID_LENGTH and node.get("minLength") == 1
    for key, value in node.items():
        if is_identifier and key in ("maxLength", "minLength"):
            continue
        if key == "default" and value is None:
            continue
        if key == "description" and not is_property and node.get("type") in ("object", ["object", "null"]):
            continue
        if key == "maximum" and value == MAX_PAGE_NUMBER:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: lean_schema(prop, is_property=True) for name, prop in value.items()}
        else:
            out[key] = lean_schema(value)
    return out
