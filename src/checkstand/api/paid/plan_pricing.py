"""Paid's pricing (``ProductPricingInput``/``PricingInput`` in, ``PricingOutput`` out) over a price's terms.

A plan is one price, so its pricing has one price point (one currency). Paid's per-unit, graduated and volume
pricing, recurring, usage-based (a metered price: ``eventName`` is the meter) or one-time, map onto a price; amounts
are in the currency's minor units ("cents"), tiers' ``upperBound`` is the last unit of the tier. What a price can't
be (percent of total, cost plus, credits, seats, quantity bounds, billing in arrears of a licensed price) is refused
at the field, never dropped. A price's one attribute (Paid's product attribute) is its product's: its id is the
product id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from checkstand.api.paid.wire import PaidModel, PaidRequest
from checkstand.catalog.models import LICENSED, METERED, RECURRING, Price
from checkstand.catalog.plans import CUSTOM, FREQUENCIES, PriceTerms, frequency_of
from checkstand.catalog.pricing import GRADUATED, PER_UNIT, TIERED, VOLUME
from checkstand.core import money
from checkstand.core.errors import FieldPath, FieldProblem, InvalidFields
from checkstand.core.money import is_currency

BillingFrequency = Literal["Monthly", "Quarterly", "Semi-Annually", "Annual", "Custom"]

# Each served pricing type: (recurring, metered, scheme, tiers mode). Paid's others (percent of total, cost plus,
# prepaid credits, seat-based) have no price to be.
SERVED: Final[Mapping[str, tuple[bool, bool, str, str | None]]] = {
    "RecurringPerUnit": (True, False, PER_UNIT, None),
    "RecurringGraduated": (True, False, TIERED, GRADUATED),
    "RecurringVolume": (True, False, TIERED, VOLUME),
    "UsagePerUnit": (True, True, PER_UNIT, None),
    "UsageGraduated": (True, True, TIERED, GRADUATED),
    "UsageVolume": (True, True, TIERED, VOLUME),
    "OneTimePerUnit": (False, False, PER_UNIT, None),
}
INTERVALS: Final[Mapping[str, tuple[str, int]]] = {
    "Monthly": ("month", 1),
    "Quarterly": ("month", 3),
    "Semi-Annually": ("month", 6),
    "Annual": ("year", 1),
}
FREQUENCY_NAMES: Final[Mapping[str, str]] = {
    **{FREQUENCIES[interval]: name for name, interval in INTERVALS.items()},
    CUSTOM: "Custom",
}
MAX_CUSTOM_MONTHS: Final = 36
MAX_TIERS: Final = 50
TIER_MODELS: Final = {GRADUATED: "graduatedPricing", VOLUME: "volumePricing"}
TIER_FIELDS: Final = {"units_upto": "upperBound", "unit_amount_atom": "unitAmount", "flat_amount_atom": "flatAmount"}
# Where a pricing input carries each of the catalog's price fields (for a problem the catalog finds).
PRICE_FIELDS: Final[Mapping[str, FieldPath]] = {
    "currency": ("pricePoints", 0, "currency"),
    "unit_amount_atom": ("pricePoints", 0, "unitPrice"),
    "tiers": ("pricePoints", 0, "tiers"),
    "tiers_mode": ("pricingType",),
    "billing_scheme": ("pricingType",),
    "usage_type": ("pricingType",),
    "recurring_interval": ("billingFrequency",),
    "recurring_interval_count": ("billingFrequency",),
    "metered_id": ("eventName",),
    "pricing": (),
}


def _served_type(pricing_type: str) -> str:
    if pricing_type not in SERVED:
        raise ValueError(
            f"{pricing_type} pricing isn't served here: a plan is priced per unit, graduated or volume, recurring "
            "(RecurringPerUnit, RecurringGraduated, RecurringVolume), by usage (UsagePerUnit, UsageGraduated, "
            "UsageVolume) or once (OneTimePerUnit)"
        )
    return pricing_type


def _only_null(value: Any) -> None:
    if value is not None:
        raise ValueError("isn't served here: leave it out")


def _nothing(value: list[Any] | None) -> None:
    if value:
        raise ValueError("credit grants aren't served here: leave it out or send none")


def _currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError("must be an ISO 4217 currency code in use, e.g. USD")
    return code.lower()


# An ISO 4217 code of a currency in use, any case; the catalog's lower case once read.
Currency = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_currency),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(money.currency_codes()),
            "description": "An ISO 4217 code of a currency in use, upper-case (lower-case is accepted too).",
        }
    ),
]
PricingType = Annotated[str, AfterValidator(_served_type), WithJsonSchema({"enum": list(SERVED)})]
# A field of Paid's SDK that Checkstand doesn't serve: absent or null only, anything else refused by name.
Unserved = Annotated[Any, AfterValidator(_only_null), WithJsonSchema({"type": "null", "description": "Not served."})]
# Paid's credit benefits: none (credits aren't served).
NoCredits = Annotated[
    list[dict[str, Any]] | None,
    AfterValidator(_nothing),
    WithJsonSchema({"anyOf": [{"type": "array", "maxItems": 0}, {"type": "null"}], "description": "Not served."}),
]
Amount = Annotated[int, Field(ge=0)]
Refuse = Callable[[FieldPath, str], None]
EventName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TierIn(PaidRequest):
    lower_bound: Annotated[int, Field(ge=0)]
    upper_bound: Annotated[int, Field(ge=1)] | None = None
    unit_amount: Amount | None = None
    flat_amount: Amount | None = None
    tier_billing_type: Literal["flat", "perUnit"] | None = None
    index: float | None = None
    number: int | None = None


class PricePointIn(PaidRequest):
    """One currency's amounts, in its minor units; quantity bounds aren't served."""

    currency: Currency
    unit_price: Amount
    tiers: Annotated[list[TierIn], Field(max_length=MAX_TIERS)] | None = None
    min_quantity: Unserved = None
    max_quantity: Unserved = None
    included_quantity: Unserved = None


class PricingIn(PaidRequest):
    """Paid's pricing input, of the types a price can be; the fields of its other types (percent of total, cost plus,
    credits) and the labels Checkstand doesn't keep (signalType, feeType) are taken as null only, so that they are
    refused by name rather than as unknown fields."""

    pricing_type: PricingType
    billing_frequency: BillingFrequency | None = None
    billing_frequency_custom_months: int | None = None
    billing_type: Literal["Advance", "Arrears"] | None = None
    price_points: Annotated[list[PricePointIn], Field(max_length=20)] | None = None
    event_name: EventName | None = None
    signal_type: Unserved = None
    fee_type: Unserved = None
    percentage_value: Unserved = None
    cost_plus_multiplier: Unserved = None
    credits_currency_id: Unserved = None
    credit_cost: Unserved = None
    unit_value: Unserved = None
    overage_unit_price: Unserved = None
    credit_rollover_amount: Unserved = None
    credit_unit_brackets: Unserved = None
    pricing_input: Unserved = None


def terms_of(pricing: PricingIn, at: FieldPath) -> PriceTerms:
    """The price terms ``pricing`` (found at ``at`` in the body) describes; every problem at once, each at its
    field."""
    problems: list[FieldProblem] = []

    def refuse(path: FieldPath, message: str) -> None:
        problems.append(FieldProblem((*at, *path), message))

    recurring, metered, scheme, mode = SERVED[pricing.pricing_type]
    interval = _interval(pricing, recurring, metered, refuse)
    if recurring and pricing.billing_type != ("Arrears" if metered else "Advance") and pricing.billing_type:
        timing = "in arrears (Arrears)" if metered else "in advance (Advance)"
        refuse(("billingType",), f"{pricing.pricing_type} is billed {timing} here")
    if not recurring and pricing.billing_type == "Arrears":
        refuse(("billingType",), "a one-time price is paid at checkout (Advance)")
    if metered and pricing.event_name is None:
        refuse(("eventName",), "usage pricing needs the event (the meter) its usage is reported on")
    if not metered and pricing.event_name is not None:
        refuse(("eventName",), f"only usage pricing has one ({pricing.pricing_type} doesn't)")
    points = pricing.price_points or []
    if len(points) != 1:
        refuse(("pricePoints",), "a plan has exactly one price point: it is sold in one currency")
        raise InvalidFields(problems)
    point = points[0]

    def refuse_point(path: FieldPath, message: str) -> None:
        refuse(("pricePoints", 0, *path), message)

    tiers = None
    if scheme == TIERED:
        if point.unit_price:
            refuse_point(("unitPrice",), "a tiered price is priced by its tiers: send 0")
        tiers = _tiers(point.tiers or [], refuse_point)
    elif point.tiers:
        refuse_point(("tiers",), f"{pricing.pricing_type} is priced per unit: only graduated and volume have tiers")
    if problems:
        raise InvalidFields(problems)
    return PriceTerms(
        currency=point.currency,
        unit_amount_atom=0 if scheme == TIERED else point.unit_price,
        recurring_interval=interval[0] if interval else None,
        recurring_interval_count=interval[1] if interval else None,
        billing_scheme=scheme,
        tiers_mode=mode,
        tiers=tiers,
        usage_type=METERED if metered else LICENSED,
        metered_id=pricing.event_name if metered else None,
    )


def _interval(pricing: PricingIn, recurring: bool, metered: bool, refuse: Refuse) -> tuple[str, int] | None:
    """The price's recurrence: a usage price is billed monthly unless told otherwise."""
    frequency = pricing.billing_frequency
    custom_months = pricing.billing_frequency_custom_months
    if not recurring:
        if frequency is not None:
            refuse(("billingFrequency",), "a one-time price has none")
        if custom_months is not None:
            refuse(("billingFrequencyCustomMonths",), "a one-time price has none")
        return None
    if frequency is None and not metered:
        refuse(
            ("billingFrequency",),
            f"{pricing.pricing_type} needs one: Monthly, Quarterly, Semi-Annually, Annual or Custom",
        )
        return None
    if frequency == "Custom":
        if custom_months is None or not 1 <= custom_months <= MAX_CUSTOM_MONTHS:
            refuse(("billingFrequencyCustomMonths",), f"a Custom frequency needs its months: 1 to {MAX_CUSTOM_MONTHS}")
            return None
        return ("month", custom_months)
    if custom_months is not None:
        refuse(("billingFrequencyCustomMonths",), "only a Custom frequency has one")
    return INTERVALS[frequency or "Monthly"]


