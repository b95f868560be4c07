"""The hosted checkout page in a real browser against a real server: a customer's whole purchase, a decline and a
retry, a double click on pay, and a phone-sized screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import (
    SUCCESS_ORIGIN,
    apply_code,
    charges,
    fill_in,
    landing_on_success_url,
    open_checkout,
    screenshot,
)
from tests.payments import flow
from tests.support import Server

pytestmark = pytest.mark.e2e


def test_the_whole_purchase_chooses_a_plan_applies_a_code_starts_its_trial_and_lands_on_the_success_url(
    server: Server, page: Page
) -> None:
    opened = open_checkout(server, plans=True)
    page.goto(opened.url)
    expect(page.locator("#total")).to_have_text("$5.00")

    page.get_by_role("radio", name=re.compile(r"^Pro ")).check()
    # Picking it re-prices at once (the page's script posts "Update plan", hidden with JavaScript on).
    expect(page.get_by_role("status")).to_have_text("Plan changed.")
    expect(page.get_by_role("radio", name=re.compile(r"^Pro "))).to_be_checked()
    expect(page.locator(".items")).to_contain_text("per month, 14-day free trial")
    expect(page.locator("#total")).to_have_text("$15.00")
    apply_code(page)
    expect(page.get_by_role("status")).to_have_text("Promotion code applied.")
    expect(page.locator("#total")).to_have_text("$13.50")
    # Pro's 14-day trial: nothing is charged today, the card is only set up for the first renewal.
    expect(page.locator("main")).to_contain_text("$0.00 today")
    screenshot(page, "checkout-plan-chosen-code-applied")
    fill_in(page)
    with landing_on_success_url(page, opened):
        page.get_by_role("button", name="Start trial").click()

    assert charges(server, opened.account_id) == [0]


def test_a_decline_is_explained_and_the_retry_pays(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    page.goto(opened.url)

    fill_in(page, flow.INSUFFICIENT_FUNDS_CARD)
    page.get_by_role("button", name="Pay $19.99").click()

    expect(page.get_by_role("alert")).to_contain_text("insufficient funds")
    expect(page.get_by_label("Full name")).to_have_value("Ada Lovelace")
    expect(page.get_by_label("Card number")).to_have_value("")
    expect(page.get_by_label("Security code (CVC)")).to_have_value("")
    screenshot(page, "checkout-declined")
    page.get_by_label("Card number").fill(flow.GOOD_CARD)
    page.get_by_label("Security code (CVC)").fill("123")
    with landing_on_success_url(page, opened):
        page.get_by_role("button", name="Pay $19.99").click()
    assert charges(server, opened.account_id) == [1999]


def test_a_double_click_on_pay_charges_once(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    page.goto(opened.url)
    fill_in(page)

    page.get_by_role("button", name="Pay $19.99").dblclick()

    # Whichever post the browser follows, the customer ends paid: on the success URL or told it is already paid.
    expect(page).to_have_url(re.compile(rf"^({re.escape(SUCCESS_ORIGIN)}/ok|{re.escape(opened.url)})"))
    # The post the browser abandoned may still be charging: wait for it to settle, then check it was the only one.
    for _ in range(100):
        if charges(server, opened.account_id):
            break
        page.wait_for_timeout(100)
    assert charges(server, opened.account_id) == [1999]


def test_the_page_fits_a_phone(server: Server, browser: Browser) -> None:
    opened = open_checkout(server)
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(opened.url)

        pay = phone.get_by_role("button", name="Pay $19.99")
        expect(pay).to_be_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
        box = pay.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 375
        screenshot(phone, "checkout-phone")
    finally:
        context.close()
