"""The checkout page's second version in a browser, at a laptop's 1280x800 and a phone's 390x844: the pay button
in the first screen, what the customer agrees to in words, the card typed as printed, every error at once.
Screenshots of each state go to the test's tmp dir (artefacts, never compared)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import Browser, Page, Response, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout
from checkstand.discounts import coupons
from tests.e2e.conftest import (
    CODE,
    SUCCESS_ORIGIN,
    Checkout,
    apply_code,
    in_database,
    off_the_loop,
    open_checkout,
    pay_in_new_tab,
)
from tests.e2e.test_accessibility import assert_accessible
from tests.payments import flow
from tests.support import Server

pytestmark = pytest.mark.e2e

LAPTOP: Final = {"width": 1280, "height": 800}
PHONE: Final = {"width": 390, "height": 844}


@pytest.fixture(params=["laptop", "phone"])
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sized(browser: Browser, viewport: str) -> Iterator[Page]:
    """A page the size of a laptop's or a phone's screen."""
    phone = viewport == "phone"
    context = browser.new_context(viewport=PHONE if phone else LAPTOP, is_mobile=phone, has_touch=phone)
    opened = context.new_page()
    opened.route(f"{SUCCESS_ORIGIN}/**", lambda route: route.fulfill(body="<p>Thanks</p>", content_type="text/html"))
    yield opened
    context.close()


def keep(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def open_priced(
    server: Server,
    *,
    amount: int,
    interval: str | None = None,
    trial_days: int = 0,
    quantity: int = 1,
    months_off: int | None = None,
) -> Checkout:
    """An open session with the simulator selling ``quantity`` of one price; with ``months_off``, 20 % off for
    that many months."""
    account_id, _ = off_the_loop(lambda: server.new_account("Layout shop"))

    async def populate(session: AsyncSession) -> Checkout:
        await flow.simulator(session, account_id)
        product = await catalog.create_product(session, account_id, name="Plan")
        price = await catalog.create_price(
            session,
            account_id,
            product_id=product.id,
            currency="usd",
            unit_amount_atom=amount,
            recurring_interval=interval,
            trial_days=trial_days,
        )
        coupon_id = None
        if months_off is not None:
            coupon = await coupons.create_coupon(
                session,
                account_id,
                discount_type="percent_off",
                percent_off_bp=2_000,
                duration="repeating",
                duration_in_months=months_off,
            )
            coupon_id = coupon.id
        created = await checkout.create_session(
            session,
            account_id,
            checkout.NewCheckoutSession(
                success_url=f"{SUCCESS_ORIGIN}/ok?session={{CHECKOUT_SESSION_ID}}",
                return_url=f"{SUCCESS_ORIGIN}/back",
                line_items=[checkout.LineItemSpec(price_id=price.id, quantity=quantity)],
                coupon_id=coupon_id,
            ),
        )
        return Checkout(f"{server.base_url}/c/{created.secure_token}", created.id, account_id)

    return in_database(server, populate)


def in_first_screen(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    assert box is not None
    return box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]  # type: ignore[index]


def test_the_pay_button_and_the_amount_are_in_the_first_screen(
    server: Server, sized: Page, viewport: str, tmp_path: Path
) -> None:
    sized.goto(open_checkout(server).url)

    expect(sized.locator("#summary-amount")).to_have_text("$19.99")
    assert in_first_screen(sized, "#summary-amount")
    if viewport == "laptop":
        assert in_first_screen(sized, "button.pay")
        # Two columns: the summary beside the form, not above it.
        summary = sized.locator(".order").bounding_box()
        form = sized.locator(".payment").bounding_box()
        assert summary is not None
        assert form is not None
        assert summary["x"] + summary["width"] <= form["x"]
        expect(sized.locator("details.summary")).to_have_attribute("open", "")
    else:
        # Folded on a phone, its total still in view; opening it shows the order.
        expect(sized.locator(".items")).to_be_hidden()
        sized.locator("details.summary > summary").click()
        expect(sized.locator(".items")).to_contain_text("T-shirt")
    keep(sized, tmp_path, f"fresh-{viewport}")
    assert_accessible(sized)


@pytest.mark.parametrize(
    ("terms", "wording", "button"),
    [
        ({"amount": 2400}, None, "Pay $24.00"),
        ({"amount": 2400, "interval": "month"}, "$24.00 today, then $24.00 per month", "Pay $24.00"),
        (
            {"amount": 4900, "interval": "month", "trial_days": 14},
            "14-day free trial, then $49.00 per month",
            "Start trial",
        ),
        ({"amount": 2400, "interval": "month", "months_off": 3}, "20% off for 3 months", "Pay $19.20"),
        ({"amount": 1200, "quantity": 2}, "2 x $12.00", "Pay $24.00"),
    ],
    ids=["one-time", "monthly", "trial", "discounted-3-months", "quantity"],
)
def test_the_page_says_what_the_customer_agrees_to(
    server: Server, page: Page, tmp_path: Path, terms: dict[str, int | str], wording: str | None, button: str
) -> None:
    page.goto(open_priced(server, **terms).url)  # type: ignore[arg-type]

    expect(page.get_by_role("button", name=button)).to_be_visible()
    if wording is None:
        expect(page.locator("#recurrence")).to_have_count(0)
        expect(page.locator(".order")).not_to_contain_text("per month")
    else:
        expect(page.locator(".order")).to_contain_text(wording)
    keep(page, tmp_path, "wording")
    assert_accessible(page)


@pytest.mark.parametrize(
    ("typed", "shown", "brand"),
    [
        ("4242424242424242", "4242 4242 4242 4242", "Visa"),
        ("378282246310005", "3782 822463 10005", "American Express"),
        ("5555555555554444", "5555 5555 5555 4444", "Mastercard"),
    ],
)
def test_the_card_number_is_grouped_as_typed_and_its_brand_named(
    server: Server, page: Page, tmp_path: Path, typed: str, shown: str, brand: str
) -> None:
    page.goto(open_checkout(server).url)

    page.get_by_label("Card number").press_sequentially(typed)
    page.get_by_label("Expiry date (MM / YY)").press_sequentially("1299")

    expect(page.get_by_label("Card number")).to_have_value(shown)
    expect(page.locator("#card-brand")).to_have_text(brand)
    expect(page.get_by_label("Expiry date (MM / YY)")).to_have_value("12 / 99")
    keep(page, tmp_path, "card")


def test_every_fields_error_is_shown_at_once_and_a_good_card_then_pays(
    server: Server, sized: Page, viewport: str, tmp_path: Path
) -> None:
    opened = open_checkout(server)
    sized.goto(opened.url)

    sized.get_by_role("button", name="Pay $19.99").click()

    for field in ("name", "email", "card_number", "exp", "cvc"):
        expect(sized.locator(f"#{field}-error")).to_be_visible()
    expect(sized.get_by_label("Full name")).to_have_attribute("aria-invalid", "true")
    keep(sized, tmp_path, f"errors-{viewport}")
    assert_accessible(sized)


def test_a_decline_is_told_beside_the_card_with_what_to_do(server: Server, page: Page, tmp_path: Path) -> None:
    page.goto(open_checkout(server).url)
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Card number").fill(flow.INSUFFICIENT_FUNDS_CARD)
    page.get_by_label("Expiry date (MM / YY)").fill("12 / 99")
    page.get_by_label("Security code (CVC)").fill("123")

    page.get_by_role("button", name="Pay $19.99").click()

    decline = page.locator("fieldset", has=page.get_by_label("Card number")).locator("#decline")
    expect(decline).to_contain_text(re.compile("insufficient funds", re.IGNORECASE))
    expect(decline).to_contain_text("use another card")
    keep(page, tmp_path, "decline")
    assert_accessible(page)


def test_a_promotion_code_is_added_behind_its_link_then_removed(server: Server, page: Page, tmp_path: Path) -> None:
    page.goto(open_checkout(server).url)
    expect(page.get_by_label("Promotion code", exact=True)).to_be_hidden()

    apply_code(page)

    expect(page.get_by_role("status")).to_have_text("Promotion code applied.")
    expect(page.locator("#total")).to_have_text("$17.99")
    expect(page.get_by_role("button", name="Pay $17.99")).to_be_visible()
    keep(page, tmp_path, "code-applied")
    assert_accessible(page)

    page.get_by_role("button", name=f"Remove promotion code {CODE}").click()

    expect(page.get_by_role("status")).to_have_text("Promotion code removed.")
    expect(page.locator("#total")).to_have_text("$19.99")
    expect(page.locator("#discount")).to_have_count(0)
    expect(page.get_by_role("button", name="Pay $19.99")).to_be_visible()
    keep(page, tmp_path, "code-removed")
    assert_accessible(page)


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_plan_picked_re_prices_the_page(server: Server, browser: Browser, tmp_path: Path, javascript: bool) -> None:
    context = browser.new_context(viewport=LAPTOP, java_script_enabled=javascript)
    try:
        page = context.new_page()
        page.goto(open_checkout(server, plans=True).url)
        expect(page.locator("#total")).to_have_text("$5.00")
        update = page.get_by_role("button", name="Update plan")
        if javascript:
            expect(update).to_be_hidden()

        page.get_by_role("radio", name=re.compile(r"^Team ")).check()
        if not javascript:
            update.click()

        expect(page.get_by_role("status")).to_have_text("Plan changed.")
        expect(page.locator("#total")).to_have_text("$40.00")
        expect(page.get_by_role("radio", name=re.compile(r"^Team "))).to_be_checked()
        expect(page.locator(".order")).to_contain_text("$40.00 today, then $40.00 per month")
        keep(page, tmp_path, f"plan-repriced-{'js' if javascript else 'no-js'}")
        if javascript:
            # axe runs as a script: a page without JavaScript can't run it (the same page is checked with it).
            assert_accessible(page)
    finally:
        context.close()


def test_a_first_visit_loads_under_30_kb(server: Server, page: Page) -> None:
    """HTML, CSS and JavaScript of a first visit, uncompressed: everything the page loads, all from this server."""
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))

    page.goto(open_checkout(server).url)
    page.wait_for_load_state("load")

    # Read after the load: the sync API can't be called from inside its own event handler.
    loaded = {response.url: len(response.body()) for response in responses}
    assert {url.split("?")[0].rsplit("/", 1)[-1] for url in loaded} >= {"checkout.css", "checkout.js", "theme.css"}
    assert all(url.startswith(server.base_url) for url in loaded)
    assert sum(loaded.values()) < 30_000, loaded


def test_a_paid_sessions_link_opens_on_its_confirmation(
    server: Server, sized: Page, viewport: str, tmp_path: Path
) -> None:
    opened = open_priced(server, amount=2400, interval="month")
    pay_in_new_tab(sized, opened)

    sized.goto(opened.url)

    expect(sized.get_by_role("heading", name="Payment complete")).to_be_visible()
    expect(sized.locator("#paid-amount")).to_have_text("$24.00")
    expect(sized.locator("#purchased")).to_have_text("Plan")
    expect(sized.locator("#reference")).not_to_be_empty()
    expect(sized.locator("#paid-on")).not_to_be_empty()
    expect(sized.locator("#next-charge")).to_contain_text("$24.00 on ")
    # The test server sends no email: the page says nothing of a receipt.
    expect(sized.locator("#receipt-email")).to_have_count(0)
    expect(sized.get_by_role("link", name="Return to Layout shop")).to_have_attribute("href", f"{SUCCESS_ORIGIN}/back")
    keep(sized, tmp_path, f"confirmation-{viewport}")
    assert_accessible(sized)
