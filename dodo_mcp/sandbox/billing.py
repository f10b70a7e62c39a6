"""The sandbox's billing: usage-based products, subscriptions, and each billing period's usage and price.

Just enough of Dodo's POST /products and POST /subscriptions for usage history to mean something:
a product with a `usage_based_price` whose metered components name meters, free thresholds and unit
prices, and a subscription of a customer to it. Any field outside that subset is refused with a
message saying so (a 422), never silently ignored: a sandbox that took a field and did nothing with
it would let a test pass that Dodo fails.

What the sandbox computes (the README's "Usage history in the sandbox" says the same):
- billing periods start when the subscription is created and last `payment_frequency_count` ×
  `payment_frequency_interval` (calendar months and years; a day past a short month's end is clamped
  to its last day, always counted from the first period's start so the day never drifts);
  the current period is included with its usage so far; periods are listed newest first;
- a meter's usage in a period is its aggregation over the subscription's customer's events with the
  meter's event_name and filter whose timestamp falls in [start_date, end_date), in exact decimals;
- chargeable units are consumed units above the free threshold, and total_price is chargeable units
  × price_per_unit (already in the currency's smallest unit), rounded half up to an integer;
- `quantity` multiplies the fixed price only (recurring_pre_tax_amount), not metered usage.
"""

from __future__ import annotations

import calendar
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from dodo_mcp.api.meter_engine import as_number
from dodo_mcp.api.meters import Meter, MeterAggregation
from dodo_mcp.api.subscriptions import UsageHistoryQuery
from dodo_mcp.api.timestamps import format_timestamp, parse_rfc3339
from dodo_mcp.sandbox.store import SandboxStore, to_micros

TimeInterval = Literal["Day", "Week", "Month", "Year"]
TaxCategory = Literal["digital_products", "saas", "e_book", "edtech"]
# Dodo's limit on a unit price: up to 5 digits before the decimal point and 12 after, greater than zero.
_MAX_PRICE_INTEGER_DIGITS = 5
_MAX_PRICE_DECIMALS = 12
# More periods than any sensible sandbox subscription has (27 years of days), so a listing stays bounded.
MAX_PERIODS = 10_000

_PRODUCT_FIELDS = "name, description, tax_category and price"
_PRICE_FIELDS = (
    "type, currency, fixed_price, discount, purchasing_power_parity, payment_frequency_count, "
    "payment_frequency_interval, subscription_period_count, subscription_period_interval, tax_inclusive and meters"
)
_SUBSCRIPTION_FIELDS = "product_id, quantity, customer and billing"


def _unit_price(value: str) -> str:
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"must be a decimal number such as '10.50', not {value[:40]!r}") from None
    if not price.is_finite() or price <= 0:
        raise ValueError("must be greater than zero")
    _, digits, exponent = price.as_tuple()
    assert isinstance(exponent, int)  # finite
    decimals = max(-exponent, 0)
    if decimals > _MAX_PRICE_DECIMALS or len(digits) - decimals > _MAX_PRICE_INTEGER_DIGITS:
        raise ValueError(
            f"supports up to {_MAX_PRICE_INTEGER_DIGITS} digits before the decimal point and {_MAX_PRICE_DECIMALS} after"
        )
    return value


