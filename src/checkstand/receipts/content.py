"""What a receipt says, read when it is sent, and the email that says it (plain text and simple HTML).

The email carries no remote asset (no image, stylesheet or tracking pixel): mail clients block them, and a receipt
must read the same offline. It speaks the language of the checkout that sold the payment (its ``locale``, or for
``auto`` the one its customer's browser resolved to when paying), words from this module's catalogs
(``locales/``) and amounts and dates formatted by Babel as the hosted page formats them; English when there is no
checkout to ask.
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
from checkstand.core import i18n
from checkstand.core.i18n import gettext
from checkstand.core.money import format_money
from checkstand.invoices.models import Invoice
from checkstand.invoices.renewal import preview_renewal
from checkstand.payments.models import Payment
from checkstand.receipts.models import ReceiptEmail
from checkstand.subscriptions.models import ACTIVE, TRIALING, Subscription

CATALOGS: Final = i18n.Catalogs(Path(__file__).parent / "locales")

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    auto_reload=False,
    keep_trailing_newline=True,
)
i18n.install(_templates)


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
    language: str = i18n.SOURCE_LANGUAGE

    @property
    def reference(self) -> str:
        """Read while the receipt's language is spoken (:func:`message`)."""
        if self.invoice_number is None:
            return self.payment_id
        return gettext("Invoice #%(number)s (payment %(payment)s)", number=self.invoice_number, payment=self.payment_id)


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

    checkout = await _checkout(session, payment, subscription)
    locale = _locale(checkout)

    def money(minor: int) -> str:
        return format_money(minor, payment.currency, locale.formatting)

    def day(moment: datetime) -> str:
        return str(format_date(moment, format="long", locale=locale.formatting))

    if invoice is not None:
        lines = tuple(
            ReceiptLine(_one_line(line.name), line.quantity, money(line.amount_atom)) for line in invoice.lines
        )
    else:
        with CATALOGS.speaking(locale.language):
            description = payment.description or gettext("Payment")
        lines = (ReceiptLine(_one_line(description), 1, money(payment.amount_atom)),)
    return Receipt(
        merchant=_one_line(str(account.brand_settings.get("name") or account.name)),
        amount=money(payment.amount_atom),
        paid_on=day(invoice.paid_at if invoice is not None and invoice.paid_at is not None else payment.created_at),
        lines=lines,
        discount=money(invoice.discount_atom) if invoice is not None and invoice.discount_atom > 0 else None,
        invoice_number=invoice.number if invoice is not None else None,
        payment_id=payment.id,
        next_charge=await _next_charge(session, subscription, money, day),
        merchant_url=_merchant_url(checkout),
        language=locale.language,
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


async def _checkout(
    session: AsyncSession, payment: Payment, subscription: Subscription | None
) -> CheckoutSession | None:
    """The checkout that sold the payment, or the subscription it renews, if any."""
    checkout_id = payment.checkout_session_id or (subscription.checkout_session_id if subscription else None)
    return await session.get(CheckoutSession, checkout_id) if checkout_id is not None else None


def _locale(checkout: CheckoutSession | None) -> i18n.ResolvedLocale:
    """The checkout's own locale, else what its page resolved ``auto`` to for the customer who paid, else
    English: the worker has no browser to ask."""
    if checkout is None:
        return i18n.ENGLISH
    requested = checkout.locale if checkout.locale != i18n.AUTO else checkout.customer_locale
    return i18n.resolve(requested, None)


def _merchant_url(checkout: CheckoutSession | None) -> str | None:
    """Where the customer goes back to the merchant: the return URL of the checkout that sold it, if any."""
    if checkout is None or not checkout.return_url.startswith(("https://", "http://")):
        return None
    return checkout.return_url


def message(receipt: Receipt, *, receipt_id: str, sender: str, recipient: str, sent_at: datetime) -> EmailMessage:
    """The email: plain text, with the same content in simple HTML as an alternative. Its Message-ID is the
    receipt's own, the same on every attempt, so a mail system that got it twice can tell."""
    name, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "checkstand.invalid"
    email = EmailMessage()
    with CATALOGS.speaking(receipt.language):
        email["Subject"] = gettext("Your receipt from %(merchant)s", merchant=receipt.merchant)
        email["From"] = Address(display_name=name, addr_spec=address) if name else address
        email["To"] = recipient
        email["Date"] = format_datetime(sent_at)
        email["Message-ID"] = f"<{receipt_id}@{domain}>"
        email.set_content(_templates.get_template("receipt.txt").render(receipt=receipt))
        email.add_alternative(
            _templates.get_template("receipt.html").render(receipt=receipt, html_lang=receipt.language), subtype="html"
        )
    return email
