"""Orders, as Paid calls them: what a checkout (or the API) started for a customer. An order is a subscription, or,
for a checkout that sold only one-time prices, that completed checkout itself (a *purchase*). Both are numbered in
one sequence per account (:mod:`checkstand.subscriptions.order_numbers`).

An order is read with what it has billed (its paid invoices), listed newest first, renamed and given metadata (a
subscription's description and metadata), cancelled (a subscription, now: Paid's delete) and activated (an
incomplete subscription whose first invoice is paid). A purchase is complete once paid: nothing of it changes.

Its lines are the subscription's items (a one-time purchase's sold lines), then the proration lines its plan changes
were invoiced for. A line of a metered price shows the usage reported in the current period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, Subquery, case, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import SUCCESS, CheckoutSession
from checkstand.core.errors import Conflict, FieldProblem, InvalidFields, NotFound
from checkstand.core.pagination import Page, PageParams
from checkstand.invoices.models import PAID, SUBSCRIPTION_UPDATE, Invoice, InvoiceLine
from checkstand.payments import subscription_start
from checkstand.payments.customer_scope import CustomerScope, scoped_customer_ids
from checkstand.payments.models import SUCCEEDED, Payment
from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.lifecycle import RUNNING
from checkstand.subscriptions.models import CANCELED, INCOMPLETE, PAUSED, Subscription
from checkstand.usage import service as usage

# Paid's derived order statuses and creation states.
DRAFT: Final = "draft"
ACTIVE: Final = "active"
ORDER_PAUSED: Final = "paused"
ENDED: Final = "ended"
STATUSES: Final = (DRAFT, ORDER_PAUSED, ACTIVE, ENDED)
CREATION_STATES: Final = (DRAFT, ACTIVE)

# Paid's line types.
STANDARD: Final = "STANDARD"
PRORATION_CREDIT: Final = "PRORATION_CREDIT"
PRORATION_CHARGE: Final = "PRORATION_CHARGE"

# What a line charges for.
RECURRING_CHARGE: Final = "recurring"
USAGE_CHARGE: Final = "usage"
ONE_TIME_CHARGE: Final = "oneTime"

SUBSCRIPTION: Final = "subscription"
PURCHASE: Final = "purchase"

# The fields of Paid's ``update_order_by_id`` that Checkstand keeps: the rest are refused by name.
UPDATABLE: Final = frozenset({"name", "metadata", "creation_state"})


@dataclass(frozen=True)
class OrderFilter:
    """Paid's ``list_orders`` query: a customer, a derived status or creation state, and ranges of start and end."""

    customer: CustomerScope = field(default_factory=CustomerScope)
    external_id: str | None = None
    status: str | None = None
    creation_state: str | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    end_from: datetime | None = None
    end_to: datetime | None = None


@dataclass(frozen=True)
class Usage:
    """A metered line's usage in the subscription's current period."""

    quantity: int
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class OrderLine:
    id: str
    product_id: str
    name: str
    description: str | None
    line_type: str
    charge_type: str
    price_id: str | None
    quantity: int
    unit_amount_atom: int
    amount_atom: int
    currency: str
    start: datetime
    end: datetime | None
    usage: Usage | None = None


