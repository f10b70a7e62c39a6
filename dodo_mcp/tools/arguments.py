"""Validate a tool's raw arguments against its model, and explain every problem.

The SDK would validate arguments too, but its errors are pydantic's raw report
behind an "Error executing tool" prefix, and it silently drops unknown
arguments. Tools here read the raw arguments and validate them once with these
functions, so an agent gets one message that names each field, says what is
allowed, and lists every offending event by index and event_id.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dodo_mcp.tools.names import TOOL_INGEST_EVENTS

ModelT = TypeVar("ModelT", bound=BaseModel)

# Beyond this many, problems are summarised by index so the message stays readable.
MAX_LISTED_PROBLEMS = 50


class InvalidArgumentsError(ValueError):
    """A tool's arguments break a documented rule. Nothing was sent to Dodo.

    `problems` lists each one in words; `str()` is the whole text the agent reads.
    """

    def __init__(self, problems: list[str], hint: str, total: int | None = None) -> None:
        self.problems = problems
        self.hint = hint
        lines = "\n".join(f"- {problem}" for problem in problems)
        total = len(problems) if total is None else total
        count = f"{total} problem{'s' if total != 1 else ''}"
        self.message = f"Invalid arguments ({count}):\n{lines}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}"


def validate_arguments(
    model: type[ModelT], raw: Mapping[str, Any] | None, *, tool: str, now: datetime | None = None
) -> ModelT:
    """The validated arguments, or InvalidArgumentsError naming every problem."""
    data = dict(raw or {})
    events = data.get("events")
    if isinstance(events, str):
        # Some clients send an array argument as a JSON string.
        with contextlib.suppress(ValueError):
            data["events"] = json.loads(events)
    problems: list[tuple[int | None, str]] = []
    validated: ModelT | None = None
    try:
        validated = model.model_validate(data, context={"now": now or datetime.now(timezone.utc)})
    except ValidationError as exc:
        problems.extend(_problem(error, model, data) for error in exc.errors(include_url=False))
    events = data.get("events")
    if isinstance(events, list) and (problems or _has_duplicates(validated)):
        problems.extend(_duplicate_event_ids(events))
    if problems or validated is None:
        raise InvalidArgumentsError(_listing(problems), _fix_hint(tool), total=len(problems))
    return validated


def _fix_hint(tool: str) -> str:
    if tool == TOOL_INGEST_EVENTS:
        return (
            "Nothing was sent to Dodo and no event from this call was stored. "
            "Fix the problems above and call ingest_events again with all the events."
        )
    return f"Nothing was sent to Dodo. Fix the problems above and call {tool} again."


def _listing(problems: list[tuple[int | None, str]]) -> list[str]:
    problems.sort(key=lambda item: -1 if item[0] is None else item[0])
    lines = [text for _, text in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        rest = sorted({index for index, _ in problems[MAX_LISTED_PROBLEMS:] if index is not None})
        lines.append(
            f"…and {len(problems) - MAX_LISTED_PROBLEMS} more problems"
            + (f", in events {_ranges(rest)}" if rest else "")
        )
    return lines


def _ranges(indexes: list[int]) -> str:
    spans: list[str] = []
    start = previous = indexes[0]
    for index in [*indexes[1:], None]:  # type: ignore[list-item]
        if index is not None and index == previous + 1:
            previous = index
            continue
        spans.append(str(start) if start == previous else f"{start}-{previous}")
        if index is not None:
            start = previous = index
    return ", ".join(spans)


def _has_duplicates(validated: BaseModel | None) -> bool:
    # The cheap check on a valid call; the detailed report is built only when it is needed.
    events = getattr(validated, "events", None)
    return isinstance(events, list) and len({event["event_id"] for event in events}) != len(events)


def _duplicate_event_ids(events: list[Any]) -> list[tuple[int | None, str]]:
    first_seen: dict[str, int] = {}
    problems: list[tuple[int | None, str]] = []
    for index, event in enumerate(events):
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if not isinstance(event_id, str):
            continue
        if event_id in first_seen:
            problems.append(
                (
                    index,
                    f"events[{index}] (event_id {_show(event_id)}) repeats the event_id of "
                    f"events[{first_seen[event_id]}]; event_ids must be unique within a call "
                    "(Dodo rejects the whole request otherwise)",
                )
            )
        else:
            first_seen[event_id] = index
    return problems


def _problem(error: ErrorDetails, model: type[BaseModel], data: Mapping[str, Any]) -> tuple[int | None, str]:
    """One validation error in words, and the index of the event it is about (None when not an event's)."""
    loc = error["loc"]
    index = loc[1] if len(loc) > 1 and loc[0] == "events" and isinstance(loc[1], int) else None
    return index, _where(loc, data) + _what(error, model, index is not None)


# Pydantic's error types that say a value has the wrong JSON type, and the type it must have.
_WRONG_TYPE = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "string_unicode": "a string",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
}
_BOUNDS = {
    "greater_than_equal": "at least",
    "less_than_equal": "at most",
    "greater_than": "more than",
    "less_than": "less than",
}


