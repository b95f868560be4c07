"""The hosted page in the customer's language, in process on both backends: the session's ``locale`` as the API
takes it (checked, stored, returned), ``auto`` negotiated from the client's ``Accept-Language``, amounts and dates
in the same locale, and the service's refusals in a customer's words."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from payment_kit.types import CheckoutSession as SdkCheckoutSession
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout.models import CheckoutSession
from checkstand.db import Database
from tests.conftest import bearer
from tests.pages.test_checkout_page import form
from tests.payments import flow
from tests.shop import Shop

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def create(client: httpx.AsyncClient, shop: Shop, **fields: Any) -> httpx.Response:
    return await client.post(
        f"/api/{shop.account_id}/checkout-sessions/",
        json={
            "success_url": "https://shop.test/ok",
            "return_url": "https://shop.test/back",
            "line_items": [{"price_id": shop.tshirt}],
            **fields,
        },
        headers=bearer(shop.secret),
    )


async def euro_session(client: httpx.AsyncClient, session: AsyncSession, shop: Shop, **fields: Any) -> str:
    """A session of 1,234.50 EUR, paid through the simulator; its page's path."""
    await flow.simulator(session, shop.account_id, currencies=["eur", "usd"])
    product = await catalog.create_product(session, shop.account_id, name="Espresso machine")
    price = await catalog.create_price(
        session, shop.account_id, product_id=product.id, currency="eur", unit_amount_atom=123450
    )
    await session.commit()
    created = await create(client, shop, line_items=[{"price_id": price.id}], **fields)
    assert created.status_code == 201, created.text
    return "/c/" + created.json()["url"].rsplit("/", 1)[1]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [(None, "auto"), ("auto", "auto"), ("de", "de"), ("ja", "ja"), ("de-CH", "de-CH"), ("fr_CA", "fr-CA")],
)
async def test_the_locale_is_taken_stored_and_returned_where_the_sdk_reads_it(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop, sent: str | None, stored: str
) -> None:
    created = await create(client, shop, **({} if sent is None else {"locale": sent}))

    assert created.status_code == 201, created.text
    assert created.json()["locale"] == stored
    read = await client.get(
        f"/api/{shop.account_id}/checkout-sessions/{created.json()['id']}", headers=bearer(shop.secret)
    )
    assert read.json()["locale"] == stored
    assert SdkCheckoutSession.model_validate(read.json()).id == created.json()["id"]
    row = await session.scalar(select(CheckoutSession.locale).where(CheckoutSession.id == created.json()["id"]))
    assert row == stored


@pytest.mark.parametrize("sent", ["pt", "klingon", "xx-YY", "", "de-DE-x-private-use-tag-too-long", 7])
async def test_an_unknown_locale_is_a_422_naming_the_field_and_creates_nothing(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop, sent: object
) -> None:
    refused = await create(client, shop, locale=sent)

    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "locale"]
    assert problem["msg"]
    assert await session.scalar(select(func.count()).select_from(CheckoutSession)) == 0


async def test_a_german_browser_reads_the_page_in_german_with_german_amounts(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    path = await euro_session(client, session, shop)

    german = await client.get(path, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.8"})
    english = await client.get(path)

    assert '<html lang="de">' in german.text
    assert "<h1>Bezahlen</h1>" in german.text
    assert "Bestellübersicht" in german.text
    assert 'id="total">1.234,50\xa0€<' in german.text
    assert ">1.234,50\xa0€ bezahlen</button>" in german.text
    assert "Vollständiger Name" in german.text
    assert "Order summary" not in german.text
    assert '<html lang="en">' in english.text
    assert 'id="total">€1,234.50<' in english.text
    assert ">Pay €1,234.50</button>" in english.text


@pytest.mark.parametrize(
    ("header", "lang", "total"),
    [
        ("fr-FR", "fr", "1\u202f234,50\xa0€"),
        ("es", "es", "1.234,50\xa0€"),
        ("pt-BR, ja;q=0.5", "ja", "€1,234.50"),
        ("pt-BR, *;q=0.5", "en", "€1,234.50"),
        ("de-CH", "de", "EUR\xa01&#39;234.50"),  # Swiss grouping, its apostrophe escaped in HTML
    ],
)
async def test_auto_picks_the_first_language_the_browser_prefers_that_the_page_speaks(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop, header: str, lang: str, total: str
) -> None:
    path = await euro_session(client, session, shop)

    shown = await client.get(path, headers={"Accept-Language": header})

    assert f'<html lang="{lang}">' in shown.text
    assert f'id="total">{total}<' in shown.text


async def test_the_session_s_own_locale_beats_the_browser_s(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    path = await euro_session(client, session, shop, locale="ja")

    shown = await client.get(path, headers={"Accept-Language": "de-DE,de;q=0.9"})

    assert '<html lang="ja">' in shown.text
    assert "ご注文内容" in shown.text
    assert "Bestellübersicht" not in shown.text
    assert 'id="total">€1,234.50<' in shown.text


async def test_an_empty_form_is_refused_in_german_in_a_customer_s_words(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop
) -> None:
    path = await euro_session(client, session, shop, locale="de")
    shown = await client.get(path)
    token = CSRF.search(shown.text)
    assert token is not None

    refused = await client.post(path, data={"csrf_token": token.group(1), "action": "pay"})

    assert refused.status_code == 422
    for message in (
        "Bitte prüfen Sie die unten markierten Felder.",
        "Bitte geben Sie Ihren vollständigen Namen ein.",
        "Bitte geben Sie Ihre E-Mail-Adresse ein.",
        "Bitte geben Sie die Kartennummer ein.",
    ):
        assert message in refused.text
    assert await flow.charged_amounts(session, shop.account_id) == []


async def test_a_service_refusal_is_told_in_the_customer_s_words_never_the_api_s(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    path = await euro_session(client, session, shop, locale="fr")
    token = CSRF.search((await client.get(path)).text)
    assert token is not None

    unknown = await client.post(path, data={"csrf_token": token.group(1), "action": "apply", "promotion_code": "NOPE"})
    english = await client.post(
        path,
        data={"csrf_token": token.group(1), "action": "apply", "promotion_code": "NOPE"},
        headers={"Accept-Language": "en"},
    )

    assert unknown.status_code == 422
    assert "Ce code promo n\u2019existe pas. Vérifiez-le et réessayez." in unknown.text
    # The session's French wins over the header; the API's own words never reach the page.
    assert "Ce code promo n\u2019existe pas." in english.text
    assert "No promotion code" not in unknown.text


async def test_paying_an_auto_session_keeps_the_browser_s_locale_for_the_receipts(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop
) -> None:
    path = await euro_session(client, session, shop)
    french = {"Accept-Language": "fr-FR,fr;q=0.9"}
    token = CSRF.search((await client.get(path, headers=french)).text)
    assert token is not None

    paid = await client.post(path, data=form(token.group(1)), headers=french)

    assert paid.status_code == 303
    async with database.reading() as fresh:
        kept = await fresh.scalar(
            select(CheckoutSession.customer_locale).where(CheckoutSession.secure_token == path[3:])
        )
    assert kept == "fr_FR"