@dataclass(frozen=True)
class Order:
    """A subscription or a purchase, with what its paid invoices came to (``billed_atom``)."""

    subscription: Subscription | None
    purchase: CheckoutSession | None
    billed_atom: int

    @property
    def _sub(self) -> Subscription:
        assert self.subscription is not None
        return self.subscription

    @property
    def _checkout(self) -> CheckoutSession:
        assert self.purchase is not None
        return self.purchase

    @property
    def row_id(self) -> str:
        """The id of the row the order is: ``sub_...`` or ``cs_...``."""
        return self.subscription.id if self.subscription is not None else self._checkout.id

    @property
    def number(self) -> int:
        if self.subscription is not None:
            return self.subscription.order_number
        return self._checkout.order_number or 0

    @property
    def version(self) -> int:
        """A purchase never changes: it stays at its first version."""
        return self.subscription.version if self.subscription is not None else 1

    @property
    def customer_id(self) -> str:
        if self.subscription is not None:
            return self.subscription.customer_id
        return self._checkout.customer_id or ""

    @property
    def currency(self) -> str:
        return self.subscription.currency if self.subscription is not None else self._checkout.currency

    @property
    def created_at(self) -> datetime:
        return self.subscription.created_at if self.subscription is not None else self._checkout.created_at

    @property
    def updated_at(self) -> datetime:
        return self.subscription.updated_at if self.subscription is not None else self._checkout.updated_at

    @property
    def metadata(self) -> dict[str, Any]:
        if self.subscription is not None:
            return dict(self.subscription.subscription_metadata)
        return dict(self._checkout.session_metadata)

    @property
    def status(self) -> str:
        if self.subscription is None:
            return ENDED  # a purchase is delivered once paid: nothing more is billed
        return {INCOMPLETE: DRAFT, CANCELED: ENDED, PAUSED: ORDER_PAUSED}.get(self.subscription.status, ACTIVE)

    @property
    def creation_state(self) -> str:
        return DRAFT if self.status == DRAFT else ACTIVE

    @property
    def start(self) -> datetime:
        """A subscription's first day of service (its trial's, else its periods' anchor); a purchase's completion."""
        if self.subscription is not None:
            sub = self.subscription
            return sub.trial_start or sub.billing_anchor or sub.current_period_start
        return self._checkout.completed_at or self._checkout.created_at

    @property
    def end(self) -> datetime | None:
        """When it ended, or ends as scheduled (a cancellation at the period's end); None while it renews."""
        if self.subscription is None:
            return self.start
        sub = self.subscription
        if sub.status == CANCELED:
            return sub.ended_at or sub.canceled_at
        return sub.current_period_end if sub.cancel_at_period_end else None

    @property
    def name(self) -> str:
        """A subscription's description, else what it sells; a purchase's products."""
        if self.subscription is not None and self.subscription.description:
            return self.subscription.description
        return ", ".join(dict.fromkeys(line.name for line in self.plan_lines())) or self.row_id

    @property
    def amount_atom(self) -> int:
        """What the order's plan costs a period (before discounts); a purchase's total as charged."""
        if self.subscription is not None:
            return sum(item.amount_atom for item in self.subscription.items)
        checkout = self._checkout
        tier = checkout.succeeded_tier or 0
        return checkout.tier_amounts[tier] if tier < len(checkout.tier_amounts) else checkout.amount_total_atom

    @property
    def pending_atom(self) -> int:
        """What is still to bill: the next period's plan while the subscription renews; nothing otherwise."""
        if self.subscription is None or self.subscription.status not in RUNNING | {INCOMPLETE}:
            return 0
        return 0 if self.subscription.cancel_at_period_end else self.amount_atom

    @property
    def interval(self) -> tuple[str, int] | None:
        if self.subscription is None:
            return None
        return self.subscription.billing_interval, self.subscription.billing_interval_count

    def plan_lines(self) -> list[OrderLine]:
        """The lines the order holds: a subscription's items (over its current period), a purchase's lines."""
        if self.subscription is not None:
            sub = self.subscription
            return [
                OrderLine(
                    id=item.id,
                    product_id=item.product_id,
                    name=item.product_name,
                    description=item.description,
                    line_type=STANDARD,
                    charge_type=USAGE_CHARGE if item.price.usage_type == METERED else RECURRING_CHARGE,
                    price_id=item.price_id,
                    quantity=item.quantity,
                    unit_amount_atom=item.unit_amount_atom,
                    amount_atom=item.amount_atom,
                    currency=sub.currency,
                    start=sub.current_period_start,
                    end=self.end,
                )
                for item in sub.items
            ]
        checkout = self._checkout
        return [
            OrderLine(
                id=item.id,
                product_id=item.product_id,
                name=item.product_name,
                description=item.description,
                line_type=STANDARD,
                charge_type=ONE_TIME_CHARGE,
                price_id=item.price_id,
                quantity=item.quantity,
                unit_amount_atom=item.unit_amount_atom,
                amount_atom=item.amount_subtotal_atom,
                currency=checkout.currency,
                start=self.start,
                end=self.end,
            )
            for item in checkout_service.tier_items(checkout, checkout.succeeded_tier or 0)
        ]


# --- Reading --------------------------------------------------------------------------------------------------------