def _tiers(tiers: list[TierIn], refuse: Refuse) -> list[dict[str, Any]]:
    """The catalog's tiers (``units_upto`` = ``upperBound``); each tier starts where the previous one ended (its
    ``lowerBound`` that ``upperBound``, or one more), the first at 0 or 1. The catalog checks the rest."""
    stored: list[dict[str, Any]] = []
    previous = 0
    for index, tier in enumerate(tiers):
        if tier.lower_bound not in (previous, previous + 1):
            refuse(
                ("tiers", index, "lowerBound"), f"must continue from the previous tier: {previous} or {previous + 1}"
            )
        if tier.tier_billing_type == "flat" and tier.unit_amount:
            refuse(("tiers", index, "unitAmount"), "a flat tier has no unit amount")
        if tier.tier_billing_type == "perUnit" and tier.flat_amount:
            refuse(("tiers", index, "flatAmount"), "a per-unit tier has no flat amount")
        stored.append(
            {
                "units_upto": tier.upper_bound,
                "unit_amount_atom": tier.unit_amount or 0,
                "flat_amount_atom": tier.flat_amount,
            }
        )
        previous = tier.upper_bound or previous
    if not tiers:
        refuse(("tiers",), "a graduated or volume price needs its tiers, the last with no upperBound")
    return stored


