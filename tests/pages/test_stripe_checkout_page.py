"""The hosted checkout page for a session routed to Stripe, in process on both backends against localstripe: Stripe's
Payment Element and its policy, paying with a payment method id, the 3-D Secure round trip through the authenticate
page, declines, refused card numbers, and a Stripe connection's publishable key."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.app import create_app
from checkstand.checkout.models import CheckoutSession
from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.payments.models import FAILED, REQUIRES_ACTION, CheckoutAttempt, ProcessorAttempt
from checkstand.processors.base import customer_message
from checkstand.processors.models import Processor
from checkstand.processors.stripe import METADATA_KEY
from checkstand.settings import Settings
from tests.localstripe import (
    CHARGE_DECLINED_METHOD,
    SECRET_KEY,
    SUCCEEDING_METHOD,
    THREE_DS_CARD,
    LocalStripe,
)
from tests.pages.test_checkout_page import CSRF, attempt_count, csrf
from tests.payments import flow
from tests.shop import Shop

PUBLISHABLE_KEY = "pk_test_localstripe0000000000000001"
CLIENT_SECRET = re.compile(r'data-client-secret="([^"]+)"')
SUCCESS = "https://shop.test/ok?session={id}"
PUBLIC_URL = "http://checkstand.test"


async def connect_stripe(
    session: AsyncSession, settings: Settings, account_id: str, api_base: str, *, publishable_key: str | None
) -> Processor:
    """A Stripe connection sealed with the app's own at-rest key, so the app can open it."""
    box = SecretBox(settings.resolved_secret_key)
    return await flow.stripe(session, account_id, api_base, box=box, publishable_key=publishable_key)


@pytest.fixture
async def opened(session: AsyncSession, settings: Settings, shop: Shop, localstripe: LocalStripe) -> CheckoutSession:
    """A 19.99 USD session whose only processor is Stripe."""
    await connect_stripe(session, settings, shop.account_id, localstripe.api_base, publishable_key=PUBLISHABLE_KEY)
    return await flow.open_session(session, shop.account_id, [shop.tshirt])


def paying(token: str, method: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "action": "pay",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "payment_method_id": method,
        **extra,
    }


async def stripe_charges(database: Database, account_id: str) -> list[ProcessorAttempt]:
    async with database.reading() as fresh:
        rows = await fresh.scalars(
            select(ProcessorAttempt)
            .where(ProcessorAttempt.account_id == account_id, ProcessorAttempt.processor_reference.is_not(None))
            .order_by(ProcessorAttempt.created_at)
        )
        return list(rows)


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {name: value for name, _, value in (part.strip().partition(" ") for part in policy.split(";"))}


async def test_a_stripe_session_shows_the_payment_element_and_allows_stripes_origins_only(
    client: httpx.AsyncClient, opened: CheckoutSession
) -> None:
    shown = await client.get(f"/c/{opened.secure_token}")

    assert shown.status_code == 200
    text = shown.text
    assert 'id="payment-element"' in text
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in text
    assert 'data-amount="1999"' in text
    assert 'data-currency="usd"' in text
    assert '<input type="hidden" name="payment_method_id" value="">' in text
    assert '<script src="https://js.stripe.com/v3/"></script>' in text
    assert '<script src="/static/checkout-stripe.js" defer></script>' in text
    assert "<noscript>" in text
    for card_field in ("card_number", "exp_month", "exp_year", "cvc"):
        assert f'name="{card_field}"' not in text
    assert SECRET_KEY not in text
    policy = directives(shown)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self' https://js.stripe.com"
    assert policy["frame-src"] == "https://js.stripe.com https://hooks.stripe.com"
    assert policy["connect-src"] == "https://api.stripe.com"
    assert policy["style-src"] == "'self'"
    assert "'unsafe-inline'" not in shown.headers["content-security-policy"]
    script = await client.get("/static/checkout-stripe.js")
    assert script.status_code == 200
    assert "createPaymentMethod" in script.text


async def test_a_promotion_code_is_still_a_plain_post_and_the_element_shows_the_new_amount(
    client: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession
) -> None:
    token = await csrf(client, f"/c/{opened.secure_token}")

    applied = await client.post(
        f"/c/{opened.secure_token}",
        data={"csrf_token": token, "action": "apply", "promotion_code": shop.percent_code},
    )

    assert applied.status_code == 200
    assert "Promotion code applied." in applied.text
    # 10 % off 19.99, rounded half-even.
    assert 'data-amount="1799"' in applied.text
    assert await attempt_count(database) == 0