async def get_order(session: AsyncSession, account_id: str, row_ids: Sequence[str], order_id: str) -> Order:
    """The order that one of ``row_ids`` (the rows the Paid id may name: a subscription's id, a checkout's) is;
    :class:`NotFound` naming ``order_id`` otherwise. A checkout that is not a purchase (open, or one that started a
    subscription) is no order."""
    for row_id in row_ids:
        found = await _load(session, account_id, [row_id], [row_id])
        if row_id in found:
            return found[row_id]
    raise NotFound("order", order_id)


async def list_orders(session: AsyncSession, account_id: str, spec: OrderFilter, page: PageParams) -> Page[Order]:
    """Newest first (by number). Orders carry no external id, so a filter on one matches nothing."""
    problems = []
    if spec.status is not None and spec.status not in STATUSES:
        problems.append(FieldProblem(("status",), f"must be one of {', '.join(STATUSES)}"))
    if spec.creation_state is not None and spec.creation_state not in CREATION_STATES:
        problems.append(FieldProblem(("creation_state",), f"must be one of {', '.join(CREATION_STATES)}"))
    if problems:
        raise InvalidFields(problems)
    customer_ids = await scoped_customer_ids(session, account_id, spec.customer)
    if customer_ids == [] or spec.external_id is not None:
        return Page(items=[], total=0, limit=page.limit, offset=page.offset)
    numbered = _order_rows(account_id)
    query = select(numbered.c.kind, numbered.c.id).where(*_conditions(numbered, spec, customer_ids))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = (await session.execute(query.order_by(numbered.c.number.desc()).limit(page.limit).offset(page.offset))).all()
    orders = await _load(
        session,
        account_id,
        [row.id for row in rows if row.kind == SUBSCRIPTION],
        [row.id for row in rows if row.kind == PURCHASE],
    )
    return Page(items=[orders[row.id] for row in rows], total=total or 0, limit=page.limit, offset=page.offset)


async def order_lines(
    session: AsyncSession, account_id: str, row_ids: Sequence[str], order_id: str, page: PageParams
) -> Page[OrderLine]:
    """The order's lines (:meth:`Order.plan_lines`), a metered one with its usage so far this period, then the
    proration lines of its paid plan changes, newest first."""
    order = await get_order(session, account_id, row_ids, order_id)
    lines = order.plan_lines()
    if order.subscription is not None:
        lines = await _with_usage(session, order.subscription, lines)
        lines += await _proration_lines(session, account_id, order.subscription)
    chosen = lines[page.offset : page.offset + page.limit]
    return Page(items=chosen, total=len(lines), limit=page.limit, offset=page.offset)


def _order_rows(account_id: str) -> Subquery:
    """One row per order of the account, subscriptions and purchases alike: its kind, row id, number, customer,
    Paid status, start and end (as :class:`Order` says them), for lists to filter and sort on."""
    status = case(
        (Subscription.status == INCOMPLETE, DRAFT),
        (Subscription.status == CANCELED, ENDED),
        (Subscription.status == PAUSED, ORDER_PAUSED),
        else_=ACTIVE,
    )
    end = case(
        (Subscription.status == CANCELED, func.coalesce(Subscription.ended_at, Subscription.canceled_at)),
        (Subscription.cancel_at_period_end.is_(True), Subscription.current_period_end),
        else_=null(),
    )
    start = func.coalesce(Subscription.trial_start, Subscription.billing_anchor, Subscription.current_period_start)
    subscriptions_rows = select(
        literal(SUBSCRIPTION).label("kind"),
        Subscription.id.label("id"),
        Subscription.order_number.label("number"),
        Subscription.customer_id.label("customer_id"),
        status.label("status"),
        start.label("start"),
        end.label("end"),
    ).where(Subscription.account_id == account_id)
    completed = func.coalesce(CheckoutSession.completed_at, CheckoutSession.created_at)
    purchase_rows = select(
        literal(PURCHASE).label("kind"),
        CheckoutSession.id.label("id"),
        CheckoutSession.order_number.label("number"),
        CheckoutSession.customer_id.label("customer_id"),
        literal(ENDED).label("status"),
        completed.label("start"),
        completed.label("end"),
    ).where(CheckoutSession.account_id == account_id, CheckoutSession.order_number.is_not(None))
    return union_all(subscriptions_rows, purchase_rows).subquery()


