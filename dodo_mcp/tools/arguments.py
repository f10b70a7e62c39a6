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
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar, get_args

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
    return isinstance(events, list) and len({event.event_id for event in events}) != len(events)


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
    where = _where(loc, data)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "missing":
        text = f"{where} is required"
    elif kind == "extra_forbidden":
        owner = _event_model(model) if index is not None and len(loc) == 3 else model
        text = f"{where} is not a known field; allowed: {', '.join(owner.model_fields)}"
    elif kind == "string_too_short":
        optional = len(loc) == 1 and loc[0] in model.model_fields and not model.model_fields[str(loc[0])].is_required()
        text = f"{where} must not be empty" + (" (omit it instead)" if optional else "")
    elif kind == "string_too_long":
        length = len(value) if isinstance(value, str) else "?"
        text = f"{where} must be at most {ctx.get('max_length')} characters (got {length})"
    elif kind == "too_short":
        text = f"{where} must have at least {ctx.get('min_length')} item{'s' if ctx.get('min_length') != 1 else ''}"
    elif kind == "too_long":
        unit = "keys" if isinstance(value, dict) else "items"
        got = len(value) if isinstance(value, dict | list) else ctx.get("actual_length")
        text = f"{where} may have at most {ctx.get('max_length')} {unit} (got {got})"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {
            "greater_than_equal": "at least",
            "less_than_equal": "at most",
            "greater_than": "more than",
            "less_than": "less than",
        }[kind]
        limit = next(iter(ctx.values()), "?")
        text = f"{where} must be {bound} {limit} (got {_show(value)})"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        text = f"{where} must be an integer, not {_kind(value)}"
    elif kind in ("string_type", "string_unicode"):
        text = f"{where} must be a string, not {_kind(value)}"
    elif kind == "list_type":
        text = f"{where} must be an array, not {_kind(value)}"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        text = f"{where} must be an object, not {_kind(value)}"
    elif kind == "value_error":
        text = f"{where} {error['msg'].removeprefix('Value error, ')}"
    else:
        text = f"{where}: {error['msg']}"
    return index, text


def _event_model(model: type[BaseModel]) -> type[BaseModel]:
    """The model of the items of `model`'s `events` list."""
    (item,) = get_args(model.model_fields["events"].annotation)
    assert isinstance(item, type) and issubclass(item, BaseModel)
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
