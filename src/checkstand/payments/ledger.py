"""Reading payments (the SDK's payment intents) and their charges (its payment attempts), with what a merchant's list
shows beside them: the customer's email, the saved payment method and the processor.

Every checkout payment and every invoice's collection is a :class:`~checkstand.payments.models.Payment`; each
processor call it made is a :class:`~checkstand.payments.models.PaymentCharge`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.customers.models import Customer
from checkstand.payment_methods.models import SavedPaymentMethod
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
