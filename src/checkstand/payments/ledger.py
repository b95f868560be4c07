"""Reading payments (the SDK's payment intents) and their charges (its payment attempts), with what a merchant's list
shows beside them: the customer's email, the saved payment method and the processor.

Every checkout payment and every invoice's collection is a :class:`~checkstand.payments.models.Payment`; each
processor call it made is a :class:`~checkstand.payments.models.PaymentCharge`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.core.listing import ListParams, ListSpec, Scalar, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.customers.models import Customer
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments.customer_scope import CustomerScope, scoped_customer_ids
from checkstand.payments.models import Payment, PaymentCharge
from checkstand.processors.models import Processor

PAYMENT_LIST: Final = ListSpec(
    filterable={
        "status": Payment.status,
        "customer_id": Payment.customer_id,
        "currency": Payment.currency,
        "subscription_id": Payment.subscription_id,
        "invoice_id": Payment.invoice_id,
        "checkout_session_id": Payment.checkout_session_id,
        "processor_id": Payment.processor_id,
    },
    sortable={"created_at": Payment.created_at, "amount_atom": Payment.amount_atom},
    created_at=Payment.created_at,
    tiebreak=Payment.id,
)
CHARGE_LIST: Final = ListSpec(
    filterable={"status": PaymentCharge.status},
    sortable={"created_at": PaymentCharge.created_at, "amount_atom": PaymentCharge.amount_atom},
    created_at=PaymentCharge.created_at,
    tiebreak=PaymentCharge.id,
)


@dataclass(frozen=True)
class Related:
    """What the listed payments name, read in one query per kind: emails by customer id, saved methods and
    processors by id."""

    emails: dict[str, str | None]
    methods: dict[str, SavedPaymentMethod]
    processors: dict[str, Processor]


async def get_payment(session: AsyncSession, account_id: str, payment_id: str) -> Payment:
    return await one_or_not_found(
        session,
        select(Payment).where(Payment.id == payment_id, Payment.account_id == account_id),
        "payment_intent",
        payment_id,
    )


async def list_payments(session: AsyncSession, account_id: str, params: ListParams) -> Page[Payment]:
    query = select(Payment).where(Payment.account_id == account_id)
    return await paginate(session, apply_list_params(query, PAYMENT_LIST, params), params.page)


async def list_charges_of_payment(
    session: AsyncSession, account_id: str, payment_id: str, params: ListParams
) -> Page[PaymentCharge]:
    """A payment's charges, newest first; another account's payment is not found."""
    await get_payment(session, account_id, payment_id)
    query = select(PaymentCharge).where(PaymentCharge.account_id == account_id, PaymentCharge.payment_id == payment_id)
    return await paginate(session, apply_list_params(query, CHARGE_LIST, params), params.page)


async def related(session: AsyncSession, account_id: str, payments: Iterable[Payment]) -> Related:
    payments = list(payments)
    customer_ids = {payment.customer_id for payment in payments}
    method_ids = {payment.payment_method_id for payment in payments if payment.payment_method_id}
    processor_ids = {payment.processor_id for payment in payments if payment.processor_id}
    emails = (
        await session.execute(
            select(Customer.id, Customer.email).where(Customer.account_id == account_id, Customer.id.in_(customer_ids))
        )
        if customer_ids
        else None
    )
    methods = (
        await session.scalars(
            select(SavedPaymentMethod).where(
                SavedPaymentMethod.account_id == account_id, SavedPaymentMethod.id.in_(method_ids)
            )
        )
        if method_ids
        else None
    )
    processors = (
        await session.scalars(
            select(Processor).where(Processor.account_id == account_id, Processor.id.in_(processor_ids))
        )
        if processor_ids
        else None
    )
    return Related(
        emails={row.id: row.email for row in emails} if emails is not None else {},
        methods={method.id: method for method in methods} if methods is not None else {},
        processors={processor.id: processor for processor in processors} if processors is not None else {},
    )


@dataclass(frozen=True)
class NumberedPayment:
    """A payment as Paid shows it: with its number (its place among the account's payments in the order they were
    made, from 1: counted, not stored, since a payment is made in many places and its place never changes once
    committed) and the order it paid, if any (a subscription's id, or a one-time purchase's checkout id)."""

    payment: Payment
    number: int
    order_row_id: str | None


async def list_numbered_payments(
    session: AsyncSession, account_id: str, scope: CustomerScope, status: str | None, page: PageParams
) -> Page[NumberedPayment]:
    """The account's payments, or one customer's, newest first, in one status when asked."""
    customer_ids = await scoped_customer_ids(session, account_id, scope)
    if customer_ids == []:
        return Page(items=[], total=0, limit=page.limit, offset=page.offset)
    filters: dict[str, Scalar] = {} if customer_ids is None else {"customer_id": customer_ids[0]}
    if status is not None:
        filters["status"] = status
    found = await list_payments(session, account_id, ListParams(page=page, filters=filters))
    return Page(
        items=await _numbered(session, account_id, found.items), total=found.total, limit=page.limit, offset=page.offset
    )


async def get_numbered_payment(session: AsyncSession, account_id: str, payment_id: str) -> NumberedPayment:
    return (await _numbered(session, account_id, [await get_payment(session, account_id, payment_id)]))[0]


async def _numbered(session: AsyncSession, account_id: str, payments: Sequence[Payment]) -> list[NumberedPayment]:
    if not payments:
        return []
    ranked = (
        select(
            Payment.id.label("id"),
            func.row_number().over(order_by=(Payment.created_at, Payment.id)).label("number"),
        )
        .where(Payment.account_id == account_id)
        .subquery()
    )
    numbers = {
        payment_id: int(number)
        for payment_id, number in await session.execute(
            select(ranked.c.id, ranked.c.number).where(ranked.c.id.in_([payment.id for payment in payments]))
        )
    }
    checkout_ids = {payment.checkout_session_id for payment in payments if payment.checkout_session_id}
    purchases = (
        set(
            await session.scalars(
                select(CheckoutSession.id).where(
                    CheckoutSession.account_id == account_id,
                    CheckoutSession.id.in_(checkout_ids),
                    CheckoutSession.order_number.is_not(None),
                )
            )
        )
        if checkout_ids
        else set()
    )
    return [
        NumberedPayment(
            payment,
            numbers[payment.id],
            payment.subscription_id
            or (payment.checkout_session_id if payment.checkout_session_id in purchases else None),
        )
        for payment in payments
    ]
