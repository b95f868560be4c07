"""What the dashboard reads about money taken: payments (with their charges, refunds, invoice and checkout) and
subscriptions (with their invoices and payments), and a customer's whole history.

Queries only, each filtered on the account; a payment or subscription of another account is not found, as a
missing one is. Searching by email matches the start of a customer's normalized email."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from checkstand.checkout.models import CheckoutSession
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.invoices.models import Invoice
from checkstand.payment_methods import service as payment_methods
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import ledger
from checkstand.payments.collection import PAYMENT_PAID
from checkstand.payments.direct import REQUIRES_PAYMENT_METHOD
from checkstand.payments.models import (
    FAILED,
    PROCESSING,
    REQUIRES_ACTION,
    SUCCEEDED,
    CheckoutAttempt,
    Payment,
    PaymentCharge,
    ProcessorAttempt,
    Refund,
)
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import STATUSES as SUBSCRIPTION_STATUSES
from checkstand.subscriptions.models import Subscription

PAYMENT_STATUSES: Final = (SUCCEEDED, PAYMENT_PAID, PROCESSING, REQUIRES_ACTION, REQUIRES_PAYMENT_METHOD, FAILED)
MAX_SEARCH_LENGTH: Final = 320
# The newest this many of a subscription's invoices and payments: its detail page stays readable.
MAX_RELATED: Final = 50


def _matching(
    account_id: str, search: str, own_id: InstrumentedAttribute[str], customer_id: InstrumentedAttribute[str]
) -> ColumnElement[bool]:
    """An exact id of the row or its customer, or the start of the customer's email."""
    text = search.strip()[:MAX_SEARCH_LENGTH]
    by_email = select(Customer.id).where(
        Customer.account_id == account_id, Customer.email_normalized.startswith(text.lower(), autoescape=True)
    )
    return or_(own_id == text, customer_id == text, customer_id.in_(by_email))


async def list_payments(
    session: AsyncSession,
    account_id: str,
    *,
    status: str | None,
    currency: str | None,
    since: date | None,
    until: date | None,
    search: str | None,
    page: PageParams,
) -> Page[Payment]:
    """Newest first; ``since`` and ``until`` are UTC days, both included."""
    query: Select[Payment] = select(Payment).where(Payment.account_id == account_id)
    if status:
        query = query.where(Payment.status == status)
    if currency:
        query = query.where(Payment.currency == currency.lower())
    if since is not None:
        query = query.where(Payment.created_at >= datetime.combine(since, time(), tzinfo=UTC))
    if until is not None:
        query = query.where(Payment.created_at < datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC))
    if search and search.strip():
        query = query.where(_matching(account_id, search, Payment.id, Payment.customer_id))
    return await paginate(session, query.order_by(Payment.created_at.desc(), Payment.id.desc()), page)


async def payment_currencies(session: AsyncSession, account_id: str) -> list[str]:
    found = await session.scalars(select(Payment.currency).where(Payment.account_id == account_id).distinct())
    return sorted(found)


@dataclass(frozen=True)
class PaymentStory:
    """A payment, each processor call that collected it with its refunds, and what it paid for."""

    payment: Payment
    customer: Customer | None
    charges: Sequence[PaymentCharge]
    refunds: dict[str, list[Refund]]
    # The checkout's processor calls of the attempt that paid it (a declined card before a good one shows here).
    processor_attempts: Sequence[ProcessorAttempt]
    invoice: Invoice | None
    checkout: CheckoutSession | None