def _currency(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise ValueError(f"must be an ISO 4217 code in capitals, such as USD, not {value[:20]!r}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeterPrice(_Strict):
    """One metered component of a usage-based price (Dodo's AddMeterToPrice)."""

    meter_id: str = Field(min_length=1)
    price_per_unit: Annotated[str, AfterValidator(_unit_price)]
    free_threshold: int | None = Field(default=None, ge=0)
    # "Will be ignored on Request, but will be shown in response": Dodo's words, and the sandbox's behaviour.
    name: str | None = None
    description: str | None = None
    measurement_unit: str | None = None


class UsageBasedPrice(_Strict):
    """Dodo's Usage Based Price: a fixed price per billing period plus metered components."""

    type: Literal["usage_based_price"]
    currency: Annotated[str, AfterValidator(_currency)]
    fixed_price: int = Field(ge=0)
    discount: int = Field(ge=0, le=100)
    purchasing_power_parity: bool
    payment_frequency_count: int = Field(ge=1)
    payment_frequency_interval: TimeInterval
    subscription_period_count: int = Field(ge=1)
    subscription_period_interval: TimeInterval
    tax_inclusive: bool | None = None
    meters: list[MeterPrice] | None = None


class CreateProductRequest(_Strict):
    """The subset of POST /products the sandbox simulates."""

    tax_category: TaxCategory
    price: UsageBasedPrice
    name: str | None = None
    description: str | None = None


class AttachExistingCustomer(_Strict):
    customer_id: str = Field(min_length=1)


class NewCustomer(_Strict):
    email: str = Field(min_length=3)
    name: str = Field(min_length=1)
    phone_number: str | None = None


class BillingAddress(_Strict):
    country: str = Field(min_length=2, max_length=2)
    state: str
    city: str
    street: str
    zipcode: str


_CUSTOMER_TAGS = ("existing", "new")


def _customer_kind(value: Any) -> str:
    # Dodo's CustomerRequest is one of two shapes; a customer_id says which, so errors name one shape's fields.
    return "existing" if isinstance(value, dict) and "customer_id" in value else "new"


CustomerRequest = Annotated[
    Union[Annotated[AttachExistingCustomer, Tag("existing")], Annotated[NewCustomer, Tag("new")]],  # noqa: UP007
    Discriminator(_customer_kind),
]


class CreateSubscriptionRequest(_Strict):
    """The subset of POST /subscriptions the sandbox simulates."""

    product_id: str = Field(min_length=1)
    quantity: int = Field(ge=1)
    customer: CustomerRequest
    billing: BillingAddress


def refusal(exc: ValidationError, body: Literal["product", "subscription"]) -> str | None:
    """The message for a body that reaches outside the simulated subset (None when nothing does).

    Every field outside it is named, each with what its object does take."""
    errors = exc.errors(include_url=False)
    for error in errors:
        if error["type"] == "literal_error" and error["loc"] == ("price", "type"):
            return (
                f"price.type: the sandbox simulates usage_based_price products only, not {error['input']!r} "
                "(one_time_price and recurring_price are Dodo's, not the sandbox's)"
            )
    outside = [_field_path(error["loc"]) for error in errors if error["type"] == "extra_forbidden"]
    if not outside:
        return None
    parents = dict.fromkeys(path.rsplit(".", 1)[0] if "." in path else "" for path in outside)
    takes = "; ".join(_takes(parent, body) for parent in parents)
    fields = ", ".join(outside)
    return f"{fields}: outside what the sandbox simulates, so refused rather than ignored ({takes})"


def _field_path(loc: tuple[int | str, ...]) -> str:
    where = ""
    for index, part in enumerate(loc):
        if index == 1 and loc[0] == "customer" and part in _CUSTOMER_TAGS:
            continue  # the shape's tag, not a field
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def _takes(parent: str, body: Literal["product", "subscription"]) -> str:
    """What the object at `parent` (a field path; "" for the body) takes, in words."""
    if parent == "price":
        return f"a price takes {_PRICE_FIELDS}"
    if parent.startswith("price.meters"):
        return (
            "a metered component takes meter_id, price_per_unit and free_threshold (name, description and "
            "measurement_unit are ignored, as Dodo ignores them)"
        )
    if parent == "customer":
        return "customer takes customer_id, or email, name and phone_number"
    if parent == "billing":
        return "billing takes country, state, city, street and zipcode"
    return f"a {body} takes {_PRODUCT_FIELDS if body == 'product' else _SUBSCRIPTION_FIELDS}"


# Billing periods.


def add_interval(moment: datetime, interval: TimeInterval, count: int) -> datetime:
    """`moment` plus `count` intervals: days and weeks exactly, months and years by the calendar (clamped)."""
    if interval == "Day":
        return moment + timedelta(days=count)
    if interval == "Week":
        return moment + timedelta(weeks=count)
    months = count * (12 if interval == "Year" else 1)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def billing_periods(
    anchor: datetime, interval: TimeInterval, count: int, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Every period [start, end) from `anchor` to the one `now` falls in, oldest first (at most MAX_PERIODS)."""
    periods: list[tuple[datetime, datetime]] = []
    start = anchor
    while start <= now and len(periods) < MAX_PERIODS:
        end = add_interval(anchor, interval, count * (len(periods) + 1))
        periods.append((start, end))
        start = end
    return periods


# One period's usage of one meter.


def consumed(aggregation: MeterAggregation, metadatas: Iterable[Mapping[str, Any] | None]) -> Decimal:
    """The meter's aggregation over its matching events (given oldest first), in exact decimals.

    The meter engine's rules (numeric strings count; missing or non-numeric values are skipped), but
    added as decimals: a bill of 0.1 + 0.2 units is 0.3, not 0.30000000000000004.
    """
    if aggregation.type == "count":
        return Decimal(sum(1 for _ in metadatas))
    assert aggregation.key is not None  # MeterAggregation requires it unless count
    key = aggregation.key
    values = [Decimal(str(number)) for m in metadatas if (number := as_number((m or {}).get(key))) is not None]
    if not values:
        return Decimal(0)
    if aggregation.type == "sum":
        return sum(values, Decimal(0))
    if aggregation.type == "max":
        return max(values)
    return values[-1]


def decimal_text(value: Decimal) -> str:
    """A decimal as Dodo writes units: plain digits, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def meter_usage(meter: Meter, price: MeterPrice, units: Decimal, currency: str) -> dict[str, Any]:
    """One meter's MeterUsageItem for a period."""
    free = price.free_threshold or 0
    chargeable = max(units - free, Decimal(0))
    total = (chargeable * Decimal(price.price_per_unit)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return {
        "id": meter.id,
        "name": meter.name,
        "consumed_units": decimal_text(units),
        "free_threshold": free,
        "chargeable_units": decimal_text(chargeable),
        "price_per_unit": price.price_per_unit,
        "currency": currency,
        "total_price": int(total),
    }


# The documents: what the sandbox stores and answers, in Dodo's shapes.


def product_document(request: CreateProductRequest, meters: list[Meter], business_id: str, now: str) -> dict[str, Any]:
    """The product as POST /products and GET /products/{id} answer it; `meters` are the price's, in order."""
    price = request.price.model_dump(mode="json")
    price["meters"] = [
        {
            **component.model_dump(mode="json"),
            # Shown in the response from the meter itself, whatever the request said.
            "name": meter.name,
            "description": meter.description,
            "measurement_unit": meter.measurement_unit,
        }
        for component, meter in zip(request.price.meters or [], meters, strict=True)
    ]
    return {
        "product_id": "pdt_" + secrets.token_hex(10),
        "business_id": business_id,
        "brand_id": business_id,
        "name": request.name,
        "description": request.description,
        "created_at": now,
        "updated_at": now,
        "is_recurring": True,
        "tax_category": request.tax_category,
        "price": price,
        "license_key_enabled": False,
        "metadata": {},
    }


def subscription_document(request: CreateSubscriptionRequest, product: dict[str, Any], now: str) -> dict[str, Any]:
    """What the sandbox keeps of a new subscription: its customer, product, price and start."""
    customer = request.customer
    if isinstance(customer, AttachExistingCustomer):
        # The sandbox keeps no customer records: an id is taken as is (its events may be there already).
        details = {"customer_id": customer.customer_id, "name": "", "email": ""}
    else:
        details = {"customer_id": "cus_" + secrets.token_hex(10), "name": customer.name, "email": customer.email}
    return {
        "subscription_id": "sub_" + secrets.token_hex(10),
        "payment_id": "pay_" + secrets.token_hex(10),
        "product_id": request.product_id,
        "quantity": request.quantity,
        "customer": details,
        "billing": request.billing.model_dump(mode="json"),
        "created_at": now,
        "price": product["price"],
    }


def created_subscription(stored: dict[str, Any]) -> dict[str, Any]:
    """POST /subscriptions' answer (Dodo's CreateSubscriptionResponse)."""
    return {
        "subscription_id": stored["subscription_id"],
        "payment_id": stored["payment_id"],
        "customer": stored["customer"],
        "recurring_pre_tax_amount": stored["price"]["fixed_price"] * stored["quantity"],
        "metadata": {},
        "addons": [],
        "client_secret": None,
        "discount_id": None,
        "expires_on": None,
        "payment_link": None,
    }


def _periods(stored: dict[str, Any], now: datetime) -> list[tuple[datetime, datetime]]:
    price = stored["price"]
    anchor = parse_rfc3339(stored["created_at"])
    return billing_periods(anchor, price["payment_frequency_interval"], price["payment_frequency_count"], now)


def subscription_view(stored: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A subscription as GET /subscriptions lists it (Dodo's SubscriptionListResponseItem), always active."""
    price = stored["price"]
    periods = _periods(stored, now)
    current = periods[-1] if periods else (parse_rfc3339(stored["created_at"]),) * 2
    return {
        "subscription_id": stored["subscription_id"],
        "product_id": stored["product_id"],
        "customer": stored["customer"],
        "status": "active",
        "quantity": stored["quantity"],
        "currency": price["currency"],
        "recurring_pre_tax_amount": price["fixed_price"] * stored["quantity"],
        "tax_inclusive": bool(price.get("tax_inclusive")),
        "created_at": stored["created_at"],
        "previous_billing_date": format_timestamp(current[0]),
        "next_billing_date": format_timestamp(current[1]),
        "payment_frequency_count": price["payment_frequency_count"],
        "payment_frequency_interval": price["payment_frequency_interval"],
        "subscription_period_count": price["subscription_period_count"],
        "subscription_period_interval": price["subscription_period_interval"],
        "trial_period_days": 0,
        "billing": stored["billing"],
        "metadata": {},
        "on_demand": False,
        "cancel_at_next_billing_date": False,
        "cancelled_at": None,
        "discount_id": None,
        "discount_cycles_remaining": None,
    }


def usage_history(store: SandboxStore, stored: dict[str, Any], query: UsageHistoryQuery, now: datetime) -> list[Any]:
    """One page of the subscription's billing periods, newest first, each with its meters' usage and price.

    A period is listed when it overlaps [start_date, end_date] (both inclusive, either open); with
    meter_id, each period shows only that meter (none when the price does not meter it).
    """
    low = None if query.start_date is None else parse_rfc3339(query.start_date)
    high = None if query.end_date is None else parse_rfc3339(query.end_date)
    periods = [
        (start, end)
        for start, end in reversed(_periods(stored, now))
        if (low is None or end > low) and (high is None or start <= high)
    ]
    offset = query.page_size * query.page_number
    components = [MeterPrice.model_validate(c) for c in stored["price"]["meters"]]
    if query.meter_id is not None:
        components = [c for c in components if c.meter_id == query.meter_id]
    meters: dict[str, Meter] = {}
    for component in components:
        found = store.get_meter(component.meter_id)
        if found is not None:  # meters are archived, never deleted; an archived one still bills
            meters[component.meter_id] = found[0]
    customer_id = stored["customer"]["customer_id"]
    items = []
    for start, end in periods[offset : offset + query.page_size]:
        usage = []
        for component in components:
            meter = meters.get(component.meter_id)
            if meter is None:
                continue
            metadatas = store.period_metadatas(customer_id, meter, to_micros(start), to_micros(end))
            units = consumed(meter.aggregation, metadatas)
            usage.append(meter_usage(meter, component, units, stored["price"]["currency"]))
        items.append({"start_date": format_timestamp(start), "end_date": format_timestamp(end), "meters": usage})
    return items
