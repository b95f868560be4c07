"""Paid's signals: usage a merchant reports for a customer, which Checkstand records as meter events.

A signal's ``eventName`` is the meter (a metered price's ``metered_id``), its customer (by id or external id) the
meter event's customer, its ``idempotencyKey`` the event's identifier (the same key again is a duplicate, stored
once), and its quantity the ``quantity`` field of its ``data`` (Paid's default quantity field), 1 without one. It is
attributed to the customer's live subscription with a price on that meter (:func:`~checkstand.usage.service.
record_meter_event`), whose renewal invoice bills it; the product it names and its ``data`` are kept as sent.

A batch is recorded signal by signal, each in a savepoint: one refused (an unknown customer or meter, a bad
quantity, a period already invoiced) leaves the others recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import external_ids
from checkstand.catalog import service as catalog
from checkstand.catalog.models import Product
from checkstand.core.errors import FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.usage.models import MeterEvent
from checkstand.usage.service import MAX_VALUE, MeterEventSpec, record_meter_event

QUANTITY_FIELD: Final = "quantity"
# A meter event's fields as a signal names them, for the problems the usage service finds.
_SIGNAL_FIELDS: Final[dict[str, FieldPath]] = {
    "customer_id": ("customer",),
    "metered_id": ("event_name",),
    "value": ("data", QUANTITY_FIELD),
    "timestamp": ("timestamp",),
}

Outcome = Literal["ingested", "duplicate", "failed"]


@dataclass(frozen=True)
class SignalSpec:
    """A signal in the domain's words: exactly one of each pair of customer and product ids (the product may be
    left out)."""

    event_name: str
    customer_id: str | None = None
    external_customer_id: str | None = None
    product_id: str | None = None
    external_product_id: str | None = None
    customer_unit: str | None = None
    timestamp: datetime | None = None
    data: Mapping[str, Any] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SignalResult:
    outcome: Outcome
    signal: MeterEvent | None = None
    problems: Sequence[FieldProblem] = ()


@dataclass(frozen=True)
class Signal:
    """A recorded signal, with the external ids of its customer and product for Paid's reads."""

    event: MeterEvent
    external_customer_id: str | None
    external_product_id: str | None


@dataclass(frozen=True)
class SignalFilters:
    signal_name: str | None = None
    customer_id: str | None = None
    external_customer_id: str | None = None
    product_id: str | None = None
    external_product_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def quantity(data: Mapping[str, Any] | None) -> int:
    """The signal's quantity: its data's whole, non-negative ``quantity``, 1 when it has none."""
    if data is None or QUANTITY_FIELD not in data:
        return 1
    value = data[QUANTITY_FIELD]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VALUE:
        raise InvalidFields.one(("data", QUANTITY_FIELD), f"must be a whole number from 0 to {MAX_VALUE}")
    return value


async def _customer(session: AsyncSession, account_id: str, spec: SignalSpec) -> Customer:
    try:
        if spec.customer_id is not None:
            return await customers.get_customer(session, account_id, spec.customer_id)
        assert spec.external_customer_id is not None  # the dialect asks for one of the two
        return await customers.get_by_external_id(session, account_id, spec.external_customer_id)
    except NotFound:
        raise InvalidFields.one(("customer",), "no such customer in this account", "not_found") from None


async def _product(session: AsyncSession, account_id: str, spec: SignalSpec) -> Product | None:
    try:
        if spec.product_id is not None:
            return await catalog.get_product(session, account_id, spec.product_id)
        if spec.external_product_id is not None:
            return await external_ids.get_product(session, account_id, spec.external_product_id)
    except NotFound:
        raise InvalidFields.one(("attribution",), "no such product in this account", "not_found") from None
    return None


async def _record(session: AsyncSession, account_id: str, spec: SignalSpec) -> tuple[MeterEvent, bool]:
    if spec.customer_unit is not None:
        raise InvalidFields.one(("customer_unit",), "customer units are not supported; attribute to the customer")
    customer = await _customer(session, account_id, spec)
    product = await _product(session, account_id, spec)
    meter_spec = MeterEventSpec(
        customer_id=customer.id,
        metered_id=spec.event_name,
        value=quantity(spec.data),
        identifier=spec.idempotency_key,
        timestamp=spec.timestamp,
    )
    try:
        event, created = await record_meter_event(session, account_id, meter_spec)
    except InvalidFields as refused:
        raise InvalidFields(
            [FieldProblem(_SIGNAL_FIELDS.get(str(p.path[0]), p.path), p.msg, p.type) for p in refused.problems]
        ) from None
    if created:
        event.product_id = product.id if product is not None else None
        event.data = dict(spec.data) if spec.data is not None else None
        await session.flush()
    return event, created


