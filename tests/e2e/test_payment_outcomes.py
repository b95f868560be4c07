"""How a payment can end, in a real browser against a real server: a 3-D Secure challenge approved or failed, a
session that expired (before the page was opened, or while its form was being filled in), and a session opened
again after it was paid."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import (
    SUCCESS_ORIGIN,
    Checkout,
    charges,
    expire,
    fill_in,
    landing_on_success_url,
    open_checkout,
    pay_in_new_tab,
    screenshot,
)
from tests.payments import flow
from tests.support import Server

pytestmark = pytest.mark.e2e

CHALLENGE_URL = re.compile(r"/simulator/3ds/[^/?]+$")


def expect_no_pay_form(page: Page) -> None:
    expect(page.locator("form")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Pay"))).to_have_count(0)


def start_three_d_secure(server: Server, page: Page) -> Checkout:
    """Pay with a card that asks for 3-D Secure; the customer lands on the (simulated) bank's challenge."""
    opened = open_checkout(server)
    page.goto(opened.url)
    fill_in(page, flow.THREE_DS_CARD)
    page.get_by_role("button", name="Pay $19.99").click()
    page.wait_for_url(CHALLENGE_URL)
    expect(page.get_by_role("heading", name="Confirm your payment")).to_be_visible()
    expect(page.get_by_text("$19.99")).to_be_visible()
    return opened


def test_an_approved_3d_secure_challenge_pays_once_and_lands_on_the_success_url(server: Server, page: Page) -> None:
    opened = start_three_d_secure(server, page)
    screenshot(page, "3ds-challenge")

    with landing_on_success_url(page, opened):
        page.get_by_role("button", name="Approve").click()

    assert charges(server, opened.account_id) == [1999]


def test_a_failed_3d_secure_challenge_charges_nothing_and_a_good_card_then_pays(server: Server, page: Page) -> None:
    opened = start_three_d_secure(server, page)

    page.get_by_role("button", name="Fail").click()

    page.wait_for_url(re.compile(rf"^{re.escape(opened.url)}(\?|$)"))
    expect(page.get_by_role("alert")).to_contain_text("We are unable to authenticate your payment method.")
    expect(page.get_by_role("alert")).to_contain_text("use another card")
    screenshot(page, "3ds-failed")
    assert charges(server, opened.account_id) == []
    fill_in(page)
    with landing_on_success_url(page, opened):
        page.get_by_role("button", name="Pay $19.99").click()
    assert charges(server, opened.account_id) == [1999]


def test_an_expired_session_says_so_and_offers_the_way_back(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    expire(server, opened)

    page.goto(opened.url)

    expect(page.get_by_role("heading", name="Checkout expired")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("This checkout has expired and can no longer be paid.")
    expect_no_pay_form(page)
    screenshot(page, "checkout-expired")
    page.get_by_role("link", name="Return to E2E shop").click()
    page.wait_for_url(f"{SUCCESS_ORIGIN}/back")


def test_a_form_submitted_after_the_session_expired_charges_nothing(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    page.goto(opened.url)
    fill_in(page)
    expire(server, opened)

    page.get_by_role("button", name="Pay $19.99").click()

    expect(page.get_by_role("heading", name="Checkout expired")).to_be_visible()
    expect_no_pay_form(page)
    assert charges(server, opened.account_id) == []


def test_a_paid_session_opened_again_says_so_and_its_old_form_charges_nothing(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    # The old form: loaded and filled in while the session was open, posted again once it is paid.
    stale = page.context.new_page()
    stale.goto(opened.url)
    fill_in(stale)
    pay_in_new_tab(page, opened)

    page.goto(opened.url)

    expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(
        "Thank you. This checkout is paid, and nothing more will be charged for it."
    )
    expect(page.locator("#paid-amount")).to_have_text("$19.99")
    expect_no_pay_form(page)
    screenshot(page, "checkout-completed")
    stale.get_by_role("button", name="Pay $19.99").click()
    expect(stale.get_by_role("heading", name="Payment complete")).to_be_visible()
    assert charges(server, opened.account_id) == [1999]