def _conditions(rows: Subquery, spec: OrderFilter, customer_ids: list[str] | None) -> list[ColumnElement[bool]]:
    """``spec`` as conditions on :func:`_order_rows`."""
    conditions: list[ColumnElement[bool]] = []
    if customer_ids is not None:
        conditions.append(rows.c.customer_id.in_(customer_ids))
    if spec.status is not None:
        conditions.append(rows.c.status == spec.status)
    if spec.creation_state == DRAFT:
        conditions.append(rows.c.status == DRAFT)
    elif spec.creation_state == ACTIVE:
        conditions.append(rows.c.status != DRAFT)
    if spec.start_from is not None:
        conditions.append(rows.c.start >= spec.start_from)
    if spec.start_to is not None:
        conditions.append(rows.c.start <= spec.start_to)
    if spec.end_from is not None:
        conditions.append(rows.c.end >= spec.end_from)
    if spec.end_to is not None:
        conditions.append(rows.c.end <= spec.end_to)
    return conditions


def _purchases(account_id: str) -> Select[CheckoutSession]:
    return select(CheckoutSession).where(
        CheckoutSession.account_id == account_id,
        CheckoutSession.status == SUCCESS,
        CheckoutSession.order_number.is_not(None),
    )


async def _load(
    session: AsyncSession, account_id: str, subscription_ids: Sequence[str], purchase_ids: Sequence[str]
) -> dict[str, Order]:
    """The orders among these subscriptions and purchases, by row id, each with what its paid invoices came to (one
    query per kind)."""
    found_subscriptions = (
        list(
            await session.scalars(
                select(Subscription).where(Subscription.account_id == account_id, Subscription.id.in_(subscription_ids))
            )
        )
        if subscription_ids
        else []
    )
    found_purchases = (
        list(await session.scalars(_purchases(account_id).where(CheckoutSession.id.in_(purchase_ids))))
        if purchase_ids
        else []
    )
    billed: dict[str, int] = {}
    if found_subscriptions:
        billed.update(
            (str(subscription_id), int(paid or 0))
            for subscription_id, paid in await session.execute(
                select(Invoice.subscription_id, func.sum(Invoice.paid_atom))
                .where(
                    Invoice.account_id == account_id,
                    Invoice.subscription_id.in_([s.id for s in found_subscriptions]),
                    Invoice.status == PAID,
                )
                .group_by(Invoice.subscription_id)
            )
        )
    if found_purchases:
        # A purchase's invoice is paid by its one payment (unique per checkout), which is what it billed.
        billed.update(
            (str(checkout_id), int(amount))
            for checkout_id, amount in await session.execute(
                select(Payment.checkout_session_id, Payment.amount_atom).where(
                    Payment.account_id == account_id,
                    Payment.checkout_session_id.in_([p.id for p in found_purchases]),
                    Payment.status == SUCCEEDED,
                )
            )
        )
    orders = [Order(s, None, billed.get(s.id, 0)) for s in found_subscriptions]
    orders += [Order(None, p, billed.get(p.id, 0)) for p in found_purchases]
    return {order.row_id: order for order in orders}


async def _with_usage(session: AsyncSession, subscription: Subscription, lines: list[OrderLine]) -> list[OrderLine]:
    """The metered lines with the usage reported so far in the period no invoice has billed yet (the current one),
    which the renewal at its end bills; the others as they are."""
    if not any(line.charge_type == USAGE_CHARGE for line in lines):
        return lines
    report = await usage.current_usage(session, subscription)
    used = {item_usage.item.id: item_usage.quantity for item_usage in report.items}
    return [
        replace(line, usage=Usage(used[line.id], report.period_start, report.period_end)) if line.id in used else line
        for line in lines
    ]


