"""Charging a payment on a saved payment method, with the customer away (renewals, dunning retries): exactly once.

As for checkout attempts (:mod:`checkstand.payments.flow`), each processor call is a :class:`PaymentCharge` row
committed as ``pending``, with its idempotency key and a lease, *before* the processor is called; the call runs
with no transaction open while the lease is renewed; its answer is settled in a new short transaction, under the
charge's row lock, together with everything it means for the invoice and the subscription
(:mod:`checkstand.payments.settlement`). A process dying in between leaves the charge pending past its lease, and
:func:`recover_charges` asks the processor with the same key: it answers what it did, and charges nothing twice.

A payment has at most one pending charge, and the n-th charge of a payment has the key ``<payment id>-<n>``, unique
in the database: two workers starting the same retry compute the same key, and one of them fails to insert it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.ids import new_id
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.events.service import record_event
from checkstand.invoices import service as invoices
from checkstand.invoices.models import Invoice
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import leases, refunds, settlement
from checkstand.payments.adapters import Gateway, adapter_for, load_processor
from checkstand.payments.models import CHARGE_PENDING, FAILED, PROCESSING, SUCCEEDED, Payment, PaymentCharge, Refund
from checkstand.processors.base import ChargeRequest, ChargeResult, Outcome, OutcomeUnknown, PaymentMethod
from checkstand.subscriptions.models import Subscription
from checkstand.test_clocks.service import now_for_customer

logger = logging.getLogger(__name__)

PAYMENT_PREFIX: Final = "pay"
CHARGE_PREFIX: Final = "pch"
RECOVERY_BATCH: Final = 50
# A charge that never reached a processor: ``PaymentCharge.status`` for an unavailable processor.
CHARGE_FAILED: Final = "failed"
NO_PAYMENT_METHOD: Final = "no_payment_method"


@dataclass(frozen=True)
class SavedMethod:
    """What a saved payment method is charged by: its processor and that processor's token."""

    processor_id: str
    reference: str
    payment_method_id: str | None = None
    # The processor's customer the method is attached to (Stripe's ``cus_...``): Stripe charges an attached method
    # only with its customer, and off-session only when the charge names one.
    customer_reference: str | None = None


@dataclass(frozen=True)
class StagedCharge:
    """A charge committed as pending, to be made once its transaction is committed. ``now`` is the customer's time
    it is made at (a test clock catching up passes the due moment); None reads it when it is settled."""

    account_id: str
    charge_id: str
    processor_id: str
    request: ChargeRequest
    now: datetime | None = None


# --- Staging --------------------------------------------------------------------------------------------------------


async def saved_method(
    session: AsyncSession, subscription: Subscription | None, payment: Payment
) -> SavedMethod | None:
    """The method to charge: the subscription's default saved method, else the one checkout left on it, else the
    payment's own. None when nothing is saved (the charge fails without reaching a processor)."""
    candidates: list[tuple[str | None, str | None, str | None]] = []
    if subscription is not None:
        candidates += [
            (subscription.default_payment_method_id, None, None),
            (None, subscription.processor_id, subscription.payment_method_reference),
        ]
    candidates += [
        (payment.payment_method_id, None, None),
        (None, payment.processor_id, payment.payment_method_reference),
    ]
    for method_id, processor_id, reference in candidates:
        if method_id is not None:
            method = await session.get(SavedPaymentMethod, method_id)
            if method is not None and method.is_active:
                return SavedMethod(
                    method.processor_id, method.processor_reference, method.id, method.processor_customer_reference
                )
        elif processor_id is not None and reference is not None:
            return SavedMethod(processor_id, reference)
    return None


async def new_invoice_payment(session: AsyncSession, invoice: Invoice, subscription: Subscription | None) -> Payment:
    """The payment that collects ``invoice`` (unique per invoice in the database)."""
    payment = Payment(
        id=new_id(PAYMENT_PREFIX),
        account_id=invoice.account_id,
        invoice_id=invoice.id,
        subscription_id=invoice.subscription_id,
        customer_id=invoice.customer_id,
        status=PROCESSING,
        amount_atom=invoice.total_atom,
        currency=invoice.currency,
        description=f"Invoice {invoice.number}",
        payment_metadata={},
    )
    session.add(payment)
    await session.flush()
    return payment