async def record_signals(session: AsyncSession, account_id: str, specs: Sequence[SignalSpec]) -> list[SignalResult]:
    """Each signal's outcome, in order: ingested, a duplicate of one already stored, or failed with its problems."""
    results = []
    for spec in specs:
        try:
            async with session.begin_nested():
                event, created = await _record(session, account_id, spec)
        except InvalidFields as refused:
            results.append(SignalResult("failed", problems=refused.problems))
            continue
        results.append(SignalResult("ingested" if created else "duplicate", event))
    return results


async def _external_ids(
    session: AsyncSession, events: Collection[MeterEvent]
) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """The external ids of the events' customers and products, by id."""
    customer_ids = {event.customer_id for event in events}
    product_ids = {event.product_id for event in events if event.product_id is not None}
    by_customer: dict[str, str | None] = {}
    by_product: dict[str, str | None] = {}
    if customer_ids:
        rows = await session.execute(select(Customer.id, Customer.external_id).where(Customer.id.in_(customer_ids)))
        by_customer = {customer_id: external_id for customer_id, external_id in rows}
    if product_ids:
        rows = await session.execute(select(Product.id, Product.external_id).where(Product.id.in_(product_ids)))
        by_product = {product_id: external_id for product_id, external_id in rows}
    return by_customer, by_product


async def _signals(session: AsyncSession, events: Sequence[MeterEvent]) -> list[Signal]:
    by_customer, by_product = await _external_ids(session, events)
    return [
        Signal(event, by_customer.get(event.customer_id), by_product.get(event.product_id or "")) for event in events
    ]


async def get_signal(session: AsyncSession, account_id: str, signal_id: str) -> Signal:
    event = await session.scalar(
        select(MeterEvent).where(MeterEvent.account_id == account_id, MeterEvent.id == signal_id)
    )
    if event is None:
        raise NotFound("signal", signal_id)
    (signal,) = await _signals(session, [event])
    return signal


async def _resolved(session: AsyncSession, account_id: str, filters: SignalFilters) -> Select[MeterEvent] | None:
    """The filtered query, or None when a filter names something the account doesn't have (nothing matches)."""
    query = select(MeterEvent).where(MeterEvent.account_id == account_id)
    customer_id = filters.customer_id
    if filters.external_customer_id is not None:
        found = await session.scalar(
            select(Customer.id).where(
                Customer.account_id == account_id, Customer.external_id == filters.external_customer_id
            )
        )
        if found is None or customer_id not in (None, found):
            return None
        customer_id = found
    product_id = filters.product_id
    if filters.external_product_id is not None:
        found = await session.scalar(
            select(Product.id).where(
                Product.account_id == account_id, Product.external_id == filters.external_product_id
            )
        )
        if found is None or product_id not in (None, found):
            return None
        product_id = found
    if customer_id is not None:
        query = query.where(MeterEvent.customer_id == customer_id)
    if product_id is not None:
        query = query.where(MeterEvent.product_id == product_id)
    if filters.signal_name is not None:
        query = query.where(MeterEvent.metered_id == filters.signal_name)
    if filters.created_from is not None:
        query = query.where(MeterEvent.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(MeterEvent.created_at <= filters.created_to)
    return query


async def list_signals(
    session: AsyncSession, account_id: str, filters: SignalFilters, params: PageParams
) -> Page[Signal]:
    """Newest first."""
    query = await _resolved(session, account_id, filters)
    if query is None:
        return Page(items=[], total=0, limit=params.limit, offset=params.offset)
    page = await paginate(session, query.order_by(MeterEvent.created_at.desc(), MeterEvent.id.desc()), params)
    return Page(items=await _signals(session, page.items), total=page.total, limit=page.limit, offset=page.offset)
