"""Meter filters as SQL over the stored metadata JSON, for GET /events?meter_id=...

SQLite then skips non-matching rows itself and pages with LIMIT/OFFSET, instead of every row being
decoded and evaluated in Python. The answers are exactly dodo_mcp.api.meter_engine's (the tests
compare the two on every operator and value kind).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from dodo_mcp.api.meter_engine import as_number, compare
from dodo_mcp.api.meters import FilterCondition, MeterFilter

# Each condition becomes an expression whose truth is exactly meter_engine.check_condition's:
# - booleans, and strings compared as strings (equals, not_equals, contains, does_not_contain with a
#   non-numeric string), are plain SQL on json_type/json_extract;
# - everything numeric goes through one SQL function, sql_compare, which decodes just that value
#   (`metadata -> path` is its JSON text, so big integers stay exact) and runs the engine's compare on it.
# A JSON path label matches a key's text as stored, escapes included, and SQLite's text functions
# stop at NUL (3.40: `$."a<TAB>b"` finds nothing in {"a\tb": 1}, and a NUL in a path is an error).
# So conditions on keys that JSON escapes (" \ and U+0000-U+001F) make to_sql return None and the
# caller evaluates in Python, with the one engine. SQLite 3.38 or later is needed for `->`.
SQL_COMPARE_FUNCTION = "dodo_meter_compare"
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def _path(key: str) -> str | None:
    return None if _JSON_ESCAPED.search(key) else f'$."{key}"'


def to_sql(meter_filter: MeterFilter) -> tuple[str, list[Any]] | None:
    """A SQL boolean expression over the `metadata` column equal to `evaluate(meter_filter, ...)`, or None."""
    parts: list[str] = []
    params: list[Any] = []
    for clause in meter_filter.clauses:
        if isinstance(clause, MeterFilter):
            translated = to_sql(clause)
        else:
            assert isinstance(clause, FilterCondition)
            translated = _condition_sql(clause)
        if translated is None:
            return None
        parts.append(translated[0])
        params.extend(translated[1])
    joiner = " AND " if meter_filter.conjunction == "and" else " OR "
    return "(" + joiner.join(parts) + ")", params


def _condition_sql(condition: FilterCondition) -> tuple[str, list[Any]] | None:
    path = _path(condition.key)
    if path is None:
        return None
    op, value = condition.operator, condition.value
    if isinstance(value, bool):
        if op in ("equals", "not_equals"):
            wanted = value if op == "equals" else not value
            return "json_type(metadata, ?) = ?", [path, "true" if wanted else "false"]
        return "0", []  # a boolean is never a number nor a string: a type mismatch, always false
    if isinstance(value, str) and as_number(value) is None:
        # Only a string can be compared with a non-numeric string, and only as a string.
        if op in ("equals", "not_equals"):
            sign = "=" if op == "equals" else "!="
            return f"(json_type(metadata, ?) = 'text' AND json_extract(metadata, ?) {sign} ?)", [path, path, value]
        if op in ("contains", "does_not_contain"):
            sign = ">" if op == "contains" else "="
            return f"(json_type(metadata, ?) = 'text' AND instr(json_extract(metadata, ?), ?) {sign} 0)", [
                path,
                path,
                value,
            ]
        return "0", []  # ordering against a non-numeric string: a type mismatch
    if not isinstance(value, str) and op in ("contains", "does_not_contain"):
        return "0", []  # contains needs two strings
    return f"{SQL_COMPARE_FUNCTION}(metadata -> ?, ?, ?)", [path, op, json.dumps(value)]


@functools.lru_cache(maxsize=1024)
def _sql_condition(operator: str, value_json: str) -> FilterCondition:
    return FilterCondition.model_construct(key="", operator=operator, value=json.loads(value_json))


def sql_compare(raw: str | None, operator: str, value_json: str) -> int:
    """SQL function: whether the metadata value whose JSON text is `raw` satisfies the comparison."""
    if raw is None:  # the key is missing, or there is no metadata
        return 0
    return 1 if compare(_sql_condition(operator, value_json), json.loads(raw)) else 0
