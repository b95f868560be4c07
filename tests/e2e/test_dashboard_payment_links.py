"""Payment links and processors in the dashboard, in Chromium: a link created with the form and bought twice from its
shared URL (two sessions of its own, both completed, listed on the link's page); the processor and route pages;
axe-core on every one of these pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.dashboard import users
from tests.e2e.conftest import SUCCESS_ORIGIN, fill_in, in_database, off_the_loop
from tests.e2e.test_accessibility import assert_accessible
from tests.e2e.test_dashboard import PASSWORD, _merchant
from tests.support import Server

pytestmark = pytest.mark.e2e

SUCCESS = re.compile(rf"^{re.escape(SUCCESS_ORIGIN)}/ok\?session=(cs_\w+)$")


def _sign_in(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _buy(page: Page, link: str) -> str:
    """The link opened in a tab of its own and paid with the simulator's good card; the id of the session it paid
    (the success URL's, which the browser asks for: see ``landing_on_success_url``)."""
    tab = page.context.new_page()
    try:
        tab.goto(link)
        expect(tab).to_have_url(re.compile(r"/c/"))
        fill_in(tab, "4242 4242 4242 4242")
        with tab.expect_request(SUCCESS, timeout=15_000) as landed:
            tab.get_by_role("button", name=re.compile("^Pay ")).click()
        found = SUCCESS.match(landed.value.url)
        assert found is not None
        return found.group(1)
    finally:
        tab.close()


def test_a_payment_link_bought_twice(server: Server, page: Page) -> None:
    email = _merchant(server)
    page.goto(f"{server.base_url}/dashboard/payment-links")
    _sign_in(page, email)
    expect(page.get_by_role("heading", name="Payment links")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Create payment link").click()
    expect(page.get_by_role("heading", name="Create a payment link")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Create payment link").click()  # nothing filled in: refused, field by field
    expect(page.locator("#line_items-error")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Name (optional)").fill("T-shirt offer")
    page.get_by_label("Success URL", exact=True).fill(f"{SUCCESS_ORIGIN}/ok?session={{CHECKOUT_SESSION_ID}}")
    page.get_by_label("Price, item 1").select_option(label="T-shirt · $19.99")
    page.get_by_label("Quantity, item 1").fill("2")
    page.get_by_role("button", name="Create payment link").click()

    expect(page.get_by_role("status").first).to_contain_text("Payment link created")
    assert_accessible(page)
    link = page.get_by_label("Payment link", exact=True).input_value()
    assert re.fullmatch(rf"{re.escape(server.base_url)}/l/plt_\S+", link)
    expect(page.get_by_role("button", name="Copy link")).to_be_visible()
    expect(page.locator(".qr svg")).to_be_visible()
    detail = page.url.split("?")[0]

    first = _buy(page, link)
    second = _buy(page, link)
    assert first != second

    page.goto(detail)
    sessions = page.get_by_role("region", name="Checkout sessions it opened")
    expect(sessions).to_contain_text("2 sessions.")
    for checkout_id in (first, second):
        row = sessions.get_by_role("row").filter(has=page.get_by_role("link", name=checkout_id))
        expect(row).to_contain_text("success")
        expect(row).to_contain_text("$39.98")
    assert_accessible(page)

    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("status").first).to_contain_text("deactivated")
    assert_accessible(page)


def test_processor_and_route_pages(server: Server, page: Page) -> None:
    account_id, _ = off_the_loop(lambda: server.new_account("E2E processors"))
    email = f"owner-{account_id.lower()}@shop.example"

    async def populate(session: AsyncSession) -> None:
        await users.create_user(session, account_id, email=email, password=PASSWORD)

    in_database(server, populate)
    page.goto(f"{server.base_url}/dashboard/processors")
    _sign_in(page, email)
    expect(page.get_by_role("heading", name="Processors")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Connect a processor").click()
    assert_accessible(page)
    page.get_by_label("Type").select_option("stripe")
    page.get_by_label("Name").fill("Stripe")
    page.get_by_label("Currencies").fill("usd")
    page.get_by_label("Secret key").fill("sk_test_not-a-real-key")
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#secret_key-error")).to_be_visible()
    expect(page.get_by_label("Secret key")).to_have_value("")  # never written back
    assert_accessible(page)

    page.get_by_label("Type").select_option("simulator")
    page.get_by_label("Name").fill("Simulator")
    page.get_by_label("Secret key").fill("")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status").first).to_contain_text("Processor connected")
    assert_accessible(page)

    page.goto(f"{server.base_url}/dashboard/processors/routes/new")
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill("Main")
    page.get_by_label("Processor 1", exact=True).select_option(index=1)  # the one processor, after "—"
    page.get_by_role("button", name="Create route").click()
    expect(page.get_by_role("status").first).to_contain_text("Route created")
    assert_accessible(page)
    page.get_by_role("link", name="Processors", exact=True).first.click()
    page.get_by_role("link", name="Processor routes").click()
    expect(page.get_by_role("cell", name="Main", exact=True)).to_be_visible()
    assert_accessible(page)