def _what(error: ErrorDetails, model: type[BaseModel], in_an_event: bool) -> str:
    """What is wrong, as the rest of the sentence that starts with where it is."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind in _WRONG_TYPE:
        return f" must be {_WRONG_TYPE[kind]}, not {_kind(value)}"
    if kind in _BOUNDS:
        return f" must be {_BOUNDS[kind]} {next(iter(ctx.values()), '?')} (got {_show(value)})"
    if kind == "extra_forbidden":
        owner = _event_model(model) if in_an_event and len(error["loc"]) == 3 else model
        return f" is not a known field; allowed: {', '.join(owner.model_fields)}"
    if kind == "string_too_short":
        return " must not be empty" + (" (omit it instead)" if _optional(model, error["loc"]) else "")
    if kind in _SIZES:
        return _SIZES[kind](value, ctx)
    if kind == "missing":
        return " is required"
    if kind == "value_error":
        return f" {error['msg'].removeprefix('Value error, ')}"
    return f": {error['msg']}"


def _optional(model: type[BaseModel], loc: tuple[int | str, ...]) -> bool:
    """Whether `loc` is a top-level argument the call may leave out."""
    field = model.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    return field is not None and not field.is_required()


def _string_too_long(value: Any, ctx: Mapping[str, Any]) -> str:
    length = len(value) if isinstance(value, str) else "?"
    return f" must be at most {ctx.get('max_length')} characters (got {length})"


def _too_short(value: Any, ctx: Mapping[str, Any]) -> str:
    least = ctx.get("min_length")
    return f" must have at least {least} item{'s' if least != 1 else ''}"


def _too_long(value: Any, ctx: Mapping[str, Any]) -> str:
    unit = "keys" if isinstance(value, dict) else "items"
    got = len(value) if isinstance(value, dict | list) else ctx.get("actual_length")
    return f" may have at most {ctx.get('max_length')} {unit} (got {got})"


_SIZES: dict[str, Callable[[Any, Mapping[str, Any]], str]] = {
    "string_too_long": _string_too_long,
    "too_short": _too_short,
    "too_long": _too_long,
}


def _event_model(model: type[BaseModel]) -> type[BaseModel]:
    """The model of the items of `model`'s `events` list."""
    # The events are held as records; the model they were validated as is the one that names the fields.
    item = getattr(model, "event_model", None)
    assert isinstance(item, type) and issubclass(item, BaseModel), model
    return item


def _where(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for position, part in enumerate(loc):
        if part == "[key]":
            parts[-1:] = [f" key {parts[-1][1:-1]}"]
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if (
                position == 1
                and loc[0] == "events"
                and isinstance(item, dict)
                and isinstance(item.get("event_id"), str)
            ):
                parts.append(f" (event_id {_show(item['event_id'])})")
            node = item
        else:
            name = part if len(part) <= 60 else part[:59] + "…"
            if position == 0:
                parts.append(name)
            elif isinstance(node, dict) and parts and parts[-1] != "" and position >= 3:
                parts.append(f"[{_show(part)}]")
            else:
                parts.append(f".{name}")
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, str) else "'" + value.replace("'", "\\'") + "'"
    return text if len(text) <= limit else text[: limit - 1] + "…'"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({_show(value, 30)})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
