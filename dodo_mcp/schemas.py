"""Turn a pydantic model's JSON schema into one every MCP client accepts.

Clients differ in what they tolerate: Claude Code rejects top-level unions,
several clients cannot resolve `$ref`, and some validators choke on `anyOf`
even inside properties. Every tool schema passes through `portable_schema`,
so the published schema stays derived from the models and is still plain.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Keys that cost context tokens and tell a model nothing the description does not.
_NOISE = frozenset({"title"})


def portable_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with `$ref`s inlined, titles dropped and simple unions flattened."""
    return simplify_schema(model.model_json_schema())


def simplify_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`portable_schema` for a schema already generated."""
    schema = dict(schema)
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
