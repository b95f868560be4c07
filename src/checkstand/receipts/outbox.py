"""Owing a receipt: a ``receipt_emails`` row written in the transaction that records a payment's success.

Each ``payment.succeeded`` owes its customer one receipt: a checkout's payment, a renewal's or a dunning retry's
charge, a merchant's own off-session charge. ``invoice.paid`` owes none of its own: an invoice paid with money is
paid by exactly one payment (unique per invoice), whose ``payment.succeeded`` is recorded in the same transaction
and whose receipt shows the invoice; one paid with nothing charged (a credit balance, a 100 % discount) took no
money, so there is nothing to give a receipt for (Stripe's receipts are per charge too).

Why a hook where the event is recorded (:func:`checkstand.events.service.add_event_hook`) rather than a worker pass
over new events: a row written with the event commits with the payment or not at all, so no receipt is lost and
none is owed for a payment that rolled back; a pass would need a cursor over event ``seq``, which a transaction
committing late can step over (the events module says why). The row is unique per payment and inserted with
"on conflict do nothing", so recording the event twice can't owe two receipts, nor fail the payment.

A process with no SMTP server configured adds no hook: it owes no receipts, and none is sent later for its payments.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.ids import new_id
from checkstand.customers.models import Customer
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.events.service import add_event_hook
from checkstand.payments.models import Payment
from checkstand.receipts.models import PENDING, RECEIPT_PREFIX, ReceiptEmail

RECEIPT_EVENT: Final = "payment.succeeded"


def watch(database: Database) -> None:
    """Owe a receipt for every payment that succeeds in a transaction of ``database`` from now on."""
    add_event_hook(database.writing, owe_receipt)
    add_event_hook(database.reading, owe_receipt)


def recipient(customer: Customer) -> str | None:
    """Where a customer's receipts go: the billing email when there is one, as invoices are sent."""
    return customer.billing_email or customer.email or None


async def owe_receipt(session: AsyncSession, event: Event) -> None:
    """Add the receipt a succeeded payment owes, unless it took no money or its customer has no email."""
    if event.type != RECEIPT_EVENT:
        return
    payment = await session.get(Payment, event.aggregate_id)
    if payment is None or payment.amount_atom <= 0:
        return
    customer = await session.get(Customer, payment.customer_id)
    address = recipient(customer) if customer is not None else None
    if address is None:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = clock.now()
    await session.execute(
        insert(ReceiptEmail)
        .values(
            id=new_id(RECEIPT_PREFIX),
            account_id=payment.account_id,
            payment_id=payment.id,
            recipient=address,
            status=PENDING,
            attempt_count=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["payment_id"])
    )
