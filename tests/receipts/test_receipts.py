"""Receipts by email, on both backends, through a real SMTP server: a paid checkout and a renewal each send one,
nothing is owed without an SMTP server, a server that is down gets the receipt once it is back (once), racing
workers send it once, and the SMTP password is never logged."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.invoices.models import Invoice
from checkstand.payments import flow as payment_flow
from checkstand.payments.models import Payment
from checkstand.receipts import sending
from checkstand.receipts.models import FAILED, PENDING, SENT, ReceiptEmail
from checkstand.settings import Settings
from checkstand.worker import Worker
from tests.invoices.factory import billing
from tests.payments import flow
from tests.payments.flow import paying
from tests.payments.test_renewals import advance
from tests.receipts.conftest import PASSWORD, SENDER, SmtpServer
from tests.shop import Shop
from tests.support import connect_url

START = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)


def body(message: object) -> str:
    assert isinstance(message, EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    return str(text.get_content())


async def pay_tshirt(database: Database, session: AsyncSession, shop: Shop) -> Payment:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())
    payment = await session.scalar(
        select(Payment).where(Payment.checkout_session_id == created.id).execution_options(populate_existing=True)
    )
    assert payment is not None
    await session.commit()  # a writing session holds SQLite's write lock until it ends
    return payment


async def receipts(session: AsyncSession, account_id: str) -> list[ReceiptEmail]:
    found = await session.scalars(
        select(ReceiptEmail)
        .where(ReceiptEmail.account_id == account_id)
        .order_by(ReceiptEmail.created_at, ReceiptEmail.id)
        .execution_options(populate_existing=True)
    )
    kept = list(found)
    await session.commit()
    return kept


async def test_a_paid_checkout_sends_one_receipt(
    database: Database, session: AsyncSession, shop: Shop, mailing: Settings, smtp: SmtpServer
) -> None:
    worker = Worker(database, mailing)
    payment = await pay_tshirt(database, session, shop)
    invoice = await session.get(Invoice, payment.invoice_id)
    assert invoice is not None
    await session.commit()

    await worker.run_jobs()
    await worker.run_jobs()

    assert len(smtp.inbox.messages) == 1
    email = smtp.inbox.messages[0]
    assert email["To"] == "ada@example.test"
    assert email["From"] == SENDER
    assert email["Message-ID"] == f"<{(await receipts(session, shop.account_id))[0].id}@shop.test>"
    text = body(email)
    assert "Amount paid: $19.99" in text
    assert f"Invoice #{invoice.number} (payment {payment.id})" in text
    assert "Back to" in text
    assert "https://shop.test/back" in text
    html = email.get_body(preferencelist=("html",))
    assert html is not None
    assert "$19.99" in str(html.get_content())
    assert "src=" not in str(html.get_content())  # no remote asset
    [receipt] = await receipts(session, shop.account_id)
    assert (receipt.status, receipt.attempt_count, receipt.recipient) == (SENT, 1, "ada@example.test")


async def test_a_renewal_on_a_test_clock_sends_a_receipt_with_the_next_charge(
    database: Database, session: AsyncSession, merchant: tuple[str, str], mailing: Settings, smtp: SmtpServer
) -> None:
    account_id, _ = merchant
    worker = Worker(database, mailing)
    setup = await billing(database, session, account_id, frozen_time=START)
    assert setup.clock_id is not None

    await advance(flow.gateway(database), session, account_id, setup.clock_id, START + timedelta(days=30))
    await worker.run_jobs()

    [renewal] = await session.scalars(
        select(Payment).where(Payment.subscription_id == setup.subscription_id, Payment.invoice_id.is_not(None))
    )
    await session.commit()
    assert len(smtp.inbox.messages) == 1
    text = body(smtp.inbox.messages[0])
    assert "Amount paid: $9.00" in text
    assert f"payment {renewal.id}" in text
    assert "Date paid: February 29, 2028" in text  # the clock's day, not the wall clock's
    assert "Next charge: $9.00 on March 31, 2028" in text


async def test_without_smtp_no_receipt_is_owed_or_sent(
    database: Database, session: AsyncSession, shop: Shop, settings: Settings, smtp: SmtpServer
) -> None:
    assert settings.smtp_url is None
    worker = Worker(database, settings)
    await pay_tshirt(database, session, shop)
    done = await worker.run_jobs()

    assert "send_receipts" not in done
    assert await session.scalar(select(func.count()).select_from(ReceiptEmail)) == 0
    await session.commit()
    assert smtp.inbox.messages == []


async def test_a_receipt_waits_for_a_server_that_is_down_and_is_sent_once_it_is_back(
    database: Database,
    session: AsyncSession,
    shop: Shop,
    mailing: Settings,
    smtp: SmtpServer,
    frozen_clock: FrozenClock,
) -> None:
    smtp.stop()
    Worker(database, mailing)
    await pay_tshirt(database, session, shop)

    assert await sending.send_due(database, mailing) == 1
    [receipt] = await receipts(session, shop.account_id)
    assert (receipt.status, receipt.attempt_count, receipt.sent_at) == (PENDING, 1, None)
    assert receipt.next_attempt_at is not None
    assert receipt.next_attempt_at > frozen_clock.now()
    assert receipt.last_error is not None
    assert await sending.send_due(database, mailing) == 0  # not due yet

    smtp.start()
    frozen_clock.advance(timedelta(minutes=2))
    assert await sending.send_due(database, mailing) == 1
    frozen_clock.advance(timedelta(hours=2))
    assert await sending.send_due(database, mailing) == 0

    assert len(smtp.inbox.messages) == 1
    [receipt] = await receipts(session, shop.account_id)
    assert (receipt.status, receipt.attempt_count) == (SENT, 2)


async def test_racing_workers_send_each_receipt_once(
    database: Database, database_url: str, session: AsyncSession, shop: Shop, mailing: Settings, smtp: SmtpServer
) -> None:
    Worker(database, mailing)
    await flow.simulator(session, shop.account_id)
    for _ in range(6):
        created = await flow.open_session(session, shop.account_id, [shop.tshirt])
        await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())
    assert len(await receipts(session, shop.account_id)) == 6

    # Several workers, each with its own engine (its own connections), passing at the same moment.
    databases = [connect_url(database_url) for _ in range(4)]
    try:
        await asyncio.gather(*(sending.send_due(each, mailing) for each in databases))
        await asyncio.gather(*(sending.send_due(each, mailing) for each in databases))
    finally:
        for each in databases:
            await each.dispose()

    assert len(smtp.inbox.messages) == 6
    assert len({message["Message-ID"] for message in smtp.inbox.messages}) == 6
    assert {receipt.status for receipt in await receipts(session, shop.account_id)} == {SENT}


@pytest.mark.parametrize("failure", ["down", "wrong_password"])
async def test_the_smtp_password_is_never_logged(
    database: Database,
    session: AsyncSession,
    shop: Shop,
    mailing: Settings,
    smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    if failure == "down":
        smtp.stop()
    else:
        smtp.password = "another-password"
    Worker(database, mailing)
    await pay_tshirt(database, session, shop)

    with caplog.at_level(logging.DEBUG):
        assert await sending.send_due(database, mailing) == 1

    [receipt] = await receipts(session, shop.account_id)
    assert receipt.status == PENDING  # the operator's to fix: retried, not given up
    assert receipt.last_error is not None
    assert PASSWORD not in receipt.last_error
    assert "receipt" in caplog.text
    assert "failed" in caplog.text
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(mailing)
    assert PASSWORD not in repr(sending.SmtpServer.of(mailing.smtp_url.get_secret_value()))  # type: ignore[union-attr]


async def test_a_recipient_the_server_refuses_for_good_fails_the_receipt_at_once(
    database: Database, session: AsyncSession, shop: Shop, mailing: Settings, smtp: SmtpServer
) -> None:
    async def refuse(server: object, session: object, envelope: object, address: str, options: object) -> str:
        return "550 No such user here"

    smtp.inbox.handle_RCPT = refuse  # type: ignore[attr-defined]
    smtp.stop()
    smtp.start()
    Worker(database, mailing)
    await pay_tshirt(database, session, shop)

    await sending.send_due(database, mailing)

    [receipt] = await receipts(session, shop.account_id)
    assert (receipt.status, receipt.next_attempt_at) == (FAILED, None)
    assert smtp.inbox.messages == []
