"""The meter filter engine: the one implementation of Dodo's filter language and aggregations.

`evaluate(filter, metadata)` says whether an event's metadata matches a meter's
filter and, when it does not, which clause failed and why, so the same code can
both select events (GET /events?meter_id=...) and explain a mismatch.

Semantics (Dodo documents the language but not every corner; these are ours):
- A condition whose key is missing from the metadata (or metadata is null) fails,
  whatever the operator, including not_equals and does_not_contain.
- Numbers: an integer or float, or a *numeric string* such as "150", "-2.5" or "1e3"
  (Dodo's own example sends `"tokens_used": "150"`). Booleans are never numbers.
- equals / not_equals: a boolean value compares only with a boolean; a number with a
  number or numeric string (numerically, so "150" equals 150); a string with a string
  exactly (case-sensitive), or numerically when the metadata value is a number and the
  filter string is numeric. Anything else is a type mismatch.
- greater_than, greater_than_or_equals, less_than, less_than_or_equals: both sides must
  be numbers (or numeric strings); otherwise a type mismatch.
- contains / does_not_contain: both sides must be strings (substring, case-sensitive).
- A type mismatch fails the condition for every operator, negative ones included: a
  filter never matches on values it cannot compare.
- "and" fails at its first failing clause; "or" fails when every clause fails and then
  reports its first clause's failure. Clauses are checked in order.

Aggregations: count counts matching events; sum, max and last read `key` as a number
(numeric strings count) and skip events whose value is missing or not numeric.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dodo_mcp.meters import FilterCondition, MeterAggregation, MeterFilter

Number = int | float
FailureReason = Literal["missing_key", "type_mismatch", "comparison_failed"]

_NUMERIC_STRING = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_ORDERING: dict[str, Callable[[Number, Number], bool]] = {
    "greater_than": operator.gt,
    "greater_than_or_equals": operator.ge,
    "less_than": operator.lt,
    "less_than_or_equals": operator.le,
}


def as_number(value: Any) -> Number | None:
    """The value as a number if it is one or a numeric string, else None. Booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and len(value) <= 400 and _NUMERIC_STRING.fullmatch(value.strip()):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "numeric string" if as_number(value) is not None else "string"
    return type(value).__name__


@dataclass(frozen=True)
class ClauseFailure:
    """Why one condition did not match. `path` indexes the clauses from the top-level filter down."""

    path: tuple[int, ...]
    condition: FilterCondition
    reason: FailureReason
    actual: Any = None

    @property
    def message(self) -> str:
        where = "clauses" + "".join(f"[{index}]" for index in self.path)
        c = self.condition
        if self.reason == "missing_key":
            return f"{where}: metadata has no key {c.key!r}, so the condition cannot match"
        if self.reason == "type_mismatch":
            return (
                f"{where}: {c.key!r} is a {_kind(self.actual)} ({self.actual!r}), which {c.operator} cannot "
                f"compare with the {_kind(c.value)} {c.value!r}"
            )
        return f"{where}: {c.key!r} is {self.actual!r}, and {self.actual!r} {c.operator} {c.value!r} is false"


@dataclass(frozen=True)
class MatchResult:
    """Whether metadata matched a filter; on a mismatch, the first failing condition."""

    matched: bool
    failure: ClauseFailure | None = None

    def __bool__(self) -> bool:
        return self.matched

    @property
    def message(self) -> str:
        return "matched" if self.failure is None else self.failure.message


MATCHED = MatchResult(True)


def evaluate(meter_filter: MeterFilter | None, metadata: Mapping[str, Any] | None) -> MatchResult:
    """Match event metadata against a meter filter. No filter matches everything."""
    if meter_filter is None:
        return MATCHED
    return _evaluate(meter_filter, metadata or {}, ())