async def test_the_policy_follows_the_stripe_js_url_setting(
    settings: Settings, database: Database, opened: CheckoutSession
) -> None:
    moved = settings.model_copy(update={"stripe_js_url": "https://stripe-js.example/v3/"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(moved, database=database)), base_url=PUBLIC_URL
    ) as client:
        shown = await client.get(f"/c/{opened.secure_token}")

    assert '<script src="https://stripe-js.example/v3/"></script>' in shown.text
    policy = directives(shown)
    assert policy["script-src"] == "'self' https://stripe-js.example"
    assert policy["frame-src"] == "https://stripe-js.example https://hooks.stripe.com"
    with pytest.raises(ValidationError):
        Settings(stripe_js_url="js.stripe.com/v3/")


async def test_a_payment_method_id_pays_the_servers_amount_whatever_the_form_says(
    client: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession, localstripe: LocalStripe
) -> None:
    token = await csrf(client, f"/c/{opened.secure_token}")

    paid = await client.post(
        f"/c/{opened.secure_token}",
        data=paying(token, SUCCEEDING_METHOD, amount="1", amount_total_atom="1", currency="jpy"),
    )

    assert paid.status_code == 303, paid.text
    assert paid.headers["location"] == SUCCESS.format(id=opened.id)
    [charge] = await stripe_charges(database, shop.account_id)
    assert charge.processor_reference is not None
    intent = localstripe.payment_intent(charge.processor_reference)
    assert (intent["amount"], intent["currency"], intent["status"]) == (1999, "usd", "succeeded")
    assert intent["metadata"][METADATA_KEY] == charge.idempotency_key


@pytest.mark.parametrize(
    "sent",
    [
        {"card_number": "4242424242424242", "exp_month": "12", "exp_year": "2099", "cvc": "123"},
        {"card_number": "4242424242424242", "payment_method_id": SUCCEEDING_METHOD},
        {"payment_method_id": ""},
        {"payment_method_id": "tok_visa"},
        {"payment_method_id": "pm_<script>"},
        {"payment_method_id": "pm_" + "a" * 300},
    ],
    ids=["card-only", "card-beside-a-method", "empty", "not-a-payment-method", "odd-characters", "too-long"],
)
async def test_card_details_or_a_malformed_method_are_refused_and_charge_nothing(
    client: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    opened: CheckoutSession,
    sent: dict[str, str],
) -> None:
    token = await csrf(client, f"/c/{opened.secure_token}")
    form = {key: value for key, value in paying(token, "").items() if key != "payment_method_id"}

    refused = await client.post(f"/c/{opened.secure_token}", data={**form, **sent})

    assert refused.status_code == 422
    assert 'id="payment_method_id-error"' in refused.text
    assert "4242424242424242" not in refused.text
    assert await attempt_count(database) == 0
    assert await stripe_charges(database, shop.account_id) == []


