"""What a receipt says, read when it is sent, and the email that says it (plain text and simple HTML).

The email carries no remote asset (no image, stylesheet or tracking pixel): mail clients block them, and a receipt
must read the same offline. Amounts and dates are formatted with Babel as the hosted page formats them, in English
until sessions carry a locale.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Final

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts.models import Account
from checkstand.checkout.models import CheckoutSession
from checkstand.core.money import format_money
from checkstand.invoices.models import Invoice
from checkstand.invoices.renewal import preview_renewal
from checkstand.payments.models import Payment
from checkstand.receipts.models import ReceiptEmail
from checkstand.subscriptions.models import ACTIVE, TRIALING, Subscription

LOCALE: Final = "en_US"

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    auto_reload=False,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    quantity: int
    amount: str


@dataclass(frozen=True)
class NextCharge:
    amount: str
    on: str


@dataclass(frozen=True)
class Receipt:
    """Everything the email shows, formatted."""

    merchant: str
    amount: str
    paid_on: str
    lines: tuple[ReceiptLine, ...]
    discount: str | None
    invoice_number: int | None
    payment_id: str
    next_charge: NextCharge | None
    merchant_url: str | None

    @property
    def reference(self) -> str:
        if self.invoice_number is None:
            return self.payment_id
        return f"Invoice #{self.invoice_number} (payment {self.payment_id})"


def _one_line(text: str) -> str:
    """A merchant's or product's name as one header-safe line: whatever whitespace it holds becomes one space."""
    return re.sub(r"\s+", " ", text).strip()


async def read_receipt(session: AsyncSession, receipt: ReceiptEmail) -> Receipt:
    """The receipt as its payment, invoice and subscription are now (the invoice paid, the period moved on)."""
    payment = await session.get(Payment, receipt.payment_id)
    account = await session.get(Account, receipt.account_id)
    # The receipt's foreign keys keep both.
    assert payment is not None
    assert account is not None
    invoice = await session.get(Invoice, payment.invoice_id) if payment.invoice_id is not None else None
    subscription = (
        await session.get(Subscription, payment.subscription_id) if payment.subscription_id is not None else None
    )

    def money(minor: int) -> str:
        return format_money(minor, payment.currency, LOCALE)

    def day(moment: datetime) -> str:
        return str(format_date(moment, format="long", locale=LOCALE))

    if invoice is not None:
        lines = tuple(
            ReceiptLine(_one_line(line.name), line.quantity, money(line.amount_atom)) for line in invoice.lines
        )
    else:
        lines = (ReceiptLine(_one_line(payment.description or "Payment"), 1, money(payment.amount_atom)),)
    return Receipt(
        merchant=_one_line(str(account.brand_settings.get("name") or account.name)),
        amount=money(payment.amount_atom),
        paid_on=day(invoice.paid_at if invoice is not None and invoice.paid_at is not None else payment.created_at),
        lines=lines,
        discount=money(invoice.discount_atom) if invoice is not None and invoice.discount_atom > 0 else None,
        invoice_number=invoice.number if invoice is not None else None,
        payment_id=payment.id,
        next_charge=await _next_charge(session, subscription, money, day),
        merchant_url=await _merchant_url(session, payment, subscription),
    )


async def _next_charge(
    session: AsyncSession,
    subscription: Subscription | None,
    money: Callable[[int], str],
    day: Callable[[datetime], str],
) -> NextCharge | None:
    """What the subscription charges next and when, unless it ends at this period's end (nothing is coming)."""
    if subscription is None or subscription.status not in (ACTIVE, TRIALING) or subscription.cancel_at_period_end:
        return None
    preview = await preview_renewal(session, subscription)
    return NextCharge(amount=money(preview.total_atom), on=day(preview.period_start))


async def _merchant_url(session: AsyncSession, payment: Payment, subscription: Subscription | None) -> str | None:
    """Where the customer goes back to the merchant: the return URL of the checkout that sold it, if any."""
    checkout_id = payment.checkout_session_id or (subscription.checkout_session_id if subscription else None)
    checkout = await session.get(CheckoutSession, checkout_id) if checkout_id is not None else None
    if checkout is None or not checkout.return_url.startswith(("https://", "http://")):
        return None
    return checkout.return_url


def message(receipt: Receipt, *, receipt_id: str, sender: str, recipient: str, sent_at: datetime) -> EmailMessage:
    """The email: plain text, with the same content in simple HTML as an alternative. Its Message-ID is the
    receipt's own, the same on every attempt, so a mail system that got it twice can tell."""
    name, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "checkstand.invalid"
    email = EmailMessage()
    email["Subject"] = f"Your receipt from {receipt.merchant}"
    email["From"] = Address(display_name=name, addr_spec=address) if name else address
    email["To"] = recipient
    email["Date"] = format_datetime(sent_at)
    email["Message-ID"] = f"<{receipt_id}@{domain}>"
    email.set_content(_templates.get_template("receipt.txt").render(receipt=receipt))
    email.add_alternative(_templates.get_template("receipt.html").render(receipt=receipt), subtype="html")
    return email
