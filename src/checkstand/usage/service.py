"""Metered usage: the meter events a merchant reports, and what they come to per subscription item and period.

**Recording** (:func:`record_meter_event`, as Stripe's billing meter events): an event is ``value`` units of
``metered_id`` used by a customer at ``timestamp``. Its ``identifier`` is unique per account: the same identifier
again answers the stored event and adds nothing, however many requests race (a unique constraint decides). It is
attributed to the customer's live subscription with an item on that meter, when there is one, and refused (at
``timestamp``) when that subscription's usage up to then is already invoiced, or when it is more than
:data:`MAX_FUTURE` ahead of the customer's time (a test clock's, for a customer on one). No webhook event is
recorded per meter event: at the volumes usage is reported at, that would flood every endpoint (Stripe sends none
either).

**Aggregating** (:func:`period_usage`): a metered item's quantity for a period ``[start, end)`` is the sum, the
maximum or the last value (latest ``timestamp``, ties by arrival) of the events attributed to its subscription on
its meter; an event exactly at ``end`` belongs to the next period. None is 0.

**Billing**: the renewal invoice made at a period's end bills each metered item's usage over the period just ended,
in arrears, beside the licensed items billed in advance for the next one
(:func:`checkstand.invoices.renewal.renewal_lines`). That invoice is made ``CHECKSTAND_USAGE_GRACE_SECONDS`` after
the period's end, so usage reported late, within that window, is still billed; after it the period is invoiced and
later events for it are refused. Usage during a trial is not billed: the trial's end bills the first paid period in
advance, and usage from then on.

**Money**: an item's amount is its price's scheme applied to the period's quantity
(:func:`checkstand.catalog.pricing.amount_for`): integer products and sums, exact; the one rounding of the line is
package pricing's, a started package counted whole. A coupon's share of an invoice is rounded half-even once, by the
discount maths, as on any line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Select, String, column, func, select, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog.models import METERED, Price
from checkstand.catalog.pricing import amount_for
from checkstand.core import clock
from checkstand.core.errors import InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.metadata import merge_metadata
from checkstand.core.pagination import Page, paginate
from checkstand.customers import service as customers
from checkstand.db import UTCDateTime
from checkstand.subscriptions.models import (
    ACTIVE,
    PAST_DUE,
    PAUSED,
    TRIALING,
    Subscription,
    SubscriptionItem,
)
from checkstand.test_clocks.service import now_for_customer
from checkstand.usage.models import MeterEvent

EVENT_PREFIX: Final = "mev"
# Stripe's bound: an event may be stamped at most this far ahead of the customer's time (clocks drift).
MAX_FUTURE: Final = timedelta(minutes=5)
# The largest value one event may report; a period's total stays far below what a 64-bit sum holds.
MAX_VALUE: Final = 1_000_000_000_000
SUM: Final = "sum"
MAX: Final = "max"
LAST: Final = "last"
# Subscriptions usage is attributed to: those whose periods run or whose invoices are still being collected.
LIVE: Final = (ACTIVE, TRIALING, PAUSED, PAST_DUE)
# Renewal invoices as far as usage sees them: invoices (a layer above) bill usage, so this module reads which
# periods they cover without importing their model. ``subscription_cycle`` is their renewal billing reason.
SUBSCRIPTION_CYCLE: Final = "subscription_cycle"
_INVOICES: Final = table(
    "invoices",
    column("subscription_id", String),
    column("billing_reason", String),
    column("period_start", UTCDateTime()),
    column("period_end", UTCDateTime()),
)

LIST_SPEC: Final = ListSpec(
    filterable={
        "customer_id": MeterEvent.customer_id,
        "metered_id": MeterEvent.metered_id,
        "subscription_id": MeterEvent.subscription_id,
        "identifier": MeterEvent.identifier,
    },
    sortable={"created_at": MeterEvent.created_at, "timestamp": MeterEvent.occurred_at},
    searchable=(MeterEvent.identifier,),
    created_at=MeterEvent.created_at,
    tiebreak=MeterEvent.id,
)


@dataclass(frozen=True)
class MeterEventSpec:
    """A usage report in the domain's words, whichever dialect it came in. ``identifier`` defaults to the event's
    own id (no deduplication then); ``timestamp`` to the customer's time now."""

    customer_id: str
    metered_id: str
    value: int
    identifier: str | None = None
    timestamp: datetime | None = None
    metadata: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemUsage:
    """A metered item's usage over a period: its quantity as the price aggregates it, and what that bills."""

    item: SubscriptionItem
    quantity: int
    amount_atom: int

    @property
    def price(self) -> Price:
        return self.item.price

    @property
    def metered_id(self) -> str:
        assert self.price.metered_id is not None  # a metered price always names its meter
        return self.price.metered_id


