"""Payments, subscriptions and customers in the dashboard: lists filtered and searched, each detail's story, the
cancel buttons through the API's own service calls, and nothing of another account."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.db import Database
from checkstand.payments import flow as payment_flow
from checkstand.payments import ledger
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from tests.dashboard.helpers import make_user, page_csrf, sign_in
from tests.invoices.factory import billing
from tests.payments import flow


async def _paid(database: Database, session: AsyncSession, account_id: str) -> tuple[str, str]:
    """A checkout paid after a lost card was declined: (payment id, checkout id)."""
    await flow.simulator(session, account_id)
    product = await catalog.create_product(session, account_id, name="Mug")
    price = await catalog.create_price(
        session, account_id, product_id=product.id, currency="eur", unit_amount_atom=1250
    )
    await session.commit()
    checkout = await flow.open_session(session, account_id, [price.id])
    gateway = flow.gateway(database)
    await payment_flow.confirm(gateway, checkout.secure_token, flow.paying(flow.card(flow.LOST_CARD)))
    attempt = await payment_flow.confirm(gateway, checkout.secure_token, flow.paying())
    assert attempt.state == "succeeded", attempt.state
    payments = await ledger.list_payments(session, account_id, ledger.ListParams(page=ledger.PageParams()))
    await session.commit()  # ends the read, so the app's writers don't wait on it (SQLite)
    return payments.items[0].id, checkout.id


async def _read(session: AsyncSession, account_id: str, subscription_id: str) -> Subscription:
    """The subscription as stored now, the read ended so the app's next writer doesn't wait on it (SQLite)."""
    session.expire_all()
    subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    await session.commit()
    return subscription


async def test_payments_are_listed_filtered_and_told(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await make_user(session)
    payment_id, checkout_id = await _paid(database, session, user.account_id)
    await sign_in(client, user.email)

    listed = await client.get("/dashboard/payments")
    assert listed.status_code == 200
    assert f'href="/dashboard/payments/{payment_id}"' in listed.text
    assert "ada@example.test" in listed.text
    for found in (
        {"status": "succeeded", "currency": "eur", "q": "ADA@"},
        {"q": payment_id, "since": "2000-01-01", "until": "2999-12-31"},
    ):
        assert payment_id in (await client.get("/dashboard/payments", params=found)).text
    for missed in ({"status": "failed"}, {"q": "bob@"}, {"until": "2000-01-01"}):
        assert payment_id not in (await client.get("/dashboard/payments", params=missed)).text
    odd = await client.get("/dashboard/payments", params={"status": "x", "since": "nope", "page": "-3"})
    assert odd.status_code == 200
    assert payment_id in odd.text

    detail = await client.get(f"/dashboard/payments/{payment_id}")
    assert detail.status_code == 200
    assert "€12.50" in detail.text
    assert f'href="/dashboard/checkout-sessions/{checkout_id}"' in detail.text
    assert "Charges and refunds" in detail.text


async def test_another_accounts_payment_and_customer_are_not_found(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    await make_user(session)
    theirs = await make_user(session, email="other@elsewhere.example", name="Elsewhere")
    payment_id, _ = await _paid(database, session, theirs.account_id)
    payment = await ledger.get_payment(session, theirs.account_id, payment_id)
    await session.commit()
    await sign_in(client, "owner@shop.example")
    assert (await client.get(f"/dashboard/payments/{payment_id}")).status_code == 404
    assert (await client.get(f"/dashboard/customers/{payment.customer_id}")).status_code == 404
    assert "<p>0 payments.</p>" in (await client.get("/dashboard/payments", params={"q": payment_id})).text
    assert payment.customer_id not in (await client.get("/dashboard/customers")).text


async def test_customers_are_searched_and_show_their_history(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await make_user(session)
    payment_id, checkout_id = await _paid(database, session, user.account_id)
    payment = await ledger.get_payment(session, user.account_id, payment_id)
    await session.commit()
    await sign_in(client, user.email)
    assert payment.customer_id in (await client.get("/dashboard/customers", params={"q": "lovelace"})).text
    assert payment.customer_id not in (await client.get("/dashboard/customers", params={"q": "babbage"})).text
    detail = await client.get(f"/dashboard/customers/{payment.customer_id}")
    assert detail.status_code == 200
    assert f'href="/dashboard/payments/{payment_id}"' in detail.text
    assert f'href="/dashboard/checkout-sessions/{checkout_id}"' in detail.text


async def test_a_subscription_is_cancelled_through_the_service_with_csrf(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await make_user(session)
    setup = await billing(database, session, user.account_id)
    await sign_in(client, user.email)
    page = f"/dashboard/subscriptions/{setup.subscription_id}"

    listed = await client.get("/dashboard/subscriptions", params={"status": "active", "q": "ada@"})
    assert f'href="{page}"' in listed.text
    assert (
        setup.subscription_id not in (await client.get("/dashboard/subscriptions", params={"status": "canceled"})).text
    )

    refused = await client.post(f"{page}/cancel", data={"action": "cancel", "csrf_token": "forged"})
    assert refused.status_code == 403
    assert (await _read(session, user.account_id, setup.subscription_id)).status == "active"

    scheduled = await client.post(
        f"{page}/cancel", data={"action": "cancel_at_period_end", "csrf_token": await page_csrf(client, page)}
    )
    assert scheduled.status_code == 303
    told = await client.get(scheduled.headers["location"])
    assert "It will end when the current period ends." in told.text
    assert (await _read(session, user.account_id, setup.subscription_id)).cancel_at_period_end

    ended = await client.post(f"{page}/cancel", data={"action": "cancel", "csrf_token": await page_csrf(client, page)})
    assert ended.status_code == 303
    assert (await _read(session, user.account_id, setup.subscription_id)).status == "canceled"

    again = await client.post(f"{page}/cancel", data={"action": "cancel", "csrf_token": await page_csrf(client, page)})
    assert again.status_code == 409
    assert "already canceled" in again.text


async def test_another_accounts_subscription_is_not_found_nor_cancelled(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    await make_user(session)
    theirs = await make_user(session, email="other@elsewhere.example", name="Elsewhere")
    setup = await billing(database, session, theirs.account_id)
    await sign_in(client, "owner@shop.example")
    page = f"/dashboard/subscriptions/{setup.subscription_id}"
    assert (await client.get(page)).status_code == 404
    posted = await client.post(
        f"{page}/cancel", data={"action": "cancel", "csrf_token": await page_csrf(client, "/dashboard/subscriptions")}
    )
    assert posted.status_code == 404
    assert (await _read(session, theirs.account_id, setup.subscription_id)).status == "active"
