"""The hosted checkout page with Stripe's Payment Element, in Debian's Chromium against a real server whose Stripe
connection talks to localstripe: paying with a payment method, and 3-D Secure through the authenticate page.

Real Stripe.js can't run here (no internet, and its iframes talk to Stripe), so the browser is served a test
stand-in, ``stripe_js_double.js``, at Stripe.js's URL (``page.route``). It implements only the calls
checkout-stripe.js makes, with one labelled field where the test types the payment method id to create; its
``handleNextAction`` calls localstripe's ``_authenticate`` with the publishable key at https://api.stripe.com,
which the test routes to localstripe. Everything else is real: our script, the page, its Content-Security-Policy
(any violation is a console error, and fails the test), the server, and localstripe's PaymentIntents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout
from checkstand.payments.models import ProcessorAttempt
from tests.e2e.conftest import SUCCESS_ORIGIN, Checkout, in_database, off_the_loop, screenshot
from tests.localstripe import SECRET_KEY, SUCCEEDING_METHOD, THREE_DS_CARD, LocalStripe
from tests.support import Server

pytestmark = pytest.mark.e2e

STRIPE_JS_URL = "https://js.stripe.com/v3/"
STRIPE_API_ORIGIN = "https://api.stripe.com"
PUBLISHABLE_KEY = "pk_test_localstripe0000000000000001"
DOUBLE = Path(__file__).with_name("stripe_js_double.js")


@pytest.fixture
def stripe_page(page: Page, localstripe: LocalStripe) -> Iterator[Page]:
    """The browser page with Stripe.js replaced by the stand-in and Stripe's API answered by localstripe; fails
    the test on any console error (a Content-Security-Policy violation is one) or uncaught script error."""
    problems: list[str] = []

    def to_localstripe(route: Route) -> None:
        response = route.fetch(url=localstripe.api_base + urlsplit(route.request.url).path)
        route.fulfill(response=response)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.route(STRIPE_JS_URL, lambda route: route.fulfill(path=DOUBLE, content_type="application/javascript"))
    page.route(f"{STRIPE_API_ORIGIN}/**", to_localstripe)
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    assert problems == []


def success_url(server: Server, checkout_id: str) -> str:
    return f"{server.base_url}/healthz?session={checkout_id}"


def open_stripe_checkout(server: Server, localstripe: LocalStripe) -> Checkout:
    """A 19.99 USD T-shirt on an account whose one processor is Stripe (localstripe), connected through the API.

    Its success URL is on the server itself: Chromium, with requests intercepted, sometimes resolves the host of a
    redirect that follows a script's form submission before the interception answers, and shop.test resolves to
    nothing here."""
    account_id, secret = off_the_loop(lambda: server.new_account("Stripe shop"))
    connected = httpx.post(
        f"{server.base_url}/api/{account_id}/processors/",
        json={
            "name": "Stripe",
            "type": "stripe",
            "currencies": ["usd"],
            "secret_key": SECRET_KEY,
            "webhook_secret": "whsec_localstripe000000000001",
            "api_base": localstripe.api_base,
            "publishable_key": PUBLISHABLE_KEY,
        },
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    )
    connected.raise_for_status()

    async def populate(session: AsyncSession) -> Checkout:
        product = await catalog.create_product(session, account_id, name="T-shirt")
        price = await catalog.create_price(
            session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1999
        )
        created = await checkout.create_session(
            session,
            account_id,
            checkout.NewCheckoutSession(
                success_url=success_url(server, "{CHECKOUT_SESSION_ID}"),
                return_url=f"{SUCCESS_ORIGIN}/back",
                line_items=[checkout.LineItemSpec(price_id=price.id)],
            ),
        )
        return Checkout(f"{server.base_url}/c/{created.secure_token}", created.id, account_id)

    return in_database(server, populate)


def payment_intents(server: Server, localstripe: LocalStripe, account_id: str) -> list[dict[str, object]]:
    """The PaymentIntents the account's charges created at localstripe, oldest first."""

    async def references(session: AsyncSession) -> list[str]:
        rows = await session.scalars(
            select(ProcessorAttempt.processor_reference)
            .where(ProcessorAttempt.account_id == account_id, ProcessorAttempt.processor_reference.is_not(None))
            .order_by(ProcessorAttempt.created_at)
        )
        return [str(row) for row in rows]

    return [localstripe.payment_intent(reference) for reference in in_database(server, references)]


def fill_in(page: Page, payment_method: str) -> None:
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Test payment method id").fill(payment_method)


def test_paying_with_stripes_form_charges_the_servers_amount_once_and_lands_on_the_success_url(
    server: Server, stripe_page: Page, localstripe: LocalStripe
) -> None:
    opened = open_stripe_checkout(server, localstripe)
    stripe_page.goto(opened.url)
    expect(stripe_page.get_by_label("Test payment method id")).to_be_visible()
    assert stripe_page.evaluate("window.stripeDouble.options") == {
        "mode": "payment",
        "amount": 1999,
        "currency": "usd",
        "paymentMethodCreation": "manual",
        "paymentMethodTypes": ["card"],
    }
    assert stripe_page.evaluate("window.stripeDouble.publishableKey") == PUBLISHABLE_KEY

    # Stripe's own validation error shows in the page's alert, and the button comes back.
    stripe_page.get_by_label("Full name").fill("Ada Lovelace")
    stripe_page.get_by_label("Email").fill("ada@example.com")
    stripe_page.get_by_role("button", name="Pay $19.99").click()
    expect(stripe_page.get_by_role("alert")).to_have_text("Your card number is incomplete.")
    expect(stripe_page.get_by_role("button", name="Pay $19.99")).to_be_enabled()
    screenshot(stripe_page, "checkout-stripe-error")

    fill_in(stripe_page, SUCCEEDING_METHOD)
    stripe_page.get_by_role("button", name="Pay $19.99").click()

    stripe_page.wait_for_url(success_url(server, opened.id))
    [intent] = payment_intents(server, localstripe, opened.account_id)
    assert (intent["amount"], intent["currency"], intent["status"]) == (1999, "usd", "succeeded")


def test_three_d_secure_runs_on_the_authenticate_page_and_ends_on_the_success_url(
    server: Server, stripe_page: Page, localstripe: LocalStripe
) -> None:
    opened = open_stripe_checkout(server, localstripe)
    stripe_page.goto(opened.url)
    fill_in(stripe_page, localstripe.card_method(THREE_DS_CARD))
    visited: list[str] = []
    stripe_page.on("framenavigated", lambda frame: visited.append(frame.url))

    stripe_page.get_by_role("button", name="Pay $19.99").click()

    stripe_page.wait_for_url(success_url(server, opened.id))
    assert any(urlsplit(url).path.endswith("/authenticate") for url in visited), visited
    [intent] = payment_intents(server, localstripe, opened.account_id)
    assert (intent["amount"], intent["status"]) == (1999, "succeeded")
