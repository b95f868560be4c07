"""Paid's ``orders``: an order is a subscription (``ord_X`` is ``sub_X``), or, for a checkout that bought only
one-time prices, that purchase (``ord_X`` is the checkout's ``cs_X``) (:mod:`checkstand.payments.orders`).

Amounts are in the currency's major unit (Paid's floats: 19.99), the currency beside them (``currency``, an extra
field Paid's ``Order`` keeps). ``orderAmount`` is what the plan costs a period before discounts (a purchase's total),
``billedAmountNoTax`` what its paid invoices came to, ``pendingBillingAmount`` the next period's plan while it renews.
Checkstand keeps no tax: the tax amounts are 0. Beside Paid's fields an order shows its ``status``, its plan
(``planId``, ``productId``) and its billing cycle.

Creating an order outside a checkout is not served (``create_order``: 400 ``not_supported``); nor are seats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field, StringConstraints

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid import ids
from checkstand.api.paid.wire import (
    AccountId,
    PaidList,
    PaidModel,
    PaidPageParams,
    PaidRequest,
    iso_bound,
    major_amount,
)
from checkstand.core import metadata as metadata_rules
from checkstand.core.errors import BusinessRuleViolation
from checkstand.payments import orders
from checkstand.payments.customer_scope import CustomerScope

router = APIRouter(prefix="/orders", tags=["paid: orders"])

OrderId = Annotated[str, Path(min_length=1, max_length=64, description="The order's id (ord_...).")]
# Paid's billing frequencies, for the intervals they name.
_FREQUENCIES: Final = {
    ("month", 1): "monthly",
    ("month", 3): "quarterly",
    ("month", 6): "semiAnnually",
    ("year", 1): "annual",
}
OrderMetadata = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=metadata_rules.MAX_KEY_LENGTH)],
        Annotated[str, StringConstraints(max_length=metadata_rules.MAX_VALUE_LENGTH)] | None,
    ],
    Field(max_length=metadata_rules.MAX_KEYS),
]
DateQuery = Annotated[str | None, Query(max_length=40, description="An ISO 8601 date or date-time (UTC without zone).")]
FilterId = Annotated[str | None, Query(min_length=1, max_length=255)]


def billing_cycle(interval: tuple[str, int] | None) -> str | None:
    """Paid's frequency for an interval: ``custom`` for one it has no word for, None for a one-time purchase."""
    return None if interval is None else _FREQUENCIES.get(interval, "custom")


class UsageOut(PaidModel):
    """A metered line's usage reported in the period no invoice has billed yet (billed at that period's end)."""

    quantity: int
    period_start: datetime
    period_end: datetime


class OrderLineOut(PaidModel):
    """The SDK's ``OrderLine``, with what it sells and costs: ``amount`` a period (a purchase's line: once)."""

    id: str
    product_id: str
    name: str
    description: str | None
    start_date: datetime
    end_date: datetime | None
    line_type: str
    plan_id: str | None
    charge_type: str
    quantity: int
    unit_amount: float
    amount: float
    currency: str
    usage: UsageOut | None

    @classmethod
    def of(cls, line: orders.OrderLine) -> OrderLineOut:
        usage, currency = line.usage, line.currency
        return cls(
            id=line.id,
            product_id=line.product_id,
            name=line.name,
            description=line.description,
            start_date=line.start,
            end_date=line.end,
            line_type=line.line_type,
            plan_id=line.price_id,
            charge_type=line.charge_type,
            quantity=line.quantity,
            unit_amount=major_amount(line.unit_amount_atom, currency),
            amount=major_amount(line.amount_atom, currency),
            currency=currency.upper(),
            usage=UsageOut(quantity=usage.quantity, period_start=usage.period_start, period_end=usage.period_end)
            if usage is not None
            else None,
        )


class OrderOut(PaidModel):
    """The SDK's ``Order``; see the module's docstring for its amounts and extra fields."""

    id: str
    customer_id: str
    billing_customer_id: str | None = None
    billing_contact_ids: list[str] = []
    created_at: datetime
    updated_at: datetime
    end_date: datetime | None
    name: str
    start_date: datetime
    subscription_terms: int | None = None
    billed_amount_no_tax: float
    billed_tax: float = 0.0
    estimated_tax: float = 0.0
    order_amount: float
    pending_billing_amount: float
    total_amount: float
    total_billed_amount: float
    creation_state: Literal["draft", "active"]
    payment_terms: str | None = None
    number: int
    metadata: dict[str, Any]
    version: int
    billing_frequency_overridden: bool = False
    billing_frequency_override: dict[str, Any] | None = None
    purchase_order_reference: str | None = None
    status: Literal["draft", "paused", "active", "ended"]
    currency: str
    plan_id: str | None
    product_id: str | None
    billing_cycle: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None

    @classmethod
    def of(cls, order: orders.Order) -> OrderOut:
        currency = order.currency
        lines = order.plan_lines()
        subscription = order.subscription
        return cls(
            id=ids.row_order_id(order.row_id),
            customer_id=order.customer_id,
            created_at=order.created_at,
            updated_at=order.updated_at,
            end_date=order.end,
            name=order.name,
            start_date=order.start,
            billed_amount_no_tax=major_amount(order.billed_atom, currency),
            order_amount=major_amount(order.amount_atom, currency),
            pending_billing_amount=major_amount(order.pending_atom, currency),
            total_amount=major_amount(order.amount_atom, currency),
            total_billed_amount=major_amount(order.billed_atom, currency),
            creation_state="draft" if order.creation_state == orders.DRAFT else "active",
            number=order.number,
            metadata=order.metadata,
            version=order.version,
            status=_STATUS[order.status],
            currency=currency.upper(),
            plan_id=lines[0].price_id if lines else None,
            product_id=lines[0].product_id if lines else None,
            billing_cycle=billing_cycle(order.interval),
            current_period_start=subscription.current_period_start if subscription is not None else None,
            current_period_end=subscription.current_period_end if subscription is not None else None,
        )


