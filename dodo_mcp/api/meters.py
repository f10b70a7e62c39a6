"""Pydantic models of Dodo's meters API.

A meter names an event_name, an optional filter over the events' metadata and
an aggregation. The sandbox stores meters with these models and `GET /events`
applies a meter's event_name and filter when given `meter_id`. Descriptions
are Dodo's own wording from the OpenAPI spec where it has one; the limits are
dodo_mcp.api.limits'.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    model_validator,
)

from dodo_mcp.api.limits import (
    DEFAULT_PAGE_SIZE,
    MAX_FILTER_CLAUSES,
    MAX_FILTER_KEY_LENGTH,
    MAX_FILTER_NESTING,
    MAX_METERS_PAGE_SIZE,
    MIN_FILTER_CLAUSES,
)
from dodo_mcp.api.models import PageNumber, PageSize, Scalar, scalar

FilterOperator = Literal[
    "equals",
    "not_equals",
    "greater_than",
    "greater_than_or_equals",
    "less_than",
    "less_than_or_equals",
    "contains",
    "does_not_contain",
]
FILTER_OPERATORS: tuple[FilterOperator, ...] = get_args(FilterOperator)
Conjunction = Literal["and", "or"]
AggregationType = Literal["count", "sum", "max", "last"]


def _filter_value(value: Any) -> str | int | float | bool:
    return scalar(value, "must be a string, number or boolean")


FilterValue = Annotated[Scalar, PlainValidator(_filter_value, json_schema_input_type=Scalar)]


class FilterCondition(BaseModel):
    """Filter condition with key, operator, and value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=MAX_FILTER_KEY_LENGTH, description="Filter key to apply")
    operator: FilterOperator
    value: FilterValue = Field(description="Filter value - can be string, number, or boolean")


def _clauses_not_mixed(value: Any) -> Any:
    # Pydantic would report a mixed list as two long union failures; say it once, plainly.
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        nested = ["clauses" in item or "conjunction" in item for item in value]
        if any(nested) and not all(nested):
            raise ValueError("clauses must be either all conditions (key, operator, value) or all nested filters")
    return value


class MeterFilter(BaseModel):
    """A filter structure that combines multiple conditions with logical conjunctions (AND/OR).

    Supports up to 3 levels of nesting to create complex filter expressions. Each filter has a
    conjunction (and/or) and clauses that can be either direct conditions or nested filters.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    conjunction: Conjunction = Field(description="Logical conjunction to apply between clauses (and/or)")
    clauses: Annotated[
        Union[list[FilterCondition], list[MeterFilter]],  # noqa: UP007
        BeforeValidator(_clauses_not_mixed),
        Field(min_length=MIN_FILTER_CLAUSES, max_length=MAX_FILTER_CLAUSES),
    ] = Field(description="Filter clauses - can be direct conditions or nested filters (up to 3 levels deep)")

    @property
    def nesting(self) -> int:
        """How many levels of nested filters lie below this one (0 when its clauses are conditions)."""
        return max((1 + clause.nesting for clause in self.clauses if isinstance(clause, MeterFilter)), default=0)

    @model_validator(mode="after")
    def _not_too_deep(self) -> MeterFilter:
        # Every filter checks itself; the top-level one carries the tightest bound.
        if self.nesting > MAX_FILTER_NESTING:
            raise ValueError(f"filters may nest at most {MAX_FILTER_NESTING} levels below the top-level filter")
        return self


class MeterAggregation(BaseModel):
    """Aggregation configuration for the meter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: AggregationType = Field(description="Aggregation type for the meter")
    key: str | None = Field(
        default=None, min_length=1, max_length=MAX_FILTER_KEY_LENGTH, description="Required when type is not COUNT"
    )

    @model_validator(mode="after")
    def _key_unless_count(self) -> MeterAggregation:
        if self.type != "count" and self.key is None:
            raise ValueError(f"key is required when type is {self.type!r} (only count works without a key)")
        return self


class CreateMeterRequest(BaseModel):
    """The body of POST /meters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Name of the meter")
    event_name: str = Field(min_length=1, description="Event name to track")
    aggregation: MeterAggregation = Field(description="Aggregation configuration for the meter")
    measurement_unit: str = Field(min_length=1, description="measurement unit")
    description: str | None = Field(default=None, description="Optional description of the meter")
    filter: MeterFilter | None = Field(default=None, description="Optional filter to apply to the meter")


class Meter(BaseModel):
    """A meter as Dodo returns it (MeterResponse)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    business_id: str
    name: str
    event_name: str
    aggregation: MeterAggregation
    measurement_unit: str
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    updated_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    description: str | None = None
    filter: MeterFilter | None = None


MeterT = TypeVar("MeterT", bound=Meter)


class ListMetersResponse(BaseModel, Generic[MeterT]):
    """Dodo's answer to GET /meters: the page's items (as Meter, or a subclass of it)."""

    model_config = ConfigDict(extra="ignore")

    items: list[MeterT]


class ListMetersQuery(BaseModel):
    """The query of GET /meters."""

    model_config = ConfigDict(extra="forbid")

    page_size: PageSize = Field(
        default=DEFAULT_PAGE_SIZE, le=MAX_METERS_PAGE_SIZE, description="Page size default is 10 max is 100"
    )
    page_number: PageNumber = Field(default=0, description="Page number default is 0")
    archived: bool = Field(default=False, description="List archived meters")

    def to_params(self) -> dict[str, str | int]:
        """The query string Dodo expects (a boolean as `true`/`false`)."""
        return {"page_size": self.page_size, "page_number": self.page_number, "archived": str(self.archived).lower()}
