"""Payments, customers and subscriptions in the dashboard, in Chromium: a paid checkout shows in the payments list,
its detail and its customer's page; axe-core on each of these pages. The checkout is paid through the payment flow
directly: the hosted page's own browser tests drive paying it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.dashboard import users
from checkstand.payments import flow as payment_flow
from tests.e2e.conftest import in_database, open_checkout, run
from tests.e2e.test_accessibility import assert_accessible
from tests.payments import flow
from tests.support import Server, connect_url

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def test_a_paid_checkout_shows_in_payments_and_its_customer(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    email = f"owner-{opened.account_id.lower()}@shop.example"

    async def add_user(session: AsyncSession) -> None:
        await users.create_user(session, opened.account_id, email=email, password=PASSWORD)

    in_database(server, add_user)

    async def pay() -> None:
        database = connect_url(server.database_url)
        try:
            token = opened.url.rsplit("/", 1)[-1]
            attempt = await payment_flow.confirm(flow.gateway(database), token, flow.paying())
            assert attempt.state == "succeeded", attempt.state
        finally:
            await database.dispose()

    run(pay)

    page.goto(f"{server.base_url}/dashboard/payments")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Payments", exact=True)).to_be_visible()
    page.get_by_label("Status").select_option("succeeded")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("1 payment.")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name=re.compile("^pay_")).click()
    expect(page.get_by_role("heading", name=re.compile("^Payment pay_"))).to_contain_text("pay_")
    expect(page.get_by_text("$19.99").first).to_be_visible()
    expect(page.get_by_role("link", name=opened.id)).to_be_visible()
    assert_accessible(page)

    page.get_by_role("region", name="Summary").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name=re.compile("^Customer cus"))).to_be_visible()
    expect(page.get_by_role("region", name="Checkout sessions")).to_contain_text(opened.id)
    assert_accessible(page)

    for path in ("customers", "subscriptions"):
        page.goto(f"{server.base_url}/dashboard/{path}")
        expect(page.get_by_role("search")).to_be_visible()
        assert_accessible(page)
