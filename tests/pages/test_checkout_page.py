"""The hosted checkout page, in process on both backends: what it shows, and every way a customer can leave it."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount

from checkstand.accounts import service as accounts
from checkstand.app import create_app
from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout
from checkstand.checkout.models import CheckoutSession
from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.discounts import coupons, promotion_codes
from checkstand.pages import checkout as page
from checkstand.pages import simulator_3ds
from checkstand.payments.models import CheckoutAttempt
from checkstand.processors.base import customer_message
from checkstand.settings import Settings
from checkstand.subscriptions.models import Subscription
from tests.payments import flow
from tests.shop import Plans, Shop

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REFRESH = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')
SUCCESS_URL = "https://shop.test/ok?session={id}"


@pytest.fixture
async def browser(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, with the checkout page and its stylesheet whether or not ``app.py`` lists them yet."""
    app = create_app(settings, database=database)
    paths = {route.path for route in app.routes if isinstance(route, APIRoute)}
    if "/c/{token}" not in paths:
        app.include_router(page.router)
    if not any(isinstance(route, Mount) and route.path == page.STATIC_PATH for route in app.routes):
        app.mount(page.STATIC_PATH, page.STATIC)
    if "/simulator/3ds/{token}" not in paths:
        app.include_router(simulator_3ds.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=settings.resolved_public_url) as http:
        yield http


@pytest.fixture
async def opened(session: AsyncSession, shop: Shop) -> CheckoutSession:
    await flow.simulator(session, shop.account_id)
    return await flow.open_session(session, shop.account_id, [shop.tshirt])


def form(token: str, number: str = flow.GOOD_CARD, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "action": "pay",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "card_number": number,
        "exp_month": "12",
        "exp_year": "2099",
        "cvc": "123",
        **extra,
    }


async def csrf(browser: httpx.AsyncClient, path: str) -> str:
    shown = await browser.get(path)
    found = CSRF.search(shown.text)
    assert found is not None, shown.text
    return found.group(1)


async def attempt_count(database: Database) -> int:
    async with database.reading() as fresh:
        return int(await fresh.scalar(select(func.count()).select_from(CheckoutAttempt)) or 0)


async def charged(database: Database, account_id: str) -> list[int]:
    async with database.reading() as fresh:
        return await flow.charged_amounts(fresh, account_id)