@dataclass(frozen=True)
class UsageReport:
    """A subscription's usage over its open period (the one not yet invoiced), per metered item."""

    subscription: Subscription
    period_start: datetime
    period_end: datetime
    items: Sequence[ItemUsage]


def is_metered(item: SubscriptionItem) -> bool:
    return item.price.usage_type == METERED


# --- Recording ------------------------------------------------------------------------------------------------------


async def record_meter_event(session: AsyncSession, account_id: str, spec: MeterEventSpec) -> tuple[MeterEvent, bool]:
    """Record the event, or find the one already recorded with its identifier: ``(event, created)``. Refused (422
    naming the field) for a customer the account doesn't have, a meter no price of the account bills, a value out
    of range, a timestamp too far ahead, or one in a period whose usage is already invoiced."""
    if spec.identifier is not None and (known := await _by_identifier(session, account_id, spec.identifier)):
        return known, False
    if not 0 <= spec.value <= MAX_VALUE:
        raise InvalidFields.one(("value",), f"must be from 0 to {MAX_VALUE}")
    try:
        customer = await customers.get_customer(session, account_id, spec.customer_id)
    except NotFound:
        raise InvalidFields.one(("customer_id",), "no such customer", "not_found") from None
    now = await now_for_customer(session, customer.id)
    occurred_at = clock.as_utc(spec.timestamp) if spec.timestamp is not None else now
    if occurred_at > now + MAX_FUTURE:
        raise InvalidFields.one(
            ("timestamp",), f"must be at most {int(MAX_FUTURE.total_seconds() // 60)} minutes ahead of now"
        )
    subscription = await _attributed_subscription(session, account_id, customer.id, spec.metered_id)
    if subscription is None:
        if not await _meter_billed(session, account_id, spec.metered_id):
            raise InvalidFields.one(("metered_id",), "no metered price of this account bills this meter", "not_found")
    else:
        await _require_open(session, subscription, occurred_at)
    event_id = new_id(EVENT_PREFIX)
    event = MeterEvent(
        id=event_id,
        account_id=account_id,
        customer_id=customer.id,
        metered_id=spec.metered_id,
        value=spec.value,
        identifier=spec.identifier or event_id,
        occurred_at=occurred_at,
        subscription_id=subscription.id if subscription is not None else None,
        event_metadata=merge_metadata({}, spec.metadata),
        created_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(event)
    except IntegrityError:
        # A concurrent request recorded this identifier first (the unique constraint waited for it to commit).
        known = await _by_identifier(session, account_id, event.identifier)
        if known is None:
            raise
        return known, False
    return event, True


async def _by_identifier(session: AsyncSession, account_id: str, identifier: str) -> MeterEvent | None:
    return await session.scalar(
        select(MeterEvent).where(MeterEvent.account_id == account_id, MeterEvent.identifier == identifier)
    )


@dataclass(frozen=True)
class _Attributed:
    """What recording needs of the subscription an event is attributed to (its columns only: loading the whole
    subscription, its items and customer, for every event would cost more than the event)."""

    id: str
    began: datetime


async def _attributed_subscription(
    session: AsyncSession, account_id: str, customer_id: str, metered_id: str
) -> _Attributed | None:
    """The customer's newest live subscription with an item on the meter, its row share-locked until the
    transaction ends: a renewal billing its usage locks it for update, so the event either commits before the
    renewal reads the period's events, or sees that renewal's invoice and is refused. Never lost between the two."""
    row = (
        await session.execute(
            select(
                Subscription.id,
                func.coalesce(Subscription.trial_start, Subscription.billing_anchor, Subscription.current_period_start),
            )
            .join(SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
            .join(Price, Price.id == SubscriptionItem.price_id)
            .where(
                Subscription.account_id == account_id,
                Subscription.customer_id == customer_id,
                Subscription.status.in_(LIVE),
                Price.usage_type == METERED,
                Price.metered_id == metered_id,
            )
            .order_by(Subscription.created_at.desc(), Subscription.id.desc())
            .limit(1)
            .with_for_update(read=True, of=Subscription)
        )
    ).first()
    return None if row is None else _Attributed(row[0], clock.as_utc(row[1]))


async def _meter_billed(session: AsyncSession, account_id: str, metered_id: str) -> bool:
    found = await session.scalar(
        select(Price.id)
        .where(Price.account_id == account_id, Price.usage_type == METERED, Price.metered_id == metered_id)
        .limit(1)
    )
    return found is not None


async def _require_open(session: AsyncSession, subscription: _Attributed, occurred_at: datetime) -> None:
    """Refuse an event its subscription can no longer bill: one before the subscription began (its trial, else its
    first period), or in a period whose usage a renewal invoice has already billed."""
    billed = await _invoiced_period(session, subscription.id)
    if billed is not None and occurred_at < billed[0]:
        raise InvalidFields.one(
            ("timestamp",),
            f"subscription {subscription.id}'s usage before {billed[0].isoformat()} is already invoiced; "
            "usage is accepted up to CHECKSTAND_USAGE_GRACE_SECONDS after its period's end",
            "usage_period_invoiced",
        )
    if occurred_at < subscription.began:
        raise InvalidFields.one(
            ("timestamp",),
            f"is before subscription {subscription.id} began ({subscription.began.isoformat()})",
            "usage_period_invoiced",
        )


async def _invoiced_period(session: AsyncSession, subscription_id: str) -> tuple[datetime, datetime] | None:
    """The latest period a renewal invoice of the subscription bills (its usage covering everything before the
    period's start), whatever became of the invoice (paid, in dunning, voided by a pause)."""
    row = (
        await session.execute(
            select(_INVOICES.c.period_start, _INVOICES.c.period_end)
            .where(
                _INVOICES.c.subscription_id == subscription_id,
                _INVOICES.c.billing_reason == SUBSCRIPTION_CYCLE,
                _INVOICES.c.period_start.is_not(None),
            )
            .order_by(_INVOICES.c.period_start.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return clock.as_utc(row[0]), clock.as_utc(row[1])


# --- Reading --------------------------------------------------------------------------------------------------------


def _events(account_id: str) -> Select[MeterEvent]:
    return select(MeterEvent).where(MeterEvent.account_id == account_id)


async def get_meter_event(session: AsyncSession, account_id: str, event_id: str) -> MeterEvent:
    event = await session.scalar(_events(account_id).where(MeterEvent.id == event_id))
    if event is None:
        raise NotFound("meter_event", event_id)
    return event


async def list_meter_events(session: AsyncSession, account_id: str, params: ListParams) -> Page[MeterEvent]:
    """Newest first; filters on ``customer_id``, ``metered_id``, ``subscription_id`` and ``identifier``."""
    return await paginate(session, apply_list_params(_events(account_id), LIST_SPEC, params), params.page)


# --- Aggregating ----------------------------------------------------------------------------------------------------


async def period_quantity(
    session: AsyncSession, subscription: Subscription, price: Price, start: datetime, end: datetime
) -> int:
    """The quantity ``price`` bills for the subscription's usage of its meter over ``[start, end)``."""
    assert price.metered_id is not None  # a metered price always names its meter
    scope = (
        MeterEvent.customer_id == subscription.customer_id,
        MeterEvent.metered_id == price.metered_id,
        MeterEvent.occurred_at >= start,
        MeterEvent.occurred_at < end,
        MeterEvent.subscription_id == subscription.id,
    )
    if price.usage_aggregation == LAST:
        query = (
            select(MeterEvent.value)
            .where(*scope)
            .order_by(MeterEvent.occurred_at.desc(), MeterEvent.created_at.desc(), MeterEvent.id.desc())
            .limit(1)
        )
    elif price.usage_aggregation == MAX:
        query = select(func.max(MeterEvent.value)).where(*scope)
    else:
        query = select(func.sum(MeterEvent.value)).where(*scope)
    # PostgreSQL sums bigints as numeric: a Decimal, always whole here.
    return int(await session.scalar(query) or 0)


async def period_usage(
    session: AsyncSession, subscription: Subscription, start: datetime, end: datetime
) -> list[ItemUsage]:
    """Every metered item's usage over ``[start, end)``, in the items' order; an empty period bills nothing."""
    usage = []
    for item in subscription.items:
        if not is_metered(item):
            continue
        quantity = await period_quantity(session, subscription, item.price, start, end) if start < end else 0
        usage.append(ItemUsage(item, quantity, amount_for(item.price, quantity)))
    return usage


async def current_usage(session: AsyncSession, subscription: Subscription) -> UsageReport:
    """The usage of the period no invoice has billed yet: the current period, or, while the next period's invoice
    is being collected (the subscription moves on once it is paid), the next one."""
    start, end = subscription.current_period_start, subscription.current_period_end
    billed = await _invoiced_period(session, subscription.id)
    if billed is not None and billed[0] > start:
        start, end = billed
    return UsageReport(subscription, start, end, await period_usage(session, subscription, start, end))
