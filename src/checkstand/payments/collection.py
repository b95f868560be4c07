"""Collecting an invoice now, outside the dunning schedule: the SDK's ``collect_invoice``, its
``create_payment_attempt`` (one more charge of a payment intent), and the overdue invoices a subscription settles at
once when its default payment method is replaced (a card changed during dunning, :func:`update_subscription`).

Each collection is one off-session charge (:mod:`checkstand.payments.off_session`): the invoice and its payment are
locked, the charge committed as pending with its idempotency key, the processor called with no transaction open, and
the answer settled with what it means for the invoice and its subscription (paid: the subscription is active again,
or active for the first time when it was ``incomplete``). A payment with a charge under way is never charged beside
it: the second caller gets a conflict, so an invoice is charged once however many collects, retries and workers race.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import BusinessRuleViolation, Conflict, FieldProblem, InvalidFields
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.customers.models import Customer
from checkstand.invoices import service as invoices
from checkstand.invoices.models import DRAFT, OPEN, PAST_DUE, Invoice
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import off_session, settlement
from checkstand.payments.adapters import Gateway
from checkstand.payments.models import CHARGE_PENDING, SUCCEEDED, Payment, PaymentCharge
from checkstand.subscriptions import changes, lifecycle
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from checkstand.test_clocks.service import now_for_customer

# The SDK's ``CollectInvoiceResponse.payment_status``, plus ``processing`` for a processor that could not say.
PAYMENT_PAID: Final = "paid"
PAYMENT_FAILED: Final = "failed"
PAYMENT_PROCESSING: Final = "processing"
NO_PAYMENT_METHOD: Final = off_session.NO_PAYMENT_METHOD
COLLECTABLE: Final = frozenset({DRAFT, OPEN, PAST_DUE})


@dataclass(frozen=True)
class Collection:
    """What a collection did: the invoice as it now stands and how its payment went."""

    invoice: Invoice
    payment_status: str
    error_message: str | None = None


async def _pending_charge(session: AsyncSession, payment_id: str) -> bool:
    found = await session.scalar(
        select(PaymentCharge.id).where(PaymentCharge.payment_id == payment_id, PaymentCharge.status == CHARGE_PENDING)
    )
    return found is not None


def _being_collected(invoice_id: str) -> Conflict:
    return Conflict(f"Invoice {invoice_id} is being collected right now.", code="invoice_being_collected")


async def _stage_invoice(
    session: AsyncSession, gateway: Gateway, invoice: Invoice
) -> tuple[off_session.StagedCharge | None, str | None]:
    """In the caller's transaction, the invoice locked: the charge to make (staged pending), or the payment status
    already decided (a zero invoice paid, no method saved: failed without a processor call)."""
    if invoice.status not in COLLECTABLE:
        raise Conflict(f"Invoice {invoice.id} is already {invoice.status}.", code=f"invoice_{invoice.status}")
    now = await now_for_customer(session, invoice.customer_id)
    if invoice.status == DRAFT:
        invoice.status = OPEN  # collecting a draft finalizes it, as the SDK says
    subscription = (
        await lifecycle.lock_subscription(session, invoice.account_id, invoice.subscription_id)
        if invoice.subscription_id is not None
        else None
    )
    if invoice.remaining_atom == 0:
        await settlement.invoice_paid(session, invoice, amount_atom=0, now=now)
        return None, PAYMENT_PAID
    payment = await session.scalar(select(Payment).where(Payment.invoice_id == invoice.id))
    if payment is None:
        payment = await off_session.new_invoice_payment(session, invoice, subscription)
    elif payment.status == SUCCEEDED or await _pending_charge(session, payment.id):
        raise _being_collected(invoice.id)
    if subscription is None and payment.payment_method_id is None:
        await _use_customer_default(session, payment)
    staged = await off_session.begin_charge(session, gateway, payment, now=now)
    return staged, None if staged is not None else NO_PAYMENT_METHOD


async def _use_customer_default(session: AsyncSession, payment: Payment) -> None:
    """An invoice of no subscription is charged on its customer's newest attached method, as Stripe falls back to
    the customer's default; with none, the payment stays without one and the collection finds nothing to charge."""
    method = await session.scalar(
        select(SavedPaymentMethod)
        .where(
            SavedPaymentMethod.account_id == payment.account_id,
            SavedPaymentMethod.customer_id == payment.customer_id,
            SavedPaymentMethod.is_active.is_(True),
        )
        .order_by(SavedPaymentMethod.created_at.desc(), SavedPaymentMethod.id.desc())
        .limit(1)
    )
    if method is not None:
        payment.payment_method_id = method.id
        payment.processor_id = method.processor_id
        payment.payment_method_reference = method.processor_reference


