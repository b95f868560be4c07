"""Pages and large JSON answers are gzipped for a client that asks, and only then; small answers never are, nor
the dashboard's pages and a form post's answer, which carry a CSRF token beside text an attacker may choose (BREACH)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.api.http.compression import GZIP_MINIMUM_BYTES
from checkstand.checkout.models import CheckoutSession
from tests.dashboard.helpers import csrf_of, make_user, page_csrf, sign_in
from tests.shop import Shop

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


async def test_a_large_json_list_comes_gzipped_to_a_client_that_asks(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await session.commit()
    path = f"/api/{shop.account_id}/prices/?limit=100"
    auth = {"Authorization": f"Bearer {shop.secret}"}

    gzipped = await client.get(path, headers={**auth, **GZIP})
    plain = await client.get(path, headers={**auth, **IDENTITY})

    assert (gzipped.status_code, plain.status_code) == (200, 200)
    assert len(plain.content) > GZIP_MINIMUM_BYTES
    assert gzipped.headers["content-encoding"] == "gzip"
    assert int(gzipped.headers["content-length"]) < len(plain.content)
    assert "accept-encoding" in gzipped.headers["vary"].lower()
    assert "content-encoding" not in plain.headers
    assert gzipped.json() == plain.json()
    assert len(plain.json()["items"]) >= 5


async def test_the_hosted_page_comes_gzipped_to_a_client_that_asks(
    client: httpx.AsyncClient, opened: CheckoutSession
) -> None:
    path = f"/c/{opened.secure_token}"

    gzipped = await client.get(path, headers=GZIP)
    plain = await client.get(path, headers=IDENTITY)

    assert (gzipped.status_code, plain.status_code) == (200, 200)
    assert gzipped.headers["content-type"].startswith("text/html")
    assert gzipped.headers["content-encoding"] == "gzip"
    assert int(gzipped.headers["content-length"]) < len(plain.content)
    assert "content-encoding" not in plain.headers
    assert "<form" in gzipped.text
    assert "<form" in plain.text


async def test_a_small_answer_is_not_compressed(client: httpx.AsyncClient) -> None:
    healthz = await client.get("/healthz", headers=GZIP)

    assert healthz.status_code == 200
    assert len(healthz.content) < GZIP_MINIMUM_BYTES
    assert "content-encoding" not in healthz.headers


async def test_dashboard_pages_and_form_answers_are_never_compressed(
    client: httpx.AsyncClient, session: AsyncSession, opened: CheckoutSession
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    search = await client.get("/dashboard/checkout-sessions?q=" + "chosen" * 300, headers=GZIP)
    refused = await client.post(
        "/dashboard/webhook-endpoints/new",
        data={"csrf_token": await page_csrf(client), "url": "not a url " * 200},
        headers=GZIP,
    )
    hosted = f"/c/{opened.secure_token}"
    page_csrf_token = csrf_of((await client.get(hosted)).text)
    page_form = await client.post(hosted, data={"csrf_token": page_csrf_token, "email": "x" * 200}, headers=GZIP)

    assert search.status_code == 200
    assert refused.status_code == 422
    for answer in (search, refused, page_form):
        assert len(answer.content) > GZIP_MINIMUM_BYTES
        assert "content-encoding" not in answer.headers
    assert "csrf_token" in search.text
