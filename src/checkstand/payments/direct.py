"""A merchant's own payment on a customer's saved payment method, outside checkout (the SDK's ``create_intent`` and
``confirm_intent``): created waiting for confirmation, then charged off-session exactly once by
:func:`checkstand.payments.off_session.charge_payment`, as renewals are.

Confirming commits the payment as ``processing`` first and charges with no transaction open; a second confirm of a
payment being charged or already paid is a conflict, and a failed one may be confirmed again (a new charge, with a
new idempotency key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import Conflict, FieldProblem, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.metadata import merge_metadata
from checkstand.core.money import is_currency, max_amount_atom
from checkstand.customers import service as customers
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import off_session
from checkstand.payments.adapters import Gateway
from checkstand.payments.models import FAILED, PROCESSING, Payment

# Stripe's words for a payment waiting on the merchant.
REQUIRES_PAYMENT_METHOD: Final = "requires_payment_method"
REQUIRES_CONFIRMATION: Final = "requires_confirmation"
CONFIRMABLE: Final = frozenset({REQUIRES_PAYMENT_METHOD, REQUIRES_CONFIRMATION, FAILED})


@dataclass(frozen=True)
class NewPayment:
    customer_id: str
    amount_atom: int
    currency: str
    payment_method_id: str | None = None
    processor_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


async def create_payment(session: AsyncSession, account_id: str, new: NewPayment) -> Payment:
    """A payment of the customer's, waiting for its confirmation (or for a payment method first)."""
    customer = await customers.get_customer(session, account_id, new.customer_id)
    currency = new.currency.lower()
    problems: list[FieldProblem] = []
    if not is_currency(currency):
        problems.append(FieldProblem(("currency",), "is not an ISO 4217 currency code"))
    elif not 0 < new.amount_atom <= max_amount_atom(currency):
        problems.append(FieldProblem(("amount_atom",), f"must be 1 to {max_amount_atom(currency)} in {currency}"))
    method = None
    if new.payment_method_id is not None:
        method = await _method(session, account_id, customer.id, new.payment_method_id)
        if new.processor_id is not None and new.processor_id != method.processor_id:
            problems.append(FieldProblem(("processor_external_id",), "is not the payment method's processor"))
    if problems:
        raise InvalidFields(problems)
    payment = Payment(
        id=new_id(off_session.PAYMENT_PREFIX),
        account_id=account_id,
        customer_id=customer.id,
        status=REQUIRES_PAYMENT_METHOD if method is None else REQUIRES_CONFIRMATION,
        amount_atom=new.amount_atom,
        currency=currency,
        payment_metadata=dict(new.metadata),
        charges=[],
    )
    if method is not None:
        _use(payment, method)
    session.add(payment)
    await session.flush()
    return payment


async def confirm_payment(
    gateway: Gateway,
    account_id: str,
    payment_id: str,
    *,
    payment_method_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Payment:
    """Commit the payment as processing, then charge it once on its saved method; answers it as it stands (a
    processor that can't say leaves it processing for the off-session charges' recovery)."""
    async with gateway.database.writing() as session:
        payment = await one_or_not_found(
            session,
            locked(select(Payment).where(Payment.id == payment_id, Payment.account_id == account_id)),
            "payment_intent",
            payment_id,
        )
        if payment.status not in CONFIRMABLE or payment.checkout_session_id or payment.invoice_id:
            raise Conflict(
                f"Payment {payment_id!r} is {payment.status}: it can't be confirmed.", code="payment_not_confirmable"
            )
        if payment_method_id is not None:
            _use(payment, await _method(session, account_id, payment.customer_id, payment_method_id))
        if payment.payment_method_id is None:
            raise InvalidFields.one(("payment_method_external_id",), "required: the payment has no payment method")
        if metadata:
            payment.payment_metadata = merge_metadata(payment.payment_metadata, metadata)
        payment.status = PROCESSING
        await session.commit()
    await off_session.charge_payment(gateway, payment_id)
    async with gateway.database.reading() as session:
        return await one_or_not_found(
            session,
            select(Payment).where(Payment.id == payment_id, Payment.account_id == account_id),
            "payment_intent",
            payment_id,
        )


async def _method(session: AsyncSession, account_id: str, customer_id: str, method_id: str) -> SavedPaymentMethod:
    method = await session.scalar(
        select(SavedPaymentMethod).where(
            SavedPaymentMethod.id == method_id, SavedPaymentMethod.account_id == account_id
        )
    )
    if method is None or not method.is_active or method.customer_id != customer_id:
        raise InvalidFields.one(("payment_method_external_id",), "is not an active payment method of the customer")
    return method


def _use(payment: Payment, method: SavedPaymentMethod) -> None:
    payment.payment_method_id = method.id
    payment.processor_id = method.processor_id
    payment.payment_method_reference = method.processor_reference
