"""Bad input to the hosted page, on both backends: other scripts' digits, NUL characters, internationalised and
hostile redirect URLs. Each was a 500 (or a header injection) once; each is now a 4xx that stores nothing, or a
page that opens."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.app import create_app
from checkstand.checkout.models import CheckoutSession
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.payments.models import CheckoutAttempt
from checkstand.settings import Settings
from tests.conftest import bearer
from tests.payments import flow
from tests.shop import Shop

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
IDN_URL = "https://\u0430pple.com/thanks?session={CHECKOUT_SESSION_ID}"  # a Cyrillic a
CSP_INJECTION = "https://shop.example; script-src 'unsafe-inline' *; x/ok"


@pytest.fixture
async def browser(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=settings.resolved_public_url) as http:
        yield http


@pytest.fixture
async def opened(session: AsyncSession, shop: Shop) -> CheckoutSession:
    await flow.simulator(session, shop.account_id)
    return await flow.open_session(session, shop.account_id, [shop.tshirt])


async def csrf_token(browser: httpx.AsyncClient, checkout: CheckoutSession) -> str:
    shown = await browser.get(f"/c/{checkout.secure_token}")
    found = CSRF.search(shown.text)
    assert found is not None, shown.text
    return found.group(1)


def paying(token: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "action": "pay",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "card_number": flow.GOOD_CARD,
        "exp_month": "12",
        "exp_year": "2099",
        "cvc": "123",
        **fields,
    }


async def stored(database: Database) -> tuple[int, int]:
    """Attempts, and events: what a refused post must not have added to."""
    async with database.reading() as fresh:
        attempts = await fresh.scalar(select(func.count()).select_from(CheckoutAttempt))
        events = await fresh.scalar(select(func.count()).select_from(Event))
    return int(attempts or 0), int(events or 0)


OTHER_SCRIPTS_DIGITS = [
    ("exp_month", "\u00b9"),  # superscript one: isdigit() but not int()
    ("exp_year", "\u00b2\u2070\u00b3\u2070"),  # superscript 2030
    ("exp_month", "\uff11\uff12"),  # full-width 12
    ("exp_year", "\u0662\u0660\u0669\u0669"),  # Arabic-Indic 2099
    ("card_number", "\u0664\u0662\u0664\u0662" * 4),  # Arabic-Indic 4242...
    ("card_number", "\uff14\uff12\uff14\uff12" * 4),  # full-width 4242...
    ("cvc", "\u0661\u0662\u0663"),  # Arabic-Indic 123
    ("cvc", "\u00b9\u00b2\u00b3"),
]


async def test_digits_of_other_scripts_are_the_fields_error_and_charge_nothing(
    browser: httpx.AsyncClient, database: Database, opened: CheckoutSession
) -> None:
    token = await csrf_token(browser, opened)
    before = await stored(database)

    for field, value in OTHER_SCRIPTS_DIGITS:
        refused = await browser.post(f"/c/{opened.secure_token}", data=paying(token, **{field: value}))

        assert refused.status_code == 422, (field, value)
        # The month and the year are one field on the page: their errors are told there.
        shown_at = "exp" if field.startswith("exp_") else field
        assert f'id="{shown_at}-error"' in refused.text
    assert await stored(database) == before


NUL_POSTS = [
    ({"name": "a\x00b"}, "name"),
    ({"email": "ada\x00@example.com"}, "email"),
    ({"promotion_code": "A\x00B"}, "promotion_code"),
    ({"promotion_code": "A\x00B", "action": "apply"}, "promotion_code"),
    ({"card_number": "4242\x004242"}, None),
    ({"action": "pay\x00"}, None),
]


async def test_a_nul_in_any_field_is_refused_before_anything_is_stored(
    browser: httpx.AsyncClient, database: Database, opened: CheckoutSession
) -> None:
    token = await csrf_token(browser, opened)
    before = await stored(database)

    for fields, shown_error in NUL_POSTS:
        refused = await browser.post(f"/c/{opened.secure_token}", data=paying(token, **fields))

        assert refused.status_code == 422, fields
        assert "NUL" in refused.text
        assert "\x00" not in refused.text
        if shown_error is not None:
            assert f'id="{shown_error}-error"' in refused.text
    assert await stored(database) == before
    async with database.reading() as fresh:
        assert await fresh.scalar(select(CheckoutSession.promotion_code).where(CheckoutSession.id == opened.id)) is None


async def test_an_internationalised_success_url_is_stored_punycoded_and_its_page_opens(
    browser: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await browser.post(
        f"/api/{shop.account_id}/checkout-sessions/",
        json={
            "success_url": IDN_URL,
            "return_url": "https://b\u00fccher.example/",
            "line_items": [{"price_id": shop.tshirt}],
        },
        headers=bearer(shop.secret),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["success_url"] == "https://xn--pple-43d.com/thanks?session={CHECKOUT_SESSION_ID}"
    assert body["return_url"] == "https://xn--bcher-kva.example/"

    shown = await browser.get(f"/c/{body['secure_token']}")

    assert shown.status_code == 200
    assert "form-action 'self' https://xn--pple-43d.com;" in shown.headers["content-security-policy"]


UNCARRIABLE_URLS = [
    CSP_INJECTION,
    "https://shop.example;script-src/ok",
    "https://shop.example/ok;frame-ancestors",
    "https://shop.example/ok,x",
    "https://shop.example/o'k",
    'https://shop.example/o"k',
    "https://shop.example/ok\r\nSet-Cookie: a=b",
    "https://shop.example/\x7f",
    "https://sh\u200bop.example/",  # a zero-width space
    "https://xn--.example/",
    "https://-shop.example/",
    "https://0x7f.1/",
]


async def test_a_url_a_header_or_policy_cannot_carry_is_refused_at_creation(
    browser: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    before = await stored(database)
    for url in UNCARRIABLE_URLS:
        for field in ("success_url", "return_url"):
            body = {"success_url": "https://shop.example/ok", "return_url": "https://shop.example/back", field: url}
            refused = await browser.post(
                f"/api/{shop.account_id}/checkout-sessions/",
                json={**body, "line_items": [{"price_id": shop.tshirt}]},
                headers=bearer(shop.secret),
            )

            assert refused.status_code == 422, (url, refused.text)
            assert [problem["loc"] for problem in refused.json()["detail"]] == [["body", field]]
    assert await stored(database) == before


async def test_a_stored_url_that_no_longer_parses_never_fails_the_page_nor_reaches_its_policy(
    browser: httpx.AsyncClient, session: AsyncSession, opened: CheckoutSession
) -> None:
    """Sessions stored before the checks existed keep their text: the page opens, and the policy holds only what
    Checkstand wrote."""
    await session.execute(
        update(CheckoutSession)
        .where(CheckoutSession.id == opened.id)
        .values(success_url=CSP_INJECTION, return_url="https://\u0430pple.com/")
    )
    await session.commit()

    shown = await browser.get(f"/c/{opened.secure_token}")

    assert shown.status_code == 200
    policy = shown.headers["content-security-policy"]
    assert "unsafe-inline" not in policy
    assert "form-action 'self';" in policy
    # The page's own script only: the stored URL added no source.
    assert policy.count("script-src") == 1
    assert "script-src 'self'; " in policy
