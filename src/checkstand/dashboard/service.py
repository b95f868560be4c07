"""What the dashboard reads: the home page's figures and a checkout session's whole story.

Queries only, over other modules' tables, each filtered on the account and served by that table's account index;
views never query. Days are UTC calendar days."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import Select, String, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from checkstand.catalog.models import Price, Product
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import SUCCESS, CheckoutSession
from checkstand.core import clock
from checkstand.core.money import format_money
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.customers.models import Customer
from checkstand.discounts.models import ACTIVE as COUPON_ACTIVE
from checkstand.discounts.models import Coupon
from checkstand.events.models import Event
from checkstand.payments.collection import PAYMENT_PAID
from checkstand.payments.completion import PAYMENT_SUCCEEDED
from checkstand.payments.models import FAILED, CheckoutAttempt, Payment
from checkstand.webhooks.models import WebhookDelivery

PERIODS: Final = (7, 30, 90)
DEFAULT_PERIOD: Final = 30
NO_DECLINE_CODE: Final = "(none)"
STATES: Final = ("open", "success", "expired")
MAX_SEARCH_LENGTH: Final = 320


class utc_day(FunctionElement[str]):
    """A timestamp's UTC calendar day as ``YYYY-MM-DD`` text, on both backends."""

    type = String()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day)
def _utc_day(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as ISO text: the day is its first ten characters.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@dataclass(frozen=True)
class DailySessions:
    day: date
    created: int
    completed: int


@dataclass(frozen=True)
class Overview:
    """The home page's figures over the ``days`` days up to today."""

    days: list[date]
    # currency -> amount taken (minor units) per day of ``days``
    revenue: dict[str, list[int]]
    sessions: list[DailySessions]
    declines: list[tuple[str, int]]

    @property
    def created(self) -> int:
        return sum(day.created for day in self.sessions)

    @property
    def completed(self) -> int:
        return sum(day.completed for day in self.sessions)


def period_days(requested: object) -> int:
    try:
        days = int(str(requested))
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


async def overview(session: AsyncSession, account_id: str, days: int) -> Overview:
    today = clock.now().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(), tzinfo=UTC)
    calendar = [first + timedelta(days=offset) for offset in range(days)]
    index = {day.isoformat(): position for position, day in enumerate(calendar)}

    revenue: dict[str, list[int]] = {}
    day = utc_day(Payment.created_at)
    rows = await session.execute(
        select(Payment.currency, day, func.sum(Payment.amount_atom))
        .where(
            Payment.account_id == account_id,
            Payment.created_at >= since,
            Payment.status.in_((PAYMENT_SUCCEEDED, PAYMENT_PAID)),
        )
        .group_by(Payment.currency, day)
    )
    for currency, on, amount in rows:
        if on in index:
            revenue.setdefault(currency, [0] * days)[index[on]] += int(amount or 0)

    created = [0] * days
    completed = [0] * days
    day = utc_day(CheckoutSession.created_at)
    session_rows = await session.execute(
        select(day, func.count(), func.count().filter(CheckoutSession.status == SUCCESS))
        .where(CheckoutSession.account_id == account_id, CheckoutSession.created_at >= since)
        .group_by(day)
    )
    for on, made, paid in session_rows:
        if on in index:
            created[index[on]] += int(made)
            completed[index[on]] += int(paid)

    code = func.coalesce(CheckoutAttempt.decline_code, NO_DECLINE_CODE)
    decline_rows = await session.execute(
        select(code, func.count())
        .where(
            CheckoutAttempt.account_id == account_id,
            CheckoutAttempt.created_at >= since,
            CheckoutAttempt.state == FAILED,
        )
        .group_by(code)
        .order_by(func.count().desc(), code)
    )
    return Overview(
        days=calendar,
        revenue=dict(sorted(revenue.items())),
        sessions=[DailySessions(on, made, paid) for on, made, paid in zip(calendar, created, completed, strict=True)],
        declines=[(str(decline), int(count)) for decline, count in decline_rows],
    )


async def list_checkout_sessions(
    session: AsyncSession, account_id: str, *, state: str | None, search: str | None, page: PageParams
) -> Page[CheckoutSession]:
    """Newest first; ``state`` as the API's filter computes it; ``search`` an exact session or customer id, or
    the start of a customer's email."""
    query: Select[CheckoutSession] = select(CheckoutSession).where(CheckoutSession.account_id == account_id)
    if state in STATES:
        query = query.where(checkout_service.state_condition(state))
    if search:
        text = search.strip()[:MAX_SEARCH_LENGTH]
        by_email = select(Customer.id).where(
            Customer.account_id == account_id, Customer.email_normalized.startswith(text.lower(), autoescape=True)
        )
        query = query.where(
            or_(
                CheckoutSession.id == text,
                CheckoutSession.customer_id == text,
                CheckoutSession.customer_id.in_(by_email),
            )
        )
    return await paginate(session, query.order_by(CheckoutSession.created_at.desc(), CheckoutSession.id.desc()), page)