async def test_three_d_secure_goes_through_the_authenticate_page_and_back_to_the_success_url(
    client: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    opened: CheckoutSession,
    localstripe: LocalStripe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await csrf(client, f"/c/{opened.secure_token}")

    challenged = await client.post(
        f"/c/{opened.secure_token}", data=paying(token, localstripe.card_method(THREE_DS_CARD))
    )

    assert challenged.status_code == 303, challenged.text
    target = urlsplit(challenged.headers["location"])
    assert target.path == f"/c/{opened.secure_token}/authenticate"
    attempt_id = target.query.removeprefix("checkout_attempt_id=")
    # The public API hands a custom front end the same page.
    public = await client.get(f"/api/public/checkout/{opened.secure_token}/attempts/{attempt_id}")
    assert public.json()["state"] == REQUIRES_ACTION
    assert public.json()["next_action"]["url"] == challenged.headers["location"]

    challenge = await client.get(f"{target.path}?{target.query}")

    assert challenge.status_code == 200
    [charge] = await stripe_charges(database, shop.account_id)
    assert charge.processor_reference is not None
    client_secret = localstripe.payment_intent(charge.processor_reference)["client_secret"]
    found = CLIENT_SECRET.search(challenge.text)
    assert found is not None
    assert found.group(1) == client_secret
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in challenge.text
    assert f'data-return-url="/c/{opened.secure_token}?checkout_attempt_id={attempt_id}"' in challenge.text
    assert challenge.headers["cache-control"] == "no-store"
    assert challenge.headers["referrer-policy"] == "no-referrer"
    assert directives(challenge)["script-src"] == "'self' https://js.stripe.com"

    # What Stripe.js does in the customer's browser: the challenge passed, told with the publishable key.
    passed = httpx.post(
        f"{localstripe.api_base}/v1/payment_intents/{charge.processor_reference}/_authenticate",
        data={"key": PUBLISHABLE_KEY, "client_secret": client_secret, "success": "true"},
    )
    assert passed.status_code == 200, passed.text
    back = await client.get(f"/c/{opened.secure_token}?checkout_attempt_id={attempt_id}")

    assert back.status_code == 303
    assert back.headers["location"] == SUCCESS.format(id=opened.id)
    assert localstripe.payment_intent(charge.processor_reference)["status"] == "succeeded"
    assert client_secret not in caplog.text
    # Settled: the authenticate page holds no secret any more and sends the customer on to the outcome.
    again = await client.get(f"{target.path}?{target.query}")
    assert again.status_code == 303
    assert again.headers["location"] == f"/c/{opened.secure_token}?checkout_attempt_id={attempt_id}"
    assert client_secret not in again.text


async def test_the_authenticate_page_of_an_unknown_attempt_goes_back_to_the_page(
    client: httpx.AsyncClient, opened: CheckoutSession
) -> None:
    for query in ("", "?checkout_attempt_id=catt_nope", "?checkout_attempt_id=" + "x" * 200):
        answered = await client.get(f"/c/{opened.secure_token}/authenticate{query}")
        assert answered.status_code == 303
        assert answered.headers["location"] == f"/c/{opened.secure_token}"
    unknown = await client.get("/c/no-such-token/authenticate?checkout_attempt_id=catt_nope")
    assert unknown.status_code == 404


async def test_a_declined_payment_method_shows_our_message_and_the_form_again(
    client: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession
) -> None:
    token = await csrf(client, f"/c/{opened.secure_token}")

    declined = await client.post(f"/c/{opened.secure_token}", data=paying(token, CHARGE_DECLINED_METHOD))

    assert declined.status_code == 200
    async with database.reading() as fresh:
        [attempt] = await fresh.scalars(select(CheckoutAttempt))
    assert attempt.state == FAILED
    message = customer_message(attempt.decline_code)
    assert f'<div class="alert decline" id="decline" role="alert"><p>{message}</p>' in declined.text
    # localstripe's own words go to the merchant only.
    assert "Your card was declined." not in declined.text
    assert 'id="payment-element"' in declined.text


async def test_a_stripe_connection_without_a_publishable_key_leaves_the_page_to_the_next_processor(
    client: httpx.AsyncClient,
    database: Database,
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    localstripe: LocalStripe,
) -> None:
    await connect_stripe(session, settings, shop.account_id, localstripe.api_base, publishable_key=None)
    only_stripe = await flow.open_session(session, shop.account_id, [shop.tshirt])

    unavailable = await client.get(f"/c/{only_stripe.secure_token}")

    assert 'id="payment-element"' not in unavailable.text
    assert 'name="card_number"' not in unavailable.text
    assert "Card payments aren&#39;t available for this checkout right now." in unavailable.text
    assert "script-src" not in unavailable.headers["content-security-policy"]
    token = CSRF.search(unavailable.text)
    assert token is not None
    refused = await client.post(f"/c/{only_stripe.secure_token}", data=paying(token.group(1), SUCCEEDING_METHOD))
    assert refused.status_code == 409
    assert await attempt_count(database) == 0

    await flow.simulator(session, shop.account_id)
    simulated = await client.get(f"/c/{only_stripe.secure_token}")
    assert 'name="card_number"' in simulated.text
    assert 'id="payment-element"' not in simulated.text
    # The simulator's form loads the page's own script only: nothing of Stripe's.
    assert "script-src 'self'; " in simulated.headers["content-security-policy"]
    assert "stripe" not in simulated.headers["content-security-policy"]