async def collect_invoice(gateway: Gateway, account_id: str, invoice_id: str) -> Collection:
    """Charge an open or past-due invoice now on the default saved method of its subscription (else of its last
    payment), once. A paid, void or uncollectible invoice is a conflict, as is one whose charge is under way."""
    async with gateway.database.writing() as session:
        invoice = await invoices.lock_invoice(session, account_id, invoice_id)
        staged, decided = await _stage_invoice(session, gateway, invoice)
        try:
            await session.commit()
        except IntegrityError:
            raise _being_collected(invoice_id) from None  # a racing retry staged this very charge first
    charge = await off_session.make_charge(gateway, staged) if staged is not None else None
    async with gateway.database.reading() as session:
        invoice = await invoices.get_invoice(session, account_id, invoice_id)
    if decided is not None:
        return Collection(
            invoice, decided, "no saved payment method to charge" if decided == NO_PAYMENT_METHOD else None
        )
    if charge is None:
        return Collection(invoice, PAYMENT_PROCESSING, "the processor did not answer; the charge is settled later")
    if charge.status == SUCCEEDED:
        return Collection(invoice, PAYMENT_PAID)
    return Collection(invoice, PAYMENT_FAILED, charge.failure_message or charge.decline_code or "declined")


async def settle_past_due(gateway: Gateway, account_id: str, subscription_id: str) -> list[Collection]:
    """A subscription's default payment method was replaced: collect its past-due invoices at once, oldest first,
    with the new method (``DunningSettings.settle_past_due_on_pm_update``), which brings it back to active (or, for
    an ``incomplete`` one, active for the first time) when they are paid. Stops at the first that fails: the rest
    would fail on the same card. An invoice already being collected is left to that collection."""
    if not gateway.policy.dunning.settle_past_due_on_pm_update:
        return []
    async with gateway.database.reading() as session:
        overdue = (
            await session.scalars(
                select(Invoice.id)
                .where(
                    Invoice.account_id == account_id,
                    Invoice.subscription_id == subscription_id,
                    Invoice.status == PAST_DUE,
                )
                .order_by(Invoice.issued_at, Invoice.id)
            )
        ).all()
    done: list[Collection] = []
    for invoice_id in overdue:
        try:
            collection = await collect_invoice(gateway, account_id, invoice_id)
        except Conflict:
            continue
        done.append(collection)
        if collection.payment_status != PAYMENT_PAID:
            break
    return done


async def update_subscription(
    session: AsyncSession, gateway: Gateway, account_id: str, subscription_id: str, fields: Mapping[str, Any]
) -> tuple[Subscription, list[str]]:
    """The SDK's ``update_subscription`` in the request's unit of work ``session``: the subscription as it now stands
    and the fields changed. A new default payment method is charged at once for the past-due invoices
    (:func:`settle_past_due`); their charges commit before each processor call and settle after it in transactions
    of their own, so the change is committed first (no transaction of the request's stays open across a call) and
    the subscription read again as they left it."""
    subscription, updated = await changes.update_subscription(session, account_id, subscription_id, fields)
    if "default_payment_method_id" not in updated:
        return subscription, updated
    await session.commit()
    if await settle_past_due(gateway, account_id, subscription_id):
        session.expire(subscription)
        subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    return subscription, updated


# --- One more attempt of a payment intent ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAttempt:
    """The SDK's ``create_payment_attempt`` body: an attempt charges the whole payment, so its amount and currency
    must be the payment's own (they are checked, not chosen)."""

    payment_id: str
    amount_atom: int
    currency: str
    metadata: Mapping[str, Any] | None = None