@contextmanager
def located(pricing_at: FieldPath, others: Mapping[str, FieldPath] | None = None) -> Iterator[None]:
    """Re-raise the catalog's field problems at the fields of the Paid body: its price fields under the pricing
    input found at ``pricing_at``, and the fields ``others`` names (``{"name": ("name",)}``) where it says."""
    try:
        yield
    except InvalidFields as error:
        raise InvalidFields(
            [
                FieldProblem(_wire(problem.path, pricing_at, others or {}), problem.msg, problem.type)
                for problem in error.problems
            ]
        ) from None


def _wire(path: FieldPath, pricing_at: FieldPath, others: Mapping[str, FieldPath]) -> FieldPath:
    head, rest = str(path[0]), path[1:]
    if head in others:
        return (*others[head], *rest)
    if head not in PRICE_FIELDS:
        return path
    if head == "tiers" and len(rest) >= 2:
        rest = (rest[0], TIER_FIELDS.get(str(rest[1]), rest[1]), *rest[2:])
    return (*pricing_at, *PRICE_FIELDS[head], *rest)


# Out


class TierOut(PaidModel):
    lower_bound: int
    upper_bound: int | None
    unit_amount: int
    flat_amount: int | None
    tier_billing_type: Literal["flat", "perUnit"]
    index: int


