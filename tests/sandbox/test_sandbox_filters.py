"""The meter filter engine and aggregations, table-driven."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dodo_mcp.api.limits import MAX_FILTER_CLAUSES
from dodo_mcp.api.meter_engine import aggregate, as_number, evaluate
from dodo_mcp.api.meters import FilterCondition, MeterAggregation, MeterFilter

META: dict[str, Any] = {
    "plan": "premium",
    "tokens": "150",  # a numeric string, as in Dodo's own example
    "amount": 100,
    "ratio": 0.5,
    "active": True,
    "endpoint": "/api/v1/users",
}


def cond(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"key": key, "operator": operator, "value": value}


def flt(conjunction: str, *clauses: dict[str, Any]) -> MeterFilter:
    return MeterFilter.model_validate({"conjunction": conjunction, "clauses": list(clauses)})


# (key, operator, value, matched, failure reason when not matched)
CONDITIONS = [
    ("plan", "equals", "premium", True, None),
    ("plan", "equals", "Premium", False, "comparison_failed"),  # case-sensitive
    ("plan", "not_equals", "free", True, None),
    ("plan", "not_equals", "premium", False, "comparison_failed"),
    ("amount", "equals", 100, True, None),
    ("amount", "equals", 100.0, True, None),
    ("amount", "equals", "100", True, None),  # numeric filter string vs number: numerically
    ("tokens", "equals", 150, True, None),  # numeric metadata string vs number
    ("tokens", "equals", "150.0", False, "comparison_failed"),  # string vs string: exactly
    ("active", "equals", True, True, None),
    ("active", "not_equals", True, False, "comparison_failed"),
    ("active", "equals", 1, False, "type_mismatch"),  # booleans are never numbers
    ("amount", "equals", True, False, "type_mismatch"),
    ("plan", "equals", 5, False, "type_mismatch"),
    ("plan", "not_equals", 5, False, "type_mismatch"),  # mismatch fails negative operators too
    ("amount", "greater_than", 99, True, None),
    ("amount", "greater_than", 100, False, "comparison_failed"),
    ("tokens", "greater_than", 100, True, None),
    ("tokens", "greater_than", "149.5", True, None),
    ("amount", "greater_than_or_equals", 100, True, None),
    ("amount", "greater_than_or_equals", 100.5, False, "comparison_failed"),
    ("ratio", "less_than", 1, True, None),
    ("ratio", "less_than", 0.5, False, "comparison_failed"),
    ("ratio", "less_than_or_equals", 0.5, True, None),
    ("tokens", "less_than_or_equals", 149, False, "comparison_failed"),
    ("plan", "greater_than", 1, False, "type_mismatch"),
    ("active", "less_than", 2, False, "type_mismatch"),
    ("amount", "less_than", "many", False, "type_mismatch"),
    ("endpoint", "contains", "/v1/", True, None),
    ("endpoint", "contains", "/V1/", False, "comparison_failed"),
    ("endpoint", "does_not_contain", "admin", True, None),
    ("endpoint", "does_not_contain", "users", False, "comparison_failed"),
    ("amount", "contains", "10", False, "type_mismatch"),
    ("plan", "contains", 1, False, "type_mismatch"),
    ("missing", "equals", "x", False, "missing_key"),
    ("missing", "not_equals", "x", False, "missing_key"),
    ("missing", "does_not_contain", "x", False, "missing_key"),
]


@pytest.mark.parametrize(("key", "operator", "value", "matched", "reason"), CONDITIONS)
def test_condition(key: str, operator: str, value: Any, matched: bool, reason: str | None) -> None:
    result = evaluate(flt("and", cond(key, operator, value)), META)
    assert result.matched is matched
    assert bool(result) is matched
    if reason is None:
        assert result.failure is None
    else:
        assert result.failure is not None
        assert result.failure.reason == reason
        assert result.failure.path == (0,)
        assert result.failure.condition == FilterCondition(key=key, operator=operator, value=value)  # type: ignore[arg-type]


def test_every_operator_is_covered() -> None:
    assert {row[1] for row in CONDITIONS} == set(FilterCondition.model_fields["operator"].annotation.__args__)  # type: ignore[union-attr]


CONJUNCTIONS = [
    ("and", [cond("plan", "equals", "premium"), cond("amount", "greater_than", 50)], True, None),
    ("and", [cond("plan", "equals", "premium"), cond("amount", "greater_than", 500)], False, (1,)),
    ("and", [cond("nope", "equals", 1), cond("amount", "greater_than", 500)], False, (0,)),
    ("or", [cond("plan", "equals", "free"), cond("plan", "equals", "premium")], True, None),
    ("or", [cond("plan", "equals", "free"), cond("plan", "equals", "enterprise")], False, (0,)),
    ("or", [cond("nope", "equals", 1), cond("plan", "equals", "premium")], True, None),
]


@pytest.mark.parametrize(("conjunction", "clauses", "matched", "path"), CONJUNCTIONS)
def test_conjunctions(conjunction: str, clauses: list[dict[str, Any]], matched: bool, path: tuple[int, ...]) -> None:
    result = evaluate(flt(conjunction, *clauses), META)
    assert result.matched is matched
    assert (result.failure.path if result.failure else None) == path


def three_levels(leaf: dict[str, Any]) -> MeterFilter:
    """Top-level filter with nested filters three levels deep, the leaf condition at the bottom."""
    level3 = {"conjunction": "and", "clauses": [cond("active", "equals", True), leaf]}
    level2 = {"conjunction": "or", "clauses": [{"conjunction": "and", "clauses": [cond("x", "equals", 1)]}, level3]}
    level1 = {"conjunction": "and", "clauses": [level2]}
    return MeterFilter.model_validate({"conjunction": "and", "clauses": [level1]})


@pytest.mark.parametrize(
    ("leaf", "matched", "reason"),
    [
        (cond("tokens", "greater_than_or_equals", 150), True, None),
        (cond("tokens", "greater_than", 150), False, "comparison_failed"),
        (cond("absent", "equals", "x"), False, "missing_key"),
        (cond("plan", "less_than", 3), False, "type_mismatch"),
    ],
)
def test_three_level_nesting(leaf: dict[str, Any], matched: bool, reason: str | None) -> None:
    meter_filter = three_levels(leaf)
    assert meter_filter.nesting == 3
    result = evaluate(meter_filter, META)
    assert result.matched is matched
    if reason:
        # The "or" at level 2 failed on both sides and reports its first clause: the missing key "x".
        assert result.failure is not None
        assert result.failure.path == (0, 0, 0, 0)
        assert result.failure.reason == "missing_key"
        assert result.message == "clauses[0][0][0][0]: metadata has no key 'x', so the condition cannot match"


def test_failure_messages_name_the_clause_and_why() -> None:
    result = evaluate(flt("and", cond("plan", "equals", "premium"), cond("amount", "less_than", 10)), META)
    assert result.message == "clauses[1]: 'amount' is 100, and 100 less_than 10 is false"
    result = evaluate(flt("and", cond("plan", "greater_than", 10)), META)
    assert result.message == (
        "clauses[0]: 'plan' is a string ('premium'), which greater_than cannot compare with the number 10"
    )
    assert evaluate(flt("and", cond("plan", "equals", "premium")), META).message == "matched"


@pytest.mark.parametrize("metadata", [None, {}])
def test_no_metadata_matches_no_filter_but_any_missing_filter(metadata: dict[str, Any] | None) -> None:
    assert evaluate(None, metadata).matched
    result = evaluate(flt("or", cond("plan", "not_equals", "x")), metadata)
    assert result.failure is not None and result.failure.reason == "missing_key"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"conjunction": "and", "clauses": []}, "Value should have at least 1 item after validation, not 0"),
        (
            {"conjunction": "and", "clauses": [cond("a", "equals", 1)] * (MAX_FILTER_CLAUSES + 1)},
            "Value should have at most 10 items after validation, not 11",
        ),
        ({"conjunction": "xor", "clauses": [cond("a", "equals", 1)]}, "Input should be 'and' or 'or'"),
        ({"conjunction": "and", "clauses": [cond("a", "matches", 1)]}, "Input should be 'equals'"),
        ({"conjunction": "and", "clauses": [cond("a", "equals", None)]}, "must be a string, number or boolean"),
        ({"conjunction": "and", "clauses": [cond("a", "equals", [1])]}, "not an array"),
        ({"conjunction": "and", "clauses": [cond("", "equals", 1)]}, "at least 1 character"),
        (
            {
                "conjunction": "and",
                "clauses": [cond("a", "equals", 1), {"conjunction": "or", "clauses": [cond("b", "equals", 2)]}],
            },
            "clauses must be either all conditions (key, operator, value) or all nested filters",
        ),
    ],
)
def test_invalid_filters_are_rejected(raw: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MeterFilter.model_validate(raw)
    assert error in str(caught.value)


def test_four_levels_of_nesting_are_rejected() -> None:
    inner = three_levels(cond("a", "equals", 1)).model_dump()
    with pytest.raises(ValidationError) as caught:
        MeterFilter.model_validate({"conjunction": "and", "clauses": [inner]})
    assert "filters may nest at most 3 levels below the top-level filter" in str(caught.value)


NUMBERS = [("150", 150), ("-2.5", -2.5), ("1e3", 1000.0), (" 7 ", 7), (3, 3), (0.25, 0.25)]
NOT_NUMBERS = [("1e999", None), ("abc", None), (True, None), ("", None), ("1.2.3", None), ("nan", None), (None, None)]


@pytest.mark.parametrize(("value", "number"), [*NUMBERS, *NOT_NUMBERS])
def test_as_number(value: Any, number: float | None) -> None:
    assert as_number(value) == number
    if number is not None:
        assert type(as_number(value)) is type(number)


EVENTS: list[dict[str, Any] | None] = [
    {"tokens": "150"},
    {"tokens": 20},
    {"other": 1},
    None,
    {"tokens": "n/a"},
    {"tokens": 2.5},
]


@pytest.mark.parametrize(
    ("aggregation", "value", "skipped"),
    [
        ({"type": "count"}, 6, 0),
        ({"type": "sum", "key": "tokens"}, 172.5, 3),
        ({"type": "max", "key": "tokens"}, 150, 3),
        ({"type": "last", "key": "tokens"}, 2.5, 3),
    ],
)
def test_aggregations(aggregation: dict[str, Any], value: float, skipped: int) -> None:
    result = aggregate(MeterAggregation.model_validate(aggregation), EVENTS)
    assert (result.value, result.events, result.skipped) == (value, 6, skipped)


def test_aggregations_of_nothing() -> None:
    assert aggregate(MeterAggregation(type="sum", key="t"), []).value == 0
    assert aggregate(MeterAggregation(type="max", key="t"), []).value is None
    assert aggregate(MeterAggregation(type="count"), []).value == 0


@pytest.mark.parametrize("kind", ["sum", "max", "last"])
def test_aggregation_key_required_unless_count(kind: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MeterAggregation.model_validate({"type": kind})
    assert f"key is required when type is '{kind}' (only count works without a key)" in str(caught.value)