async def create_attempt(gateway: Gateway, account_id: str, new: NewAttempt) -> tuple[PaymentCharge, Payment]:
    """Charge a payment intent once more on the saved method it would be charged on now (its subscription's default,
    else its own): a failed invoice payment or a merchant's own payment. Checkout payments are the checkout's to
    charge, a paid payment or one with a charge under way is a conflict, and a payment with nothing saved to charge
    is refused before anything is written. Answers the attempt as settled (``pending`` if the processor could not
    say) and its payment."""
    async with gateway.database.writing() as session:
        payment = await one_or_not_found(
            session,
            locked(select(Payment).where(Payment.account_id == account_id, Payment.id == new.payment_id)),
            "payment_intent",
            new.payment_id,
        )
        _check_attempt(payment, new)
        if payment.status == SUCCEEDED or await _pending_charge(session, payment.id):
            raise Conflict(
                f"Payment {payment.id} is {payment.status}: it is not charged again.", code="payment_settled"
            )
        subscription = await session.get(Subscription, payment.subscription_id) if payment.subscription_id else None
        if await off_session.saved_method(session, subscription, payment) is None:
            raise BusinessRuleViolation(
                f"Payment {payment.id} has no saved payment method to charge.", code=NO_PAYMENT_METHOD
            )
        if payment.invoice_id is not None:
            invoice = await invoices.lock_invoice(session, account_id, payment.invoice_id)
            if invoice.status not in COLLECTABLE:
                raise Conflict(f"Invoice {invoice.id} is already {invoice.status}.", code=f"invoice_{invoice.status}")
        staged = await off_session.begin_charge(session, gateway, payment, now=None)
        assert staged is not None  # a saved method was found above, in this transaction
        try:
            await session.commit()
        except IntegrityError:
            raise Conflict(f"Payment {payment.id} is being charged right now.", code="payment_being_charged") from None
    await off_session.make_charge(gateway, staged)
    async with gateway.database.reading() as session:
        charge = await one_or_not_found(
            session,
            select(PaymentCharge).where(PaymentCharge.id == staged.charge_id),
            "payment_attempt",
            new.payment_id,
        )
        settled = await session.get(Payment, charge.payment_id, populate_existing=True)
        assert settled is not None  # a charge's payment is deleted with it
        return charge, settled


def _check_attempt(payment: Payment, new: NewAttempt) -> None:
    if payment.checkout_session_id is not None:
        raise Conflict(
            f"Payment {payment.id} belongs to a checkout session: the customer pays it on the checkout page.",
            code="checkout_payment",
        )
    problems = []
    if new.amount_atom != payment.amount_atom:
        problems.append(FieldProblem(("amount_atom",), f"an attempt charges the whole payment: {payment.amount_atom}"))
    if new.currency.lower() != payment.currency:
        problems.append(FieldProblem(("currency",), f"must be the payment's currency, {payment.currency}"))
    if new.metadata:
        problems.append(
            FieldProblem(
                ("metadata",), "payment attempts keep no metadata; set it on the payment intent", "not_supported"
            )
        )
    if problems:
        raise InvalidFields(problems)


@dataclass(frozen=True)
class InvoiceRelated:
    """What a read of invoices shows beside them, one query per kind: the succeeded payments that paid each (the
    SDK's ``PaymentAllocation``), by invoice id, and the customers' emails, by customer id."""

    payments: dict[str, list[Payment]]
    emails: dict[str, str | None]


async def invoice_related(session: AsyncSession, account_id: str, found: Sequence[Invoice]) -> InvoiceRelated:
    invoice_ids = [invoice.id for invoice in found]
    customer_ids = {invoice.customer_id for invoice in found}
    payments: dict[str, list[Payment]] = {}
    emails: dict[str, str | None] = {}
    if invoice_ids:
        paid = await session.scalars(
            select(Payment)
            .where(Payment.account_id == account_id, Payment.invoice_id.in_(invoice_ids), Payment.status == SUCCEEDED)
            .order_by(Payment.created_at, Payment.id)
        )
        for payment in paid:
            assert payment.invoice_id is not None  # selected by it
            payments.setdefault(payment.invoice_id, []).append(payment)
        rows = await session.execute(
            select(Customer.id, Customer.email).where(Customer.account_id == account_id, Customer.id.in_(customer_ids))
        )
        emails = {row.id: row.email for row in rows}
    return InvoiceRelated(payments, emails)