async def stage_charge(
    session: AsyncSession,
    payment: Payment,
    method: SavedMethod,
    *,
    lease: timedelta,
    now: datetime | None,
    owner: str | None = None,
) -> StagedCharge:
    """Add the payment's next charge as pending, leased to the caller (``owner``: the caller's name,
    :mod:`checkstand.payments.leases`); the caller commits before calling
    :func:`make_charge`. A concurrent stager of the same charge fails on its key (``IntegrityError``)."""
    count = await session.scalar(select(func.count()).where(PaymentCharge.payment_id == payment.id))
    key = f"{payment.id}-{int(count or 0) + 1}"
    payment.status = PROCESSING
    payment.processor_id = method.processor_id
    payment.payment_method_reference = method.reference
    payment.payment_method_id = method.payment_method_id
    charge = PaymentCharge(
        id=new_id(CHARGE_PREFIX),
        account_id=payment.account_id,
        payment_id=payment.id,
        customer_id=payment.customer_id,
        processor_id=method.processor_id,
        payment_method_id=method.payment_method_id,
        idempotency_key=key,
        amount_atom=payment.amount_atom,
        amount_refunded_atom=0,
        currency=payment.currency,
        status=CHARGE_PENDING,
        lease_expires_at=clock.now() + lease,
        lease_owner=owner,
    )
    session.add(charge)
    await session.flush()
    request = _request(payment, key, method.customer_reference)
    return StagedCharge(payment.account_id, charge.id, method.processor_id, request, now)


def _request(payment: Payment, key: str, customer_reference: str | None) -> ChargeRequest:
    """The charge of a saved method, the customer not there: with the processor's customer the method belongs to,
    which makes it off-session at Stripe."""
    assert payment.payment_method_reference is not None  # staged with its method
    return ChargeRequest(
        idempotency_key=key,
        amount_atom=payment.amount_atom,
        currency=payment.currency,
        payment_method=PaymentMethod(processor_reference=payment.payment_method_reference),
        description=payment.description,
        processor_customer_reference=customer_reference,
    )


async def _lock_payment(session: AsyncSession, account_id: str, payment_id: str) -> Payment:
    return await one_or_not_found(
        session,
        locked(select(Payment).where(Payment.account_id == account_id, Payment.id == payment_id)),
        "payment",
        payment_id,
    )


async def _has_pending_charge(session: AsyncSession, payment_id: str) -> bool:
    pending = await session.scalar(
        select(PaymentCharge.id).where(PaymentCharge.payment_id == payment_id, PaymentCharge.status == CHARGE_PENDING)
    )
    return pending is not None


async def begin_charge(
    session: AsyncSession, gateway: Gateway, payment: Payment, *, now: datetime | None
) -> StagedCharge | None:
    """Stage the payment's next charge, or, when no payment method is saved, fail it at once (the invoice goes
    into dunning: a method added meanwhile is charged at the next retry). None when nothing is to be called."""
    subscription = await session.get(Subscription, payment.subscription_id) if payment.subscription_id else None
    method = await saved_method(session, subscription, payment)
    if method is not None:
        return await stage_charge(
            session, payment, method, lease=gateway.policy.attempt_lease, now=now, owner=gateway.lease_owner
        )
    await _record_failure(session, gateway, payment, now, reason=NO_PAYMENT_METHOD)
    return None


# --- Charging -------------------------------------------------------------------------------------------------------


async def charge_payment(gateway: Gateway, payment_id: str, *, now: datetime | None = None) -> PaymentCharge | None:
    """Charge a payment off-session on its saved method, once: its next charge is committed pending, then made,
    then settled. None when there was nothing to charge (already paid, a charge already under way, or no method
    saved, which fails the attempt without a processor call)."""
    async with gateway.database.writing() as session:
        account_id = await session.scalar(select(Payment.account_id).where(Payment.id == payment_id))
        if account_id is None:
            return None
        payment = await _lock_payment(session, account_id, payment_id)
        if payment.status == SUCCEEDED or await _has_pending_charge(session, payment_id):
            return None
        staged = await begin_charge(session, gateway, payment, now=now)
        try:
            await session.commit()
        except IntegrityError:
            return None  # another process staged this very charge first
    if staged is None:
        return None
    return await make_charge(gateway, staged)


async def make_charge(gateway: Gateway, staged: StagedCharge) -> PaymentCharge | None:
    """Call the processor with no transaction open, the charge's lease renewed meanwhile, then settle. A processor
    that can't say what it did leaves the charge pending for :func:`recover_charges`; None then."""
    processor = await load_processor(gateway, staged.processor_id)
    async with leases.renewing(
        gateway.database, staged.charge_id, gateway.policy.attempt_lease, gateway.lease_owner, kind=leases.CHARGES
    ):
        try:
            async with adapter_for(gateway, processor) as adapter:
                result = await adapter.charge(staged.request)
        except OutcomeUnknown:
            return None
    return await settle_charge(gateway, staged.account_id, staged.charge_id, result, now=staged.now)


