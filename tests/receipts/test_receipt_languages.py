"""Receipts in the customer's language, on both backends, through the real SMTP server: the session's own
``locale``, else the language its page resolved ``auto`` to when the customer paid, else English."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout
from checkstand.checkout.models import CheckoutSession
from checkstand.db import Database
from checkstand.invoices.models import Invoice
from checkstand.payments import flow as payment_flow
from checkstand.payments.models import Payment
from checkstand.settings import Settings
from checkstand.worker import Worker
from tests.payments import flow
from tests.payments.flow import paying
from tests.receipts.conftest import SmtpServer
from tests.receipts.test_receipts import body
from tests.shop import Shop


async def pay(
    database: Database, session: AsyncSession, shop: Shop, *, locale: str, customer_locale: str | None
) -> Payment:
    await flow.simulator(session, shop.account_id)
    created = await checkout.create_session(
        session,
        shop.account_id,
        checkout.NewCheckoutSession(
            success_url="https://shop.test/ok",
            return_url="https://shop.test/back",
            line_items=[checkout.LineItemSpec(price_id=shop.tshirt)],
            locale=locale,
        ),
    )
    if customer_locale is not None:
        await checkout.remember_customer_locale(session, created, customer_locale)
    await session.commit()
    await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())
    payment = await session.scalar(
        select(Payment).where(Payment.checkout_session_id == created.id).execution_options(populate_existing=True)
    )
    assert payment is not None
    await session.commit()
    return payment


async def send_receipts(worker: Worker) -> None:
    """One pass owes the receipt (the payment's event), the next sends it."""
    await worker.run_jobs()
    await worker.run_jobs()


def html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


async def test_a_german_session_s_receipt_is_in_german(
    database: Database, session: AsyncSession, shop: Shop, mailing: Settings, smtp: SmtpServer
) -> None:
    worker = Worker(database, mailing)  # made first: it is what owes receipts for the payments that follow
    payment = await pay(database, session, shop, locale="de", customer_locale="fr")
    invoice = await session.get(Invoice, payment.invoice_id)
    assert invoice is not None
    await session.commit()

    await send_receipts(worker)

    [email] = smtp.inbox.messages
    assert email["Subject"] == "Ihre Quittung von Shop"
    text = body(email)
    assert "Gezahlter Betrag: 19,99\xa0$" in text
    assert f"Referenz: Rechnung Nr. {invoice.number} (Zahlung {payment.id})" in text
    assert "Zurück zu Shop: https://shop.test/back" in text
    assert "Amount paid" not in text
    assert '<html lang="de">' in html(email)
    assert "Ihr Kauf" in html(email)


async def test_an_auto_session_s_receipt_speaks_what_its_page_resolved_when_the_customer_paid(
    database: Database, session: AsyncSession, shop: Shop, mailing: Settings, smtp: SmtpServer
) -> None:
    worker = Worker(database, mailing)
    await pay(database, session, shop, locale="auto", customer_locale="fr_FR")

    await send_receipts(worker)

    [email] = smtp.inbox.messages
    assert email["Subject"] == "Votre reçu de Shop"
    assert "Montant payé : 19,99\xa0$US" in body(email)


async def test_a_session_without_a_language_sends_its_receipt_in_english(
    database: Database, session: AsyncSession, shop: Shop, mailing: Settings, smtp: SmtpServer
) -> None:
    worker = Worker(database, mailing)
    payment = await pay(database, session, shop, locale="auto", customer_locale=None)
    stored = await session.scalar(
        select(CheckoutSession.customer_locale).where(CheckoutSession.id == payment.checkout_session_id)
    )
    await session.commit()  # a writing session holds SQLite's write lock until it ends

    await send_receipts(worker)

    [email] = smtp.inbox.messages
    assert stored is None
    assert email["Subject"] == "Your receipt from Shop"
    assert "Amount paid: $19.99" in body(email)