async def _proration_lines(session: AsyncSession, account_id: str, subscription: Subscription) -> list[OrderLine]:
    """The prorated credits and charges the subscription's paid plan changes were invoiced for, newest first."""
    found = await session.execute(
        select(InvoiceLine, Invoice.currency)
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .where(
            Invoice.account_id == account_id,
            Invoice.subscription_id == subscription.id,
            Invoice.billing_reason == SUBSCRIPTION_UPDATE,
            Invoice.status == PAID,
        )
        .order_by(Invoice.issued_at.desc(), Invoice.id.desc(), InvoiceLine.position)
    )
    prorated = [(line, currency) for line, currency in found if line.line_metadata.get("proration")]
    # An invoice line names its price; the price, its product.
    prices = await catalog.get_prices(session, account_id, {line.price_id for line, _ in prorated if line.price_id})
    lines = []
    for line, currency in prorated:
        price = prices.get(line.price_id or "")
        lines.append(
            OrderLine(
                id=line.id,
                product_id=price.product_id if price is not None else "",
                name=line.name,
                description=line.description,
                line_type=PRORATION_CREDIT if line.amount_atom < 0 else PRORATION_CHARGE,
                charge_type=RECURRING_CHARGE,
                price_id=line.price_id,
                quantity=int(line.line_metadata.get("quantity") or line.quantity),
                unit_amount_atom=line.unit_amount_atom,
                amount_atom=line.amount_atom,
                currency=currency,
                start=line.period_start or subscription.current_period_start,
                end=line.period_end,
            )
        )
    return lines


# --- Changing -------------------------------------------------------------------------------------------------------


async def update_order(
    session: AsyncSession, account_id: str, row_ids: Sequence[str], order_id: str, changes_asked: Mapping[str, Any]
) -> Order:
    """Paid's ``update_order_by_id``: ``name`` (the subscription's description) and ``metadata`` (merged, as the
    PaymentKit dialect merges it); ``creationState`` only as it already is (activation is its own call). Every other
    field is refused by name unless null (nothing to set), and so is any change of a purchase, which is complete."""
    order = await get_order(session, account_id, row_ids, order_id)
    problems = [
        FieldProblem((name,), "Checkstand keeps no such thing on an order", "not_supported")
        for name in sorted(set(changes_asked) - UPDATABLE)
        if changes_asked[name] is not None
    ]
    state = changes_asked.get("creation_state")
    if state is not None and state != order.creation_state:
        hint = "activate the order instead" if state == ACTIVE else "an order never goes back to draft"
        problems.append(FieldProblem(("creation_state",), f"the order is {order.creation_state}: {hint}"))
    if order.subscription is None and set(changes_asked) & {"name", "metadata"}:
        problems.append(FieldProblem(("name",), "a one-time purchase is complete: it can't be changed"))
    if problems:
        raise InvalidFields(problems)
    if order.subscription is None:
        return order
    asked: dict[str, Any] = {}
    if "name" in changes_asked:
        asked["description"] = changes_asked["name"]
    if "metadata" in changes_asked:
        asked["metadata"] = changes_asked["metadata"]
    if asked:
        await changes.update_subscription(session, account_id, order.subscription.id, asked)
    return await get_order(session, account_id, [order.subscription.id], order_id)


async def cancel_order(session: AsyncSession, account_id: str, row_ids: Sequence[str], order_id: str) -> None:
    """Paid's delete: a subscription is cancelled at once (a draft, which never started, as well), with the
    PaymentKit dialect's rules (a contract term still running refuses it; cancelling twice is a conflict). A
    purchase is complete and paid for: refund its payment instead."""
    order = await get_order(session, account_id, row_ids, order_id)
    if order.subscription is None:
        raise Conflict(
            f"Order {order_id} is a completed one-time purchase: it can't be deleted (refund its payment instead).",
            code="order_completed",
        )
    await subscriptions.cancel(session, account_id, order.subscription.id)


async def activate_order(session: AsyncSession, account_id: str, row_ids: Sequence[str], order_id: str) -> Order:
    """A draft order (an incomplete subscription) whose first invoice is paid becomes active, as does a trial
    that is over (the PaymentKit dialect's activation). A trial still running is a 400, an unpaid first invoice a
    409; an order already active (a purchase too) is answered as it is."""
    order = await get_order(session, account_id, row_ids, order_id)
    if order.subscription is None:
        return order
    activation = await subscription_start.activate(session, account_id, order.subscription.id)
    subscription_start.require_activated(activation)
    return await get_order(session, account_id, [order.subscription.id], order_id)
