"""The meter engine: the one implementation of Dodo's filter language and aggregations.

The tools use it to summarise and to explain a match, the sandbox to select a meter's events (and
its SQL translation, dodo_mcp.sandbox.meter_sql, is tested against it).

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

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dodo_mcp.api.meters import FilterCondition, MeterAggregation, MeterFilter

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
    outcome = compare(condition, actual)
    if outcome is None:
        return ClauseFailure(path, condition, "type_mismatch", actual)
    return None if outcome else ClauseFailure(path, condition, "comparison_failed", actual)


def compare(condition: FilterCondition, actual: Any) -> bool | None:
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