_STATUS: Final[dict[str, Literal["draft", "paused", "active", "ended"]]] = {
    orders.DRAFT: "draft",
    orders.ORDER_PAUSED: "paused",
    orders.ACTIVE: "active",
    orders.ENDED: "ended",
}


class OrderUpdate(PaidRequest):
    """The SDK's ``update_order_by_id`` body. ``name`` and ``metadata`` are kept (a subscription's description and
    metadata: text values, merged, a key set to null removed, null as a whole clearing it); ``creationState`` may
    only say what the order is; the other fields are refused by name unless null."""

    name: Annotated[str, StringConstraints(max_length=500)] | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    subscription_terms: int | None = None
    creation_state: Literal["draft", "active"] | None = None
    billing_anchor: int | None = None
    payment_terms: Annotated[str, StringConstraints(max_length=200)] | None = None
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    metadata: OrderMetadata | None = None
    billing_customer_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    billing_contact_ids: (
        Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=50)] | None
    ) = None
    auto_post_invoices: bool | None = None
    auto_send_billing_emails: bool | None = None
    auto_send_payment_emails: bool | None = None
    purchase_order_reference: Annotated[str, StringConstraints(max_length=200)] | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(by_alias=False, exclude_unset=True)


class EmptyOut(PaidModel):
    pass


@router.get("/")
async def list_orders(
    account_id: AccountId,
    page: PaidPageParams,
    session: Session,
    customer_id: Annotated[FilterId, Query(alias="customerId")] = None,
    external_customer_id: Annotated[FilterId, Query(alias="externalCustomerId")] = None,
    external_id: Annotated[FilterId, Query(alias="externalId")] = None,
    creation_state: Annotated[Literal["draft", "active"] | None, Query(alias="creationState")] = None,
    status: Literal["draft", "paused", "active", "ended"] | None = None,
    start_date_from: Annotated[DateQuery, Query(alias="startDateFrom")] = None,
    start_date_to: Annotated[DateQuery, Query(alias="startDateTo")] = None,
    end_date_from: Annotated[DateQuery, Query(alias="endDateFrom")] = None,
    end_date_to: Annotated[DateQuery, Query(alias="endDateTo")] = None,
) -> PaidList[OrderOut]:
    """Newest first. Orders carry no external id: filtering on one finds none. An unknown customer finds none."""
    spec = orders.OrderFilter(
        customer=CustomerScope(customer_id, external_customer_id),
        external_id=external_id,
        status=status,
        creation_state=creation_state,
        start_from=iso_bound(start_date_from, "start_date_from", end=False),
        start_to=iso_bound(start_date_to, "start_date_to", end=True),
        end_from=iso_bound(end_date_from, "end_date_from", end=False),
        end_to=iso_bound(end_date_to, "end_date_to", end=True),
    )
    found = await orders.list_orders(session, account_id, spec, page)
    return PaidList.of(found, [OrderOut.of(order) for order in found.items])


@router.post("/")
async def create_order(account_id: AccountId) -> OrderOut:
    """Not served: an order is what a checkout (or the PaymentKit dialect's subscriptions API) starts."""
    raise BusinessRuleViolation(
        "Orders are made by checkouts: create a checkout (or a subscription with the PaymentKit dialect).",
        code="not_supported",
    )


@router.get("/{order_id}")
async def get_order_by_id(account_id: AccountId, order_id: OrderId, session: Session) -> OrderOut:
    return OrderOut.of(await orders.get_order(session, account_id, ids.resolve_order(order_id), order_id))


@router.put("/{order_id}")
async def update_order_by_id(account_id: AccountId, order_id: OrderId, body: OrderUpdate, session: Session) -> OrderOut:
    order = await orders.update_order(session, account_id, ids.resolve_order(order_id), order_id, body.changes())
    return OrderOut.of(order)


@router.delete("/{order_id}")
async def delete_order_by_id(account_id: AccountId, order_id: OrderId, session: Session) -> EmptyOut:
    """Cancels the subscription at once (a draft too), as the PaymentKit dialect's cancel does; a contract term
    still running, an order already ended or a one-time purchase (refund its payment instead) is a 409."""
    await orders.cancel_order(session, account_id, ids.resolve_order(order_id), order_id)
    return EmptyOut()


@router.post("/{order_id}/activate")
async def activate_order_by_id(account_id: AccountId, order_id: OrderId, session: Session) -> OrderOut:
    """A draft (incomplete) order whose first invoice is paid, or a trial that is over, becomes active; a trial
    still running is a 400, an unpaid first invoice a 409. An active order is answered as it is."""
    order = await orders.activate_order(session, account_id, ids.resolve_order(order_id), order_id)
    return OrderOut.of(order)


@router.get("/{order_id}/lines")
async def get_order_lines(
    account_id: AccountId, order_id: OrderId, page: PaidPageParams, session: Session
) -> PaidList[OrderLineOut]:
    """The order's lines: what it sells (a metered line with its usage so far this period), then the proration
    credits and charges its paid amendments were invoiced for, newest first."""
    found = await orders.order_lines(session, account_id, ids.resolve_order(order_id), order_id, page)
    return PaidList.of(found, [OrderLineOut.of(line) for line in found.items])