async def customer_emails(session: AsyncSession, account_id: str, customer_ids: Sequence[str | None]) -> dict[str, str]:
    ids = {customer_id for customer_id in customer_ids if customer_id}
    if not ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.email).where(Customer.account_id == account_id, Customer.id.in_(ids))
    )
    return {customer_id: email for customer_id, email in rows if email}


@dataclass(frozen=True)
class SessionStory:
    """A checkout session and everything that happened to it."""

    checkout: CheckoutSession
    customer: Customer | None
    attempts: Sequence[CheckoutAttempt]
    payment: Payment | None
    events: Sequence[Event]
    deliveries: dict[str, list[WebhookDelivery]]


async def session_story(session: AsyncSession, account_id: str, checkout_id: str) -> SessionStory:
    """Raises NotFound for another account's session as for a missing one."""
    checkout = await checkout_service.get_session(session, account_id, checkout_id)
    customer = None
    if checkout.customer_id is not None:
        customer = await session.scalar(
            select(Customer).where(Customer.account_id == account_id, Customer.id == checkout.customer_id)
        )
    attempts = (
        await session.scalars(
            select(CheckoutAttempt)
            .where(CheckoutAttempt.account_id == account_id, CheckoutAttempt.checkout_session_id == checkout.id)
            .order_by(CheckoutAttempt.created_at, CheckoutAttempt.id)
        )
    ).all()
    payment = await session.scalar(
        select(Payment).where(Payment.account_id == account_id, Payment.checkout_session_id == checkout.id)
    )
    aggregates = [checkout.id, *(attempt.id for attempt in attempts), *([payment.id] if payment else [])]
    events = (
        await session.scalars(
            select(Event).where(Event.account_id == account_id, Event.aggregate_id.in_(aggregates)).order_by(Event.seq)
        )
    ).all()
    deliveries: dict[str, list[WebhookDelivery]] = {}
    if events:
        for delivery in await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.account_id == account_id, WebhookDelivery.event_id.in_([e.id for e in events]))
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        ):
            deliveries.setdefault(delivery.event_id, []).append(delivery)
    return SessionStory(checkout, customer, attempts, payment, events, deliveries)


# --- What the create form offers ------------------------------------------------------------------------------------

# The newest this many of each: a select longer than this is no help, and the ids can still be typed in the API.
MAX_CHOICES: Final = 200


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


async def customer_choices(session: AsyncSession, account_id: str) -> list[Choice]:
    rows = await session.execute(
        select(Customer.id, Customer.name, Customer.email)
        .where(Customer.account_id == account_id)
        .order_by(Customer.created_at.desc(), Customer.id.desc())
        .limit(MAX_CHOICES)
    )
    return [
        Choice(customer_id, " · ".join(part for part in (name, email, customer_id) if part))
        for customer_id, name, email in rows
    ]


async def price_choices(session: AsyncSession, account_id: str) -> list[Choice]:
    rows = await session.execute(
        select(Price, Product.name)
        .join(Product, Product.id == Price.product_id)
        .where(Price.account_id == account_id, Price.is_active.is_(True), Product.is_active.is_(True))
        .order_by(Price.created_at.desc(), Price.id.desc())
        .limit(MAX_CHOICES)
    )
    return [Choice(price.id, f"{product} · {_price_label(price)}") for price, product in rows]


def _price_label(price: Price) -> str:
    amount = format_money(price.unit_amount_atom, price.currency) if price.billing_scheme == "per_unit" else "tiered"
    every = f" / {price.recurring_interval}" if price.recurring_interval else ""
    name = f"{price.name} · " if price.name else ""
    return f"{name}{amount}{every}"


async def coupon_choices(session: AsyncSession, account_id: str) -> list[Choice]:
    rows = await session.execute(
        select(Coupon.id, Coupon.name)
        .where(Coupon.account_id == account_id, Coupon.status == COUPON_ACTIVE)
        .order_by(Coupon.created_at.desc(), Coupon.id.desc())
        .limit(MAX_CHOICES)
    )
    return [Choice(coupon_id, f"{name} · {coupon_id}" if name else coupon_id) for coupon_id, name in rows]
