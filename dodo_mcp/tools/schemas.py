"""A model's JSON schema in the published profile: portable (every client's own converter accepts it)
and lean (cheap in context).

Clients convert tool schemas with their own code, and each has its limits. The profile is what all of
them accept, checked in CI by each client's converter (the README's "Schemas" section lists them):
- no `$ref`/`$defs` (several clients cannot resolve them) and no top-level union (Claude Code);
- no `type` arrays (Inspector 2.x's portability check; Gemini's single-type dialect): an optional
  input is published as its one type and is simply left out when unused, since Inspector 0.15 parses
  a `--tool-arg` as JSON only when `type` is exactly "object" or "array". The server still accepts
  null for it. Other unions become `anyOf` branches of one type each (a nullable output field is
  `anyOf: [{"type": "string"}, {"type": "null"}]`);
- no `additionalProperties: false` in input schemas (google-genai's MCP conversion crashes on the
  boolean), and no `propertyNames` or `maxProperties` (Gemini's dialect drops them silently): the
  server refuses unknown arguments and too many or too long metadata keys all the same, and each
  such limit is stated in the property's description, which tests/test_schemas.py checks.
Every published schema is `published_schema(model, ...)`, so it stays derived from the models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from dodo_mcp.api.limits import MAX_ID_LENGTH, MAX_PAGE_NUMBER

# Keys that cost context tokens and tell a model nothing the description does not.
_NOISE = frozenset({"title"})
# Output-schema keywords a reader of results does without (see lean_schema): what an input must meet.
_READ_ONLY_NOISE = frozenset(
    {"required", "format", "default", "additionalProperties", "minLength", "maxLength", "minimum", "maximum"}
    | {"minItems", "maxItems", "pattern"}
)
# Input-schema keywords some clients' converters crash on or drop; the server enforces them anyway.
_UNPORTABLE_INPUT_KEYWORDS = frozenset({"propertyNames", "maxProperties"})

Role = Literal["input", "output"]


def published_schema(model: type[BaseModel], role: Role) -> dict[str, Any]:
    """The schema tools/list publishes for `model` as a tool's input or output: portable, then lean."""
    lean = lean_schema(portable_schema(model, role), output=role == "output")
    assert isinstance(lean, dict)
    return lean


def result_contract(model: type[BaseModel]) -> dict[str, Any]:
    """The whole schema of a tool's result, `required` and formats included, that every result meets.

    tools/list publishes it lean (see lean_schema); the suite checks every structuredContent against this."""
    lean = lean_schema(portable_schema(model, "output"))
    assert isinstance(lean, dict)
    return lean


def portable_schema(model: type[BaseModel], role: Role) -> dict[str, Any]:
    """The model's JSON schema in the published profile (see the module's docstring)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    result = _simplify(schema, definitions, role, optional=False)
    assert isinstance(result, dict)
    return result


def _simplify(node: Any, definitions: dict[str, Any], role: Role, *, optional: bool) -> Any:
    """`node` in the profile; `optional`: it is an object property that is not required."""
    if isinstance(node, list):
        return [_simplify(item, definitions, role, optional=False) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _simplify(merged, definitions, role, optional=optional)
    required = set(node.get("required", ()))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _NOISE:
            continue
        if role == "input" and (
            key in _UNPORTABLE_INPUT_KEYWORDS or (key == "additionalProperties" and value is False)
        ):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _simplify(prop, definitions, role, optional=name not in required) for name, prop in value.items()
            }
        else:
            out[key] = _simplify(value, definitions, role, optional=False)
    if "anyOf" in out:
        out = _flatten_union(out, drop_null=role == "input" and optional)
    elif isinstance(out.get("type"), list):
        out = _one_type_each({key: value for key, value in out.items() if key != "type"}, out["type"])
    return out


def _flatten_union(node: dict[str, Any], *, drop_null: bool) -> dict[str, Any]:
    """An `anyOf` whose branches differ only in type, as one `type` or as `anyOf` branches of one type each.

    `{"anyOf": [{"type": "string", "format": ...}, {"type": "null"}]}` becomes
    `{"type": "string", "format": ...}` for an optional input (`drop_null`), and stays an `anyOf` of
    `{"type": "string", "format": ...}` and `{"type": "null"}` otherwise. An integer branch beside a
    number branch is dropped: every integer is a number. Other unions are left as they are.
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
            continue
        if kind == "null" and drop_null:
            continue
        types.append(kind)
    rest = {key: value for key, value in node.items() if key != "anyOf"}
    if any(key in rest for key in shared):
        return node
    if len(types) == 1:
        return {"type": types[0], **shared, **rest}
    # The type's own keywords (a string's format) stay with the branches they constrain.
    return _one_type_each(rest, types, shared)


def _one_type_each(rest: dict[str, Any], types: list[str], shared: dict[str, Any] | None = None) -> dict[str, Any]:
    """`rest` with an `anyOf` of one branch per type, each carrying `shared` unless it is null."""
    branches = [{"type": kind, **(shared or {})} if kind != "null" else {"type": "null"} for kind in types]
    return {"anyOf": branches, **rest}


def lean_schema(node: Any, *, is_property: bool = False, output: bool = False) -> Any:
    """A portable schema without what costs context and tells the model nothing.

    Every tools/list is read in full on every conversation: "default": null, the descriptions of
    whole objects (the tool description says it; the properties' own descriptions are kept) and a
    page_number maximum of 2**31-1 are dropped, and so are the id length bounds (1 to 512): the
    arguments are still checked against them, with a message that says so.

    An `output` schema is read, never filled in, so it also goes without what only an input must
    meet: `required` (every field listed is in every result unless its description says when it is
    left out), `format` (the descriptions say RFC 3339), defaults and bounds. That is about 330 of
    the 3,600 tokens tools/list may cost. The whole schema is result_contract's, and the suite
    holds every result to it.
    """
    if isinstance(node, list):
        return [lean_schema(item, output=output) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    is_identifier = node.get("maxLength") == MAX_ID_LENGTH and node.get("minLength") == 1
    for key, value in node.items():
        if is_identifier and key in ("maxLength", "minLength"):
            continue
        if key == "default" and value is None:
            continue
        if key == "description" and not is_property and node.get("type") == "object":
            continue
        if key == "maximum" and value == MAX_PAGE_NUMBER:
            continue
        if output and key in _READ_ONLY_NOISE:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: lean_schema(prop, is_property=True, output=output) for name, prop in value.items()}
        else:
            out[key] = lean_schema(value, output=output)
    return out