async def payment_story(session: AsyncSession, account_id: str, payment_id: str) -> PaymentStory:
    """Raises NotFound for another account's payment as for a missing one."""
    payment = await ledger.get_payment(session, account_id, payment_id)
    customer = await session.scalar(
        select(Customer).where(Customer.account_id == account_id, Customer.id == payment.customer_id)
    )
    charges = (
        await session.scalars(
            select(PaymentCharge)
            .where(PaymentCharge.account_id == account_id, PaymentCharge.payment_id == payment.id)
            .order_by(PaymentCharge.created_at, PaymentCharge.id)
        )
    ).all()
    refunds: dict[str, list[Refund]] = {}
    for refund in await session.scalars(
        select(Refund)
        .where(Refund.account_id == account_id, Refund.payment_id == payment.id)
        .order_by(Refund.created_at, Refund.id)
    ):
        refunds.setdefault(refund.charge_id, []).append(refund)
    processor_attempts: Sequence[ProcessorAttempt] = ()
    if payment.checkout_attempt_id is not None:
        attempt = await session.scalar(
            select(CheckoutAttempt).where(
                CheckoutAttempt.account_id == account_id, CheckoutAttempt.id == payment.checkout_attempt_id
            )
        )
        processor_attempts = attempt.processor_attempts if attempt is not None else ()
    invoice = None
    if payment.invoice_id is not None:
        invoice = await session.scalar(
            select(Invoice).where(Invoice.account_id == account_id, Invoice.id == payment.invoice_id)
        )
    checkout = None
    if payment.checkout_session_id is not None:
        checkout = await session.scalar(
            select(CheckoutSession).where(
                CheckoutSession.account_id == account_id, CheckoutSession.id == payment.checkout_session_id
            )
        )
    return PaymentStory(payment, customer, charges, refunds, processor_attempts, invoice, checkout)


async def list_subscriptions(
    session: AsyncSession, account_id: str, *, status: str | None, search: str | None, page: PageParams
) -> Page[Subscription]:
    """Newest first."""
    query: Select[Subscription] = select(Subscription).where(Subscription.account_id == account_id)
    if status in SUBSCRIPTION_STATUSES:
        query = query.where(Subscription.status == status)
    if search and search.strip():
        query = query.where(_matching(account_id, search, Subscription.id, Subscription.customer_id))
    return await paginate(session, query.order_by(Subscription.created_at.desc(), Subscription.id.desc()), page)


@dataclass(frozen=True)
class SubscriptionStory:
    subscription: Subscription
    invoices: Sequence[Invoice]
    payments: Sequence[Payment]


async def subscription_story(session: AsyncSession, account_id: str, subscription_id: str) -> SubscriptionStory:
    """Raises NotFound for another account's subscription as for a missing one."""
    subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    invoices = (
        await session.scalars(
            select(Invoice)
            .where(Invoice.account_id == account_id, Invoice.subscription_id == subscription.id)
            .order_by(Invoice.created_at.desc(), Invoice.id.desc())
            .limit(MAX_RELATED)
        )
    ).all()
    payments = (
        await session.scalars(
            select(Payment)
            .where(Payment.account_id == account_id, Payment.subscription_id == subscription.id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(MAX_RELATED)
        )
    ).all()
    return SubscriptionStory(subscription, invoices, payments)


@dataclass(frozen=True)
class CustomerStory:
    """A customer and, newest first, what they did: checkout sessions, payments, subscriptions, saved methods."""

    customer: Customer
    sessions: Sequence[CheckoutSession]
    payments: Sequence[Payment]
    subscriptions: Sequence[Subscription]
    methods: Sequence[SavedPaymentMethod]


async def customer_story(session: AsyncSession, account_id: str, customer_id: str) -> CustomerStory:
    """Raises NotFound for another account's customer as for a missing one."""
    customer = await customers.get_customer(session, account_id, customer_id)
    sessions = (
        await session.scalars(
            select(CheckoutSession)
            .where(CheckoutSession.account_id == account_id, CheckoutSession.customer_id == customer.id)
            .order_by(CheckoutSession.created_at.desc(), CheckoutSession.id.desc())
            .limit(MAX_RELATED)
        )
    ).all()
    payments = (
        await session.scalars(
            select(Payment)
            .where(Payment.account_id == account_id, Payment.customer_id == customer.id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(MAX_RELATED)
        )
    ).all()
    held = await subscriptions.list_by_customer(session, account_id, customer.id)
    methods = await payment_methods.list_by_customer(session, account_id, customer.id)
    return CustomerStory(customer, sessions, payments, held, methods)