def _evaluate(meter_filter: MeterFilter, metadata: Mapping[str, Any], path: tuple[int, ...]) -> MatchResult:
    first_failure: ClauseFailure | None = None
    for index, clause in enumerate(meter_filter.clauses):
        if isinstance(clause, MeterFilter):
            result = _evaluate(clause, metadata, (*path, index))
        else:
            assert isinstance(clause, FilterCondition)
            failure = check_condition(clause, metadata, (*path, index))
            result = MATCHED if failure is None else MatchResult(False, failure)
        if meter_filter.conjunction == "and" and not result.matched:
            return result
        if meter_filter.conjunction == "or":
            if result.matched:
                return MATCHED
            first_failure = first_failure or result.failure
    return MATCHED if meter_filter.conjunction == "and" else MatchResult(False, first_failure)


def check_condition(
    condition: FilterCondition, metadata: Mapping[str, Any], path: tuple[int, ...] = ()
) -> ClauseFailure | None:
    """None when the condition holds, else why it does not."""
    if condition.key not in metadata:
        return ClauseFailure(path, condition, "missing_key")
    actual = metadata[condition.key]
    outcome = _compare(condition, actual)
    if outcome is None:
        return ClauseFailure(path, condition, "type_mismatch", actual)
    return None if outcome else ClauseFailure(path, condition, "comparison_failed", actual)


def _compare(condition: FilterCondition, actual: Any) -> bool | None:
    """The comparison's truth, or None when the two values cannot be compared."""
    op, expected = condition.operator, condition.value
    if op in ("equals", "not_equals"):
        same = _equal(expected, actual)
        if same is None:
            return None
        return same if op == "equals" else not same
    if op in _ORDERING:
        left, right = as_number(actual), as_number(expected)
        if left is None or right is None:
            return None
        return _ORDERING[op](left, right)
    # contains / does_not_contain
    if not isinstance(actual, str) or not isinstance(expected, str):
        return None
    return (expected in actual) if op == "contains" else (expected not in actual)


def _equal(expected: Any, actual: Any) -> bool | None:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual if isinstance(expected, bool) and isinstance(actual, bool) else None
    if isinstance(expected, str) and isinstance(actual, str):
        return expected == actual
    left, right = as_number(actual), as_number(expected)
    if left is None or right is None:
        return None
    return left == right


@dataclass(frozen=True)
class AggregateResult:
    """A meter's aggregation over a set of matching events."""

    type: str
    key: str | None
    value: Number | None
    events: int
    skipped: int


def aggregate(aggregation: MeterAggregation, metadatas: Iterable[Mapping[str, Any] | None]) -> AggregateResult:
    """Aggregate matching events' metadata, given oldest first (so `last` is the newest value)."""
    events = skipped = 0
    value: Number | None = 0 if aggregation.type in ("count", "sum") else None
    for metadata in metadatas:
        events += 1
        if aggregation.type == "count":
            continue
        assert aggregation.key is not None  # MeterAggregation requires it unless count
        number = as_number((metadata or {}).get(aggregation.key))
        if number is None:
            skipped += 1
        elif aggregation.type == "sum":
            value = (value or 0) + number
        elif aggregation.type == "max":
            value = number if value is None else max(value, number)
        else:
            value = number
    if aggregation.type == "count":
        value = events
    return AggregateResult(aggregation.type, aggregation.key, value, events, skipped)


# The same filters as SQL over the stored metadata JSON, for GET /events?meter_id=...: SQLite then
# skips non-matching rows itself and pages with LIMIT/OFFSET, instead of every row being decoded and
# evaluated here. Each condition becomes an expression whose truth is exactly check_condition's:
# - booleans, and strings compared as strings (equals, not_equals, contains, does_not_contain with a
#   non-numeric string), are plain SQL on json_type/json_extract;
# - everything numeric goes through one SQL function, sql_compare, which decodes just that value
#   (`metadata -> path` is its JSON text, so big integers stay exact) and runs _compare on it.
# Conditions on keys a JSON path cannot quote (containing " or \) make to_sql return None and the
# caller evaluates in Python. SQLite 3.38 or later is needed for `->`.
SQL_COMPARE_FUNCTION = "dodo_meter_compare"


def _path(key: str) -> str | None:
    return None if '"' in key or "\\" in key else f'$."{key}"'


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
    return 1 if _compare(_sql_condition(operator, value_json), json.loads(raw)) else 0
