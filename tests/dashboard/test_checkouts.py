"""Creating, listing and reading checkout sessions in the dashboard: the same service and messages as the API, and
no object of another account."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.core.pagination import PageParams
from checkstand.dashboard import service as dashboard_service
from tests.conftest import bearer
from tests.dashboard.helpers import make_user, page_csrf, sign_in
from tests.payments import flow


async def _price(session: AsyncSession, account_id: str) -> str:
    await flow.simulator(session, account_id)
    product = await catalog.create_product(session, account_id, name="T-shirt")
    price = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1999
    )
    await session.commit()
    return price.id


async def test_the_form_refuses_bad_input_with_the_apis_messages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    price_id = await _price(session, user.account_id)
    await sign_in(client, user.email)
    bad = {
        "success_url": "javascript:alert(1)",
        "return_url": "https://shop.example/back",
        "expires_in_hours": "24",
        "price_id.0": price_id,
        "quantity.0": "1",
        "coupon_id": "coupon_nope",
    }
    api = await client.post(
        f"/api/{user.account_id}/checkout-sessions/",
        json={
            "success_url": bad["success_url"],
            "return_url": bad["return_url"],
            "line_items": [{"price_id": price_id}],
            "coupon_id": "coupon_nope",
        },
        headers=bearer(user.secret),
    )
    assert api.status_code == 422
    messages = {tuple(problem["loc"][1:]): problem["msg"] for problem in api.json()["detail"]}
    refused = await client.post(
        "/dashboard/checkout-sessions/new",
        data={**bad, "csrf_token": await page_csrf(client, "/dashboard/checkout-sessions/new")},
    )
    assert refused.status_code == 422
    assert messages
    for message in messages.values():
        assert _escaped(message) in refused.text
    # Each next to its field: the message is the field's description.
    assert re.search(r'id="success_url"[^>]*aria-invalid="true" aria-describedby="success_url-error"', refused.text)
    assert 'value="javascript:alert(1)"' in refused.text  # what was typed comes back, escaped as a value
    listing = await dashboard_service.list_checkout_sessions(
        session, user.account_id, state=None, search=None, page=PageParams()
    )
    assert listing.total == 0  # nothing stored


async def test_a_quantity_that_is_not_a_number_is_named(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    price_id = await _price(session, user.account_id)
    await sign_in(client, user.email)
    refused = await client.post(
        "/dashboard/checkout-sessions/new",
        data={
            "csrf_token": await page_csrf(client, "/dashboard/checkout-sessions/new"),
            "success_url": "https://shop.example/ok",
            "return_url": "https://shop.example/back",
            "price_id.2": price_id,
            "quantity.2": "two",
        },
    )
    assert refused.status_code == 422
    assert 'id="quantity-2-error">Enter a whole number<' in refused.text


async def test_the_form_creates_a_session_whose_link_works(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    price_id = await _price(session, user.account_id)
    await sign_in(client, user.email)
    created = await client.post(
        "/dashboard/checkout-sessions/new",
        data={
            "csrf_token": await page_csrf(client, "/dashboard/checkout-sessions/new"),
            "success_url": "https://shop.example/ok",
            "return_url": "https://shop.example/back",
            "expires_in_hours": "48",
            "price_id.1": price_id,
            "quantity.1": "3",
            "metadata_key.0": "order",
            "metadata_value.0": "A-17",
        },
    )
    assert created.status_code == 303, created.text
    detail = await client.get(created.headers["location"])
    assert detail.status_code == 200
    checkout_id = created.headers["location"].split("/")[-1].split("?")[0]
    stored = await checkout_service.get_session(session, user.account_id, checkout_id)
    assert stored.expires_in_hours == 48
    assert stored.session_metadata == {"order": "A-17"}
    assert [(item.price_id, item.quantity) for item in stored.line_items] == [(price_id, 3)]
    link = f"http://checkstand.test/c/{stored.secure_token}"
    assert f'value="{link}"' in detail.text
    assert "<svg" in detail.text
    assert "QR code of the checkout link" in detail.text
    assert (await client.get(link)).status_code == 200

    listed = await client.get("/dashboard/checkout-sessions", params={"state": "open", "q": checkout_id})
    assert checkout_id in listed.text
    assert checkout_id not in (await client.get("/dashboard/checkout-sessions", params={"state": "success"})).text


async def test_another_accounts_session_is_not_found(client: httpx.AsyncClient, session: AsyncSession) -> None:
    mine = await make_user(session)
    theirs = await make_user(session, email="other@elsewhere.example", name="Elsewhere")
    price_id = await _price(session, theirs.account_id)
    their_session = await checkout_service.create_session(
        session,
        theirs.account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://elsewhere.example/ok",
            return_url="https://elsewhere.example/back",
            line_items=[checkout_service.LineItemSpec(price_id)],
        ),
    )
    await session.commit()
    await sign_in(client, mine.email)
    response = await client.get(f"/dashboard/checkout-sessions/{their_session.id}")
    assert response.status_code == 404
    assert their_session.id not in (await client.get("/dashboard/checkout-sessions")).text
    # Their price can't be sold from my form either: the service refuses it as unknown.
    refused = await client.post(
        "/dashboard/checkout-sessions/new",
        data={
            "csrf_token": await page_csrf(client, "/dashboard/checkout-sessions/new"),
            "success_url": "https://shop.example/ok",
            "return_url": "https://shop.example/back",
            "price_id.0": price_id,
        },
    )
    assert refused.status_code == 422


async def test_home_draws_the_charts(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    price_id = await _price(session, user.account_id)
    for _ in range(2):
        await checkout_service.create_session(
            session,
            user.account_id,
            checkout_service.NewCheckoutSession(
                success_url="https://shop.example/ok",
                return_url="https://shop.example/back",
                line_items=[checkout_service.LineItemSpec(price_id)],
            ),
        )
    await session.commit()
    await sign_in(client, user.email)
    for days in ("7", "30", "90", "nonsense"):
        home = await client.get("/dashboard/", params={"days": days})
        assert home.status_code == 200
        assert 'aria-labelledby="sessions-title sessions-desc"' in home.text
        assert "Created: <strong>2</strong>" in home.text
    figures = await dashboard_service.overview(session, user.account_id, 7)
    assert len(figures.days) == 7
    assert figures.sessions[-1].created == 2
    assert figures.completed == 0


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