def assert_locked_down(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    # Scripts, if any, only the page's own from this server (``'self'``), never inline.
    assert re.match(
        r"default-src 'none'; (script-src 'self'; )?style-src 'self'; img-src 'self' https:; form-action 'self'", policy
    )
    assert policy.endswith("frame-ancestors 'none'; base-uri 'none'")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_the_page_shows_the_merchant_items_and_amounts_and_nothing_internal(
    browser: httpx.AsyncClient, session: AsyncSession, shop: Shop, opened: CheckoutSession
) -> None:
    account = await accounts.get_account(session, shop.account_id)
    await accounts.update_brand_settings(
        session, account, {"name": "Corner <Shop>", "accent_color": "#123abc", "logo": "https://cdn.shop.test/l.png"}
    )
    await session.commit()

    shown = await browser.get(f"/c/{opened.secure_token}")

    assert shown.status_code == 200
    assert_locked_down(shown)
    text = shown.text
    assert "Corner &lt;Shop&gt;" in text
    assert 'src="https://cdn.shop.test/l.png"' in text
    assert "T-shirt" in text
    assert "Qty 1" in text
    assert "Pay $19.99" in text
    assert 'id="total">$19.99<' in text
    assert 'name="name"' in text
    assert 'name="email"' in text
    for internal in ("secret-internal-42", "metadata", shop.account_id, opened.id, shop.tshirt):
        assert internal not in text
    assert 'name="amount' not in text
    theme = await browser.get(f"/c/{opened.secure_token}/theme.css")
    assert theme.headers["content-type"].startswith("text/css")
    assert theme.text == ":root { --accent: #123abc; --on-accent: #ffffff; --accent-text: #123abc; }\n"
    stylesheet = await browser.get(f"{page.STATIC_PATH}/checkout.css")
    assert stylesheet.status_code == 200
    assert ":focus-visible" in stylesheet.text


@pytest.mark.parametrize(
    ("language", "shown"), [("de-DE,de;q=0.9", "19,99\xa0$"), ("xx-nope", "$19.99"), ("", "$19.99")]
)
async def test_amounts_are_formatted_in_the_browsers_locale(
    browser: httpx.AsyncClient, opened: CheckoutSession, language: str, shown: str
) -> None:
    page_ = await browser.get(f"/c/{opened.secure_token}", headers={"Accept-Language": language})

    assert f'id="total">{shown}<' in page_.text


async def test_a_customer_already_known_is_not_asked_for_name_and_email(
    browser: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    customer = await customers.create_customer(session, shop.account_id, email="ada@example.com", first_name="Ada")
    created = await flow.open_session(session, shop.account_id, [shop.tshirt], customer_id=customer.id)

    shown = await browser.get(f"/c/{created.secure_token}")

    assert 'name="email"' not in shown.text
    assert "ada@example.com" not in shown.text


async def test_an_unknown_token_is_a_404_that_tells_nothing(browser: httpx.AsyncClient) -> None:
    for response in (
        await browser.get("/c/cst_nope"),
        await browser.post("/c/cst_nope", data={"csrf_token": "x"}),
        await browser.get("/c/" + "x" * 200),
    ):
        assert response.status_code == 404
        assert "Page not found" in response.text
        assert_locked_down(response)


async def test_a_post_without_the_csrf_token_is_refused_and_starts_nothing(
    browser: httpx.AsyncClient, database: Database, opened: CheckoutSession
) -> None:
    missing = await browser.post(
        f"/c/{opened.secure_token}", data={k: v for k, v in form("").items() if k != "csrf_token"}
    )
    forged = await browser.post(f"/c/{opened.secure_token}", data=form("0" * 64))

    assert (missing.status_code, forged.status_code) == (403, 403)
    assert "Request refused" in forged.text
    assert await attempt_count(database) == 0


async def test_the_csrf_token_of_one_session_does_not_open_another(
    browser: httpx.AsyncClient, database: Database, session: AsyncSession, shop: Shop, opened: CheckoutSession
) -> None:
    other = await flow.open_session(session, shop.account_id, [shop.sticker])
    token = await csrf(browser, f"/c/{opened.secure_token}")

    refused = await browser.post(f"/c/{other.secure_token}", data=form(token))

    assert refused.status_code == 403
    assert await attempt_count(database) == 0


async def test_paying_redirects_to_the_success_url_and_charges_the_servers_amount(
    browser: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")

    paid = await browser.post(
        f"/c/{opened.secure_token}",
        data=form(token, amount_atom="1", amount_total_atom="1", unit_amount_atom="1", currency="jpy"),
    )

    assert paid.status_code == 303
    assert paid.headers["location"] == SUCCESS_URL.format(id=opened.id)
    assert "https://shop.test" in paid.headers["content-security-policy"]
    assert await charged(database, shop.account_id) == [1999]


async def test_a_decline_shows_the_customers_reason_and_keeps_the_form_then_a_retry_pays(
    browser: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")

    declined = await browser.post(f"/c/{opened.secure_token}", data=form(token, flow.INSUFFICIENT_FUNDS_CARD))

    assert declined.status_code == 200
    assert customer_message("insufficient_funds") in declined.text
    assert 'role="alert"' in declined.text
    assert 'value="Ada Lovelace"' in declined.text
    assert flow.INSUFFICIENT_FUNDS_CARD not in declined.text
    assert 'value="123"' not in declined.text
    assert "simulator" not in declined.text.lower()

    paid = await browser.post(f"/c/{opened.secure_token}", data=form(token))

    assert paid.status_code == 303
    assert paid.headers["location"] == SUCCESS_URL.format(id=opened.id)
    assert await attempt_count(database) == 2


async def test_repeated_declines_are_rate_limited_and_the_page_says_so(
    browser: httpx.AsyncClient, database: Database, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")
    for index in range(flow.POLICY.rate_limits.max_failed_per_session):
        number = flow.DECLINING_CARDS[index % len(flow.DECLINING_CARDS)]
        declined = await browser.post(f"/c/{opened.secure_token}", data=form(token, number))
        assert declined.status_code == 200

    limited = await browser.post(f"/c/{opened.secure_token}", data=form(token))

    assert limited.status_code == 429
    assert "Too many failed payments" in limited.text
    assert 'name="card_number"' in limited.text
    assert await attempt_count(database) == flow.POLICY.rate_limits.max_failed_per_session


async def test_bad_fields_are_tied_to_their_field_and_change_nothing(
    browser: httpx.AsyncClient, database: Database, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")

    bad_card = await browser.post(
        f"/c/{opened.secure_token}", data=form(token, "42", exp_month="13", email="not-an-email")
    )
    no_name = await browser.post(f"/c/{opened.secure_token}", data=form(token, name=""))

    assert bad_card.status_code == 422
    for field in ("card_number", "exp", "email"):
        assert f'aria-describedby="{field}-error"' in bad_card.text
        assert f'id="{field}-error"' in bad_card.text
    assert no_name.status_code == 422
    assert 'aria-describedby="name-error"' in no_name.text
    assert await attempt_count(database) == 0


async def test_every_fields_error_is_told_at_once_without_javascript(
    browser: httpx.AsyncClient, database: Database, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")
    empty = {"csrf_token": token, "action": "pay", "name": "", "email": "", "card_number": "", "exp": "", "cvc": ""}

    refused = await browser.post(f"/c/{opened.secure_token}", data=empty)

    assert refused.status_code == 422
    for field, message in (
        ("name", "Enter your full name."),
        ("email", "Enter your email address."),
        ("card_number", "Enter the card number."),
        ("exp", "Enter the expiry date as MM / YY, as printed on your card."),
        ("cvc", "Enter the 3 or 4 digit security code."),
    ):
        assert f'<p class="error" id="{field}-error">{message}</p>' in refused.text
    assert await attempt_count(database) == 0


@pytest.mark.parametrize("expiry", ["12 / 99", "12/99", "1299", "12/2099"])
async def test_the_one_expiry_field_takes_the_date_as_printed_and_pays(
    browser: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession, expiry: str
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")
    fields = {**form(token, "4242 4242 4242 4242", exp=expiry)}
    del fields["exp_month"], fields["exp_year"]

    paid = await browser.post(f"/c/{opened.secure_token}", data=fields)

    assert paid.status_code == 303
    assert await charged(database, shop.account_id) == [opened.amount_total_atom]


async def test_a_completed_session_says_so_and_is_never_charged_twice(
    browser: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")
    assert (await browser.post(f"/c/{opened.secure_token}", data=form(token))).status_code == 303

    shown = await browser.get(f"/c/{opened.secure_token}")
    again = await browser.post(f"/c/{opened.secure_token}", data=form(token))

    assert shown.status_code == 200
    assert "<h1>Payment complete</h1>" in shown.text
    assert 'id="paid-amount">$19.99<' in shown.text
    assert 'id="purchased">T-shirt<' in shown.text
    assert re.search(r'id="reference">[^<]+<', shown.text)
    # No SMTP configured here: no receipt is sent, and the page says nothing of one.
    assert "receipt" not in shown.text.lower()
    assert 'name="card_number"' not in shown.text
    assert 'href="https://shop.test/back"' in shown.text
    assert again.status_code == 409
    assert "<h1>Payment complete</h1>" in again.text
    assert await charged(database, shop.account_id) == [1999]


async def test_an_expired_session_says_so_offers_the_way_back_and_cannot_be_paid(
    browser: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession, frozen_clock: FrozenClock
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")
    frozen_clock.advance(timedelta(hours=checkout.DEFAULT_EXPIRY_HOURS, seconds=1))

    shown = await browser.get(f"/c/{opened.secure_token}")
    paying = await browser.post(f"/c/{opened.secure_token}", data=form(token))

    assert "Checkout expired" in shown.text
    assert 'href="https://shop.test/back"' in shown.text
    assert 'name="card_number"' not in shown.text
    assert paying.status_code == 409
    assert "Checkout expired" in paying.text
    assert await charged(database, shop.account_id) == []


@pytest.mark.parametrize(("decision", "succeeds"), [("approve", True), ("fail", False)])
async def test_3ds_goes_through_the_challenge_and_back(
    browser: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    opened: CheckoutSession,
    decision: str,
    succeeds: bool,
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")

    waiting = await browser.post(f"/c/{opened.secure_token}", data=form(token, flow.THREE_DS_CARD))
    assert waiting.status_code == 303
    challenge = waiting.headers["location"].removeprefix("http://checkstand.test")
    assert challenge.startswith("/simulator/3ds/")
    answered = await browser.post(challenge, data={"csrf_token": await csrf(browser, challenge), "decision": decision})
    assert answered.status_code == 200
    refresh = REFRESH.search(answered.text)
    assert refresh is not None, answered.text
    back = html.unescape(refresh.group(1)).removeprefix("http://checkstand.test")
    assert back.startswith(f"/c/{opened.secure_token}?checkout_attempt_id=catt_")

    landed = await browser.get(back)

    if succeeds:
        assert landed.status_code == 303
        assert landed.headers["location"] == SUCCESS_URL.format(id=opened.id)
        assert await charged(database, shop.account_id) == [1999]
    else:
        assert landed.status_code == 200
        assert 'role="alert"' in landed.text
        assert 'name="card_number"' in landed.text
        async with database.reading() as fresh:
            assert checkout.is_open(await checkout.get_session(fresh, shop.account_id, opened.id))


async def test_a_promotion_code_is_applied_and_shown_then_paid_at_the_discounted_total(
    browser: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")

    applied = await browser.post(
        f"/c/{opened.secure_token}", data={"csrf_token": token, "action": "apply", "promotion_code": shop.percent_code}
    )

    assert applied.status_code == 200
    assert "Promotion code applied." in applied.text
    assert 'id="discount">\N{MINUS SIGN}$2.00<' in applied.text
    assert 'id="total">$17.99<' in applied.text
    assert "Pay $17.99" in applied.text
    assert await attempt_count(database) == 0
    paid = await browser.post(f"/c/{opened.secure_token}", data=form(token))
    assert paid.status_code == 303
    assert await charged(database, shop.account_id) == [1799]


async def test_a_promotion_code_is_removed_without_javascript_and_the_full_total_is_paid(
    browser: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")
    applied = await browser.post(
        f"/c/{opened.secure_token}", data={"csrf_token": token, "action": "apply", "promotion_code": shop.percent_code}
    )
    assert 'value="remove_code"' in applied.text

    removed = await browser.post(f"/c/{opened.secure_token}", data={"csrf_token": token, "action": "remove_code"})

    assert removed.status_code == 200
    assert "Promotion code removed." in removed.text
    assert 'id="discount"' not in removed.text
    assert 'id="total">$19.99<' in removed.text
    assert "Add promotion code" in removed.text
    async with database.reading() as fresh:
        stored = await checkout.get_by_token(fresh, opened.secure_token)
        assert (stored.promotion_code, stored.discount, stored.amount_total_atom) == (None, None, 1999)
    paid = await browser.post(f"/c/{opened.secure_token}", data=form(token))
    assert paid.status_code == 303
    assert await charged(database, shop.account_id) == [1999]


async def test_a_refused_promotion_code_says_why_and_changes_nothing(
    browser: httpx.AsyncClient, database: Database, shop: Shop, opened: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{opened.secure_token}")

    refused = await browser.post(
        f"/c/{opened.secure_token}", data={"csrf_token": token, "action": "apply", "promotion_code": "NOSUCHCODE"}
    )

    assert refused.status_code == 422
    assert 'aria-describedby="promotion_code-error"' in refused.text
    assert 'value="NOSUCHCODE"' in refused.text
    assert 'id="total">$19.99<' in refused.text
    async with database.reading() as fresh:
        assert (await checkout.get_session(fresh, shop.account_id, opened.id)).amount_total_atom == 1999


@pytest.fixture
async def plan_session(session: AsyncSession, plans: Plans) -> CheckoutSession:
    await flow.simulator(session, plans.account_id)
    return await flow.open_session(session, plans.account_id, [plans.basic])


async def test_the_plan_tiers_are_offered_with_price_interval_and_trial_and_no_ids(
    browser: httpx.AsyncClient, plans: Plans, plan_session: CheckoutSession
) -> None:
    shown = await browser.get(f"/c/{plan_session.secure_token}")

    text = shown.text
    assert "<legend>Choose your plan</legend>" in text
    options = re.findall(r'<input type="radio" id="plan-\d" name="plan" value="([^"]+)"( checked)?>', text)
    assert options == [("0:1", " checked"), ("0:2", ""), ("0:3", "")]
    assert '<span class="plan-price">$15.00 per month</span> <span class="plan-trial">14-day free trial</span>' in text
    assert "$40.00 per month" in text
    for internal in (plans.basic, plans.pro, plans.team, plans.pro_older, plans.family_id):
        assert internal not in text


async def test_a_chosen_plan_is_priced_on_the_page_and_is_what_is_charged(
    browser: httpx.AsyncClient, database: Database, plans: Plans, plan_session: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{plan_session.secure_token}")

    changed = await browser.post(
        f"/c/{plan_session.secure_token}", data={"csrf_token": token, "action": "plan", "plan": "0:3"}
    )

    assert changed.status_code == 200
    assert "Plan changed." in changed.text
    assert 'id="total">$40.00<' in changed.text
    assert 'value="0:3" checked' in changed.text
    paid = await browser.post(f"/c/{plan_session.secure_token}", data=form(token, plan="0:3"))
    assert paid.status_code == 303
    assert await charged(database, plans.account_id) == [4000]


async def test_paying_with_another_plan_ticked_shows_its_total_first_and_charges_nothing_yet(
    browser: httpx.AsyncClient, database: Database, plans: Plans, plan_session: CheckoutSession
) -> None:
    token = await csrf(browser, f"/c/{plan_session.secure_token}")

    repriced = await browser.post(f"/c/{plan_session.secure_token}", data=form(token, plan="0:2"))

    assert repriced.status_code == 200
    assert "Plan changed. Check the new total, then pay." in repriced.text
    # Pro comes with a 14-day trial: its total is shown, and nothing is due today.
    assert 'id="total">$15.00<' in repriced.text
    assert "Start trial</button>" in repriced.text
    assert await attempt_count(database) == 0
    paid = await browser.post(f"/c/{plan_session.secure_token}", data=form(token, plan="0:2"))
    assert paid.status_code == 303
    assert await charged(database, plans.account_id) == [0]


async def test_a_code_the_new_plan_is_not_covered_by_is_removed_and_the_customer_told(
    browser: httpx.AsyncClient, session: AsyncSession, plans: Plans, plan_session: CheckoutSession
) -> None:
    basic = await catalog.get_price(session, plans.account_id, plans.basic)
    coupon = await coupons.create_coupon(
        session, plans.account_id, discount_type="percent_off", percent_off_bp=5_000, product_ids=[basic.product_id]
    )
    await promotion_codes.create_promotion_code(session, plans.account_id, coupon_id=coupon.id, code="BASICHALF")
    await session.commit()
    token = await csrf(browser, f"/c/{plan_session.secure_token}")
    applied = await browser.post(
        f"/c/{plan_session.secure_token}", data={"csrf_token": token, "action": "apply", "promotion_code": "BASICHALF"}
    )
    assert 'id="total">$2.50<' in applied.text

    changed = await browser.post(
        f"/c/{plan_session.secure_token}", data={"csrf_token": token, "action": "plan", "plan": "0:2"}
    )

    assert "Plan changed. The code BASICHALF does not apply to this plan and was removed." in changed.text
    assert 'id="total">$15.00<' in changed.text
    assert 'id="discount"' not in changed.text
    assert 'value="BASICHALF"' not in changed.text


@pytest.mark.parametrize("tampered", ["0:9", "1:2", "nonsense", "0:2:1", "price_x"])
async def test_a_tampered_plan_is_refused_at_its_field_and_changes_nothing(
    browser: httpx.AsyncClient, database: Database, plans: Plans, plan_session: CheckoutSession, tampered: str
) -> None:
    token = await csrf(browser, f"/c/{plan_session.secure_token}")

    refused = await browser.post(f"/c/{plan_session.secure_token}", data=form(token, plan=tampered))

    assert refused.status_code == 422
    assert 'aria-describedby="plan-error"' in refused.text
    assert re.search(r'<p class="error" id="plan-error">[^<]+</p>', refused.text)
    assert 'id="total">$5.00<' in refused.text
    assert await attempt_count(database) == 0


# --- Trials ---------------------------------------------------------------------------------------------------------

TRIAL_START = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def may_first() -> Iterator[FrozenClock]:
    """The clock on May 1, 2025, so a 14-day trial's end shows as a date the test can name."""
    frozen = FrozenClock(TRIAL_START)
    previous = clock.use(frozen)
    yield frozen
    clock.use(previous)


async def test_a_trial_says_nothing_is_due_today_and_paying_it_saves_the_card_without_a_charge(
    browser: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop, may_first: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    opened = await flow.open_session(session, shop.account_id, [shop.monthly])

    shown = await browser.get(f"/c/{opened.secure_token}")

    assert 'id="trial-terms">14-day free trial, then $9.00 per month starting May 15, 2025<' in shown.text
    assert 'id="total">$9.00<' in shown.text
    assert 'id="due-today">$0.00<' in shown.text
    assert "Start trial</button>" in shown.text
    assert "Pay $9.00" not in shown.text
    german = await browser.get(f"/c/{opened.secure_token}", headers={"Accept-Language": "de-DE"})
    assert 'id="recurrence">$0.00 today<' in shown.text
    assert "14 Tage kostenlos testen, danach 9,00\xa0$ pro Monat ab 15. Mai 2025" in german.text

    token = CSRF.search(shown.text)
    assert token is not None
    paid = await browser.post(f"/c/{opened.secure_token}", data=form(token.group(1)))

    assert paid.status_code == 303
    assert paid.headers["location"] == SUCCESS_URL.format(id=opened.id)
    # The simulator's network recorded a setup of nothing, and no charge with an amount.
    assert await charged(database, shop.account_id) == [0]
    async with database.reading() as fresh:
        subscription = await fresh.scalar(select(Subscription).where(Subscription.checkout_session_id == opened.id))
    assert subscription is not None
    assert subscription.status == "trialing"
    assert subscription.trial_end == datetime(2025, 5, 15, 12, 0, tzinfo=UTC)
    assert subscription.payment_method_reference is not None


async def test_a_one_time_price_beside_a_trial_is_all_that_is_paid_today(
    browser: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop, may_first: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt, shop.monthly])

    shown = await browser.get(f"/c/{opened.secure_token}")

    assert 'id="trial-terms">14-day free trial, then $9.00 per month starting May 15, 2025<' in shown.text
    assert 'id="total">$28.99<' in shown.text
    assert "Pay $19.99</button>" in shown.text
    token = CSRF.search(shown.text)
    assert token is not None
    paid = await browser.post(f"/c/{opened.secure_token}", data=form(token.group(1)))
    assert paid.status_code == 303
    assert await charged(database, shop.account_id) == [1999]


async def test_a_price_without_a_trial_shows_no_trial_terms(
    browser: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    opened = await flow.open_session(session, shop.account_id, [shop.yearly])

    shown = await browser.get(f"/c/{opened.secure_token}")

    assert "trial-terms" not in shown.text
    assert "due-today" not in shown.text
    assert "Pay $90.00</button>" in shown.text