class PricePointOut(PaidModel):
    currency: str
    unit_price: int
    tiers: list[TierOut] | None
    min_quantity: int | None = None
    max_quantity: int | None = None
    included_quantity: int | None = None


class PricingOut(PaidModel):
    """A price as Paid's pricing. A package price (PaymentKit's ``quantity_divisor``), which Paid has no word for,
    says ``pricingModel: package`` (its unit price is per package)."""

    pricing_type: str
    charge_type: Literal["recurring", "usage", "oneTime"]
    pricing_model: str
    event_name: str | None
    signal_type: str | None = None
    billing_frequency: str | None
    billing_type: Literal["Advance", "Arrears"]
    price_points: list[PricePointOut]

    @classmethod
    def of(cls, price: Price) -> PricingOut:
        recurring = price.pricing_type == RECURRING
        metered = price.usage_type == METERED
        if price.billing_scheme == TIERED:
            model = TIER_MODELS.get(price.tiers_mode or "", "graduatedPricing")
            shape = "Volume" if price.tiers_mode == VOLUME else "Graduated"
        else:
            model = "package" if price.quantity_divisor else "perUnit"
            shape = "PerUnit"
        kind = "Usage" if metered else "Recurring" if recurring else "OneTime"
        return cls(
            pricing_type=f"{kind}{shape}",
            charge_type="usage" if metered else "recurring" if recurring else "oneTime",
            pricing_model=model,
            event_name=price.metered_id,
            billing_frequency=FREQUENCY_NAMES.get(frequency_of(price)),
            billing_type="Arrears" if metered else "Advance",
            price_points=[
                PricePointOut(
                    currency=price.currency.upper(), unit_price=price.unit_amount_atom, tiers=_tiers_out(price)
                )
            ],
        )


def _tiers_out(price: Price) -> list[TierOut] | None:
    if price.billing_scheme != TIERED or price.tiers is None:
        return None
    tiers: list[TierOut] = []
    previous = 0
    for index, tier in enumerate(price.tiers):
        unit, flat = int(tier.get("unit_amount_atom") or 0), tier.get("flat_amount_atom")
        tiers.append(
            TierOut(
                lower_bound=previous,
                upper_bound=tier.get("units_upto"),
                unit_amount=unit,
                flat_amount=flat,
                tier_billing_type="flat" if flat and not unit else "perUnit",
                index=index,
            )
        )
        previous = tier.get("units_upto") or previous
    return tiers


class AttributeOut(PaidModel):
    """A plan's one attribute (Paid's ``PlanAttribute``, ``ProductAttributeOutput`` and ``PricingResponse``): the
    product's, priced as the plan's price says."""

    product_attribute_id: str
    name: str
    active: bool
    pricing: PricingOut
    credit_benefits: list[dict[str, Any]] = []

    @classmethod
    def of(cls, price: Price) -> AttributeOut:
        return cls(
            product_attribute_id=price.product_id,
            name=price.name or price.product.name,
            active=price.is_active,
            pricing=PricingOut.of(price),
        )
