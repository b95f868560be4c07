"""What a paid session's page shows: Checkstand's own confirmation, whenever its link is opened again.

The amount charged, when, what was bought, a reference (the payment's id, the one its email receipt gives), the
next charge of a subscription it started, the address the receipt went to (only with SMTP configured: without it no
receipt is sent, and the page says nothing of one), and the way back to the merchant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import PRIMARY_TIER, CheckoutSession
from checkstand.core.i18n import gettext
from checkstand.invoices.renewal import preview_renewal
from checkstand.payments.models import Payment
from checkstand.receipts.models import ReceiptEmail
from checkstand.subscriptions.models import ACTIVE, TRIALING, Subscription


@dataclass(frozen=True)
class Confirmation:
    amount: str
    paid_on: str | None
    items: tuple[str, ...]
    reference: str | None
    next_charge: str | None
    receipt_email: str | None


async def confirmation(
    session: AsyncSession,
    checkout: CheckoutSession,
    money: Callable[[int], str],
    quantity_and_name: Callable[[int, str], str],
    locale: str,
    *,
    sends_receipts: bool,
) -> Confirmation:
    payment = await session.scalar(select(Payment).where(Payment.checkout_session_id == checkout.id))
    subscription = await session.scalar(select(Subscription).where(Subscription.checkout_session_id == checkout.id))
    tier = checkout.succeeded_tier if checkout.succeeded_tier is not None else PRIMARY_TIER
    items = tuple(
        quantity_and_name(item.quantity, item.product_name) for item in checkout_service.tier_items(checkout, tier)
    )
    receipt_email = None
    if sends_receipts and payment is not None:
        receipt_email = await session.scalar(
            select(ReceiptEmail.recipient).where(ReceiptEmail.payment_id == payment.id)
        )
    next_charge = None
    if subscription is not None and subscription.status in (ACTIVE, TRIALING) and not subscription.cancel_at_period_end:
        preview = await preview_renewal(session, subscription)
        on = format_date(preview.period_start, format="long", locale=locale)
        next_charge = gettext("%(amount)s on %(date)s", amount=money(preview.total_atom), date=on)
    return Confirmation(
        amount=money(payment.amount_atom if payment is not None else checkout.amount_due_today_atom),
        paid_on=None
        if checkout.completed_at is None
        else format_date(checkout.completed_at, format="long", locale=locale),
        items=items,
        reference=None if payment is None else payment.id,
        next_charge=next_charge,
        receipt_email=receipt_email,
    )