async def settle_charge(
    gateway: Gateway, account_id: str, charge_id: str, result: ChargeResult, *, now: datetime | None = None
) -> PaymentCharge:
    """Record a processor's answer and what it means for the payment, its invoice and its subscription, in one
    short transaction. An answer already recorded (recovery and the caller both settling) changes nothing."""
    refund: Refund | None = None
    async with gateway.database.writing() as session:
        charge = await one_or_not_found(
            session,
            locked(select(PaymentCharge).where(PaymentCharge.account_id == account_id, PaymentCharge.id == charge_id)),
            "payment_attempt",
            charge_id,
        )
        if charge.status != CHARGE_PENDING:
            return charge
        payment = await _lock_payment(session, account_id, charge.payment_id)
        at = now or await now_for_customer(session, payment.customer_id)
        charge.processor_reference = result.processor_reference
        charge.decline_code = result.decline_code
        charge.failure_message = result.processor_message
        charge.lease_expires_at = None
        if result.outcome is Outcome.SUCCEEDED:
            charge.status = SUCCEEDED
            charge.captured_at = at
            payment.status = SUCCEEDED
            payment.processor_reference = result.processor_reference
            payment.confirmed_at = at
            await session.flush()
            await record_event(session, account_id=account_id, type="payment.succeeded", obj=payment)
            if payment.invoice_id is not None:
                invoice = await invoices.lock_invoice(session, account_id, payment.invoice_id)
                refund = await settlement.invoice_paid(session, invoice, amount_atom=payment.amount_atom, now=at)
        else:
            # Off-session, a challenge can't be shown to anyone: it fails as Stripe's authentication_required does.
            charge.status = CHARGE_FAILED if result.outcome is Outcome.UNAVAILABLE else result.outcome.value
            await _record_failure(session, gateway, payment, at, reason=result.decline_code)
        await session.commit()
    if refund is not None:
        # Money taken for a plan change that could no longer apply: given back now its refund is committed.
        await refunds.make_staged_refunds(gateway, account_id, refund.payment_id)
    return charge


async def _record_failure(
    session: AsyncSession, gateway: Gateway, payment: Payment, now: datetime | None, *, reason: str | None
) -> None:
    payment.status = FAILED
    payment.payment_metadata = {**payment.payment_metadata, "failure_reason": reason or "declined"}
    await session.flush()
    await record_event(session, account_id=payment.account_id, type="payment.failed", obj=payment)
    if payment.invoice_id is None:
        return
    at = now or await now_for_customer(session, payment.customer_id)
    invoice = await invoices.lock_invoice(session, payment.account_id, payment.invoice_id)
    await settlement.invoice_failed(session, invoice, policy=gateway.policy.dunning, now=at)


# --- Recovery -----------------------------------------------------------------------------------------------------


async def recover_charges(gateway: Gateway) -> int:
    """Settle the charges left pending past their lease (their process died between the commit and the settle):
    the processor is asked with the same key; one that never received it is sent the charge now, with that same
    key, so it is made once whoever else still tries. Returns how many were settled."""
    async with gateway.database.reading() as session:
        stale = (
            await session.scalars(
                select(PaymentCharge)
                .where(PaymentCharge.status == CHARGE_PENDING, PaymentCharge.lease_expires_at <= clock.now())
                .order_by(PaymentCharge.lease_expires_at)
                .limit(RECOVERY_BATCH)
            )
        ).all()
        payments = {charge.id: await session.get(Payment, charge.payment_id) for charge in stale}
        # Sent again as it was first: with the saved method's processor customer, if it has one.
        customers: dict[str, str | None] = {}
        for charge in stale:
            method_id = charge.payment_method_id
            method = await session.get(SavedPaymentMethod, method_id) if method_id is not None else None
            customers[charge.id] = method.processor_customer_reference if method is not None else None
    settled = 0
    for charge in stale:
        payment = payments[charge.id]
        assert payment is not None  # a charge's payment is deleted with it
        processor = await load_processor(gateway, charge.processor_id)
        try:
            async with adapter_for(gateway, processor) as adapter:
                result = await adapter.lookup(charge.idempotency_key)
                if result is None:
                    result = await adapter.charge(_request(payment, charge.idempotency_key, customers[charge.id]))
        except OutcomeUnknown:
            continue
        await settle_charge(gateway, charge.account_id, charge.id, result)
        settled += 1
    return settled
