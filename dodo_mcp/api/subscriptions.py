"""Pydantic models of Dodo's subscription usage history: GET /subscriptions/{subscription_id}/usage-history.

Dodo organises a metered subscription's usage by billing period: for each period, each meter's
consumed units, the free threshold, the chargeable units, the unit price and what was charged.
Units and unit prices travel as strings ("for precision"); `total_price` is an integer in the
currency's smallest unit. Descriptions are Dodo's own wording from the OpenAPI spec.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from dodo_mcp.api.limits import DEFAULT_PAGE_SIZE, MAX_USAGE_HISTORY_PAGE_SIZE
from dodo_mcp.api.models import (
    Identifier,
    MeterId,
    PageNumber,
    PageSize,
    StoredTimestamp,
    Timestamp,
    check_path_segment,
)
from dodo_mcp.api.timestamps import end_not_before_start

SubscriptionId = Annotated[Identifier, AfterValidator(lambda value: check_path_segment(value, "subscription id"))]


class UsageHistoryQuery(BaseModel):
    """GET /subscriptions/{subscription_id}/usage-history: the subscription in the path, the rest the query."""

    model_config = ConfigDict(extra="forbid")

    subscription_id: SubscriptionId = Field(description="Unique subscription identifier")
    start_date: Timestamp | None = Field(default=None, description="Filter by start date (inclusive)")
    end_date: Timestamp | None = Field(default=None, description="Filter by end date (inclusive)")
    meter_id: MeterId | None = Field(default=None, description="Filter by specific meter ID")
    page_size: PageSize = Field(
        default=DEFAULT_PAGE_SIZE,
        le=MAX_USAGE_HISTORY_PAGE_SIZE,
        description=f"Page size (default: {DEFAULT_PAGE_SIZE}, max: {MAX_USAGE_HISTORY_PAGE_SIZE})",
    )
    page_number: PageNumber = Field(default=0, description="Page number (default: 0)")

    @field_validator("end_date")
    @classmethod
    def _end_after_start(cls, end: str | None, info: ValidationInfo) -> str | None:
        end_not_before_start(info.data.get("start_date"), end, "start_date")
        return end

    def to_params(self) -> dict[str, str | int]:
        """The query string Dodo expects: only the filters that were given, and the page."""
        return self.model_dump(exclude_none=True, exclude={"subscription_id"})


class MeterUsage(BaseModel):
    """One meter's usage in one billing period (Dodo's MeterUsageItem)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(description="Meter identifier")
    name: str = Field(description="Meter name")
    consumed_units: str = Field(description="Total units consumed as string for precision")
    free_threshold: int = Field(description="Free threshold units for this meter")
    chargeable_units: str = Field(description="Chargeable units (after free threshold) as string for precision")
    price_per_unit: str = Field(description="Price per unit in string format for precision")
    currency: str = Field(description="Currency for the price per unit")
    total_price: int = Field(description="Total price charged for this meter in smallest currency unit (cents)")


class BillingPeriod(BaseModel):
    """One billing period's usage (Dodo's UsageHistoryItem)."""

    model_config = ConfigDict(extra="ignore")

    start_date: StoredTimestamp = Field(description="Start date of the billing period")
    end_date: StoredTimestamp = Field(description="End date of the billing period")
    meters: list[MeterUsage] = Field(description="List of meters and their usage for this billing period")


BillingPeriodT = TypeVar("BillingPeriodT", bound=BillingPeriod)


class UsageHistoryResponse(BaseModel, Generic[BillingPeriodT]):
    """Dodo's answer to GET /subscriptions/{subscription_id}/usage-history: the page's billing periods."""

    model_config = ConfigDict(extra="ignore")

    items: list[BillingPeriodT]


class SubscriptionCustomer(BaseModel):
    """The customer of a subscription (Dodo's CustomerLimitedDetailsResponse)."""

    model_config = ConfigDict(extra="ignore")

    customer_id: str = Field(description="Unique identifier for the customer")
    name: str = Field(default="", description="Full name of the customer")
    email: str = Field(default="", description="Email address of the customer")


class Subscription(BaseModel):
    """The fields dodo-mcp reads of a subscription as GET /subscriptions lists it (SubscriptionListResponseItem)."""

    model_config = ConfigDict(extra="ignore")

    subscription_id: str = Field(description="Unique identifier for the subscription")
    product_id: str = Field(description="Identifier of the product associated with this subscription")
    customer: SubscriptionCustomer = Field(description="Customer details associated with the subscription")
    status: str = Field(description="Current status of the subscription")


class ListSubscriptionsQuery(BaseModel):
    """The query of GET /subscriptions that dodo-mcp sends."""

    model_config = ConfigDict(extra="forbid")

    customer_id: Identifier | None = Field(default=None, description="Filter by customer id")
    page_size: PageSize = Field(
        default=DEFAULT_PAGE_SIZE, le=MAX_USAGE_HISTORY_PAGE_SIZE, description="Page size default is 10 max is 100"
    )
    page_number: PageNumber = Field(default=0, description="Page number default is 0")

    def to_params(self) -> dict[str, str | int]:
        return self.model_dump(exclude_none=True)


class ListSubscriptionsResponse(BaseModel):
    """Dodo's answer to GET /subscriptions: the page's items."""

    model_config = ConfigDict(extra="ignore")

    items: list[Subscription]
