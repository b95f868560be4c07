"""Payment links in the dashboard: created, listed, changed, deactivated and reactivated through the API's own
service and messages; refusals named at their field with nothing stored; no link of another account; no form
without its CSRF token."""

from __future__ import annotations

import re

import httpx
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.payment_links.models import PaymentLink
from tests.conftest import bearer
from tests.dashboard.helpers import make_user, page_csrf, sign_in
from tests.payments import flow

NEW = "/dashboard/payment-links/new"


async def _price(session: AsyncSession, account_id: str, *, recurring: bool = False) -> str:
    await flow.simulator(session, account_id)
    product = await catalog.create_product(session, account_id, name="Poster")
    price = await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=1200,
        **({"recurring_interval": "month"} if recurring else {}),
    )
    await session.commit()
    return price.id


async def _links(session: AsyncSession, account_id: str) -> int:
    """How many links the account has; the read's transaction ended, so the server's next write isn't kept waiting
    (on SQLite this session's transaction holds the write lock)."""
    count = await session.scalar(
        select(func.count()).select_from(PaymentLink).where(PaymentLink.account_id == account_id)
    )
    await session.rollback()
    return int(count or 0)


async def test_create_then_read_list_and_visit(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    price_id = await _price(session, user.account_id)
    await sign_in(client, user.email)
    created = await client.post(
        NEW,
        data={
            "csrf_token": await page_csrf(client, NEW),
            "name": "Spring posters",
            "expires_in_hours": "2",
            "success_url": "https://shop.example/thanks",
            "return_url": "",
            "price_id.2": price_id,  # any row: the form's row is not the line's position
            "quantity.2": "3",
            "metadata_key.0": "campaign",
            "metadata_value.0": "spring",
        },
    )
    assert created.status_code == 303, created.text
    path = created.headers["location"].split("?")[0]
    link_id = path.rsplit("/", 1)[1]
    api = (await client.get(f"/api/{user.account_id}/payment-links/{link_id}", headers=bearer(user.secret))).json()
    assert api["name"] == "Spring posters"
    assert api["expires_in_hours"] == 2
    assert api["return_url"] is None
    assert api["metadata"] == {"campaign": "spring"}
    assert [(item["price_id"], item["quantity"]) for item in api["line_items"]] == [(price_id, 3)]
    assert api["mode"] == "payment"

    detail = await client.get(path)
    assert detail.status_code == 200
    assert f'value="{api["url"]}"' in detail.text  # the link to copy
    assert "<svg" in detail.text  # its QR code
    assert 'data-copy="share-link"' in detail.text
    assert "0 sessions." in detail.text

    # A visit opens a session, which the detail page lists.
    visit = await client.get(api["url"].removeprefix("http://checkstand.test"))
    assert visit.status_code == 303
    listed = (
        await client.get(
            f"/api/{user.account_id}/payment-links/{link_id}/checkout-sessions", headers=bearer(user.secret)
        )
    ).json()
    (opened,) = listed["items"]
    detail = await client.get(path)
    assert "1 session." in detail.text
    assert f'href="/dashboard/checkout-sessions/{opened["id"]}"' in detail.text

    listing = await client.get("/dashboard/payment-links", params={"q": "Spring", "status": "active"})
    assert f'href="/dashboard/payment-links/{link_id}"' in listing.text
    assert "1 payment link." in listing.text
    none = await client.get("/dashboard/payment-links", params={"status": "inactive"})
    assert link_id not in none.text


async def test_refusals_are_the_apis_next_to_their_fields_and_store_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    price_id = await _price(session, user.account_id)
    await sign_in(client, user.email)
    api = await client.post(
        f"/api/{user.account_id}/payment-links/",
        json={"success_url": "javascript:alert(1)", "line_items": [{"price_id": "price_nope"}]},
        headers=bearer(user.secret),
    )
    assert api.status_code == 422
    messages = [problem["msg"] for problem in api.json()["detail"]]
    refused = await client.post(
        NEW,
        data={
            "csrf_token": await page_csrf(client, NEW),
            "success_url": "javascript:alert(1)",
            "price_id.1": "price_nope",
            "quantity.1": "1",
            "quantity.3": "x",
            "name": "n" * 251,
        },
    )
    assert refused.status_code == 422
    # The form's own checks come first: a name too long, a quantity that isn't a number...
    assert re.search(r'id="name"[^>]*aria-invalid="true" aria-describedby="name-error"', refused.text)
    assert 'id="price_id-3-error"' in refused.text  # a quantity without a price
    fixed = await client.post(
        NEW,
        data={
            "csrf_token": await page_csrf(client, NEW),
            "success_url": "javascript:alert(1)",
            "price_id.1": "price_nope",
            "quantity.1": "1",
        },
    )
    # ...then the service's, with the API's words, each beside its field.
    assert fixed.status_code == 422
    for message in messages:
        assert escape(message) in fixed.text
    assert re.search(r'id="success_url"[^>]*aria-invalid="true" aria-describedby="success_url-error"', fixed.text)
    unknown_price = await client.post(
        NEW,
        data={
            "csrf_token": await page_csrf(client, NEW),
            "success_url": "https://shop.example/thanks",
            "price_id.1": "price_nope",
        },
    )
    api_price = await client.post(
        f"/api/{user.account_id}/payment-links/",
        json={"success_url": "https://shop.example/thanks", "line_items": [{"price_id": "price_nope"}]},
        headers=bearer(user.secret),
    )
    assert api_price.status_code == unknown_price.status_code == 422
    (problem,) = api_price.json()["detail"]
    assert re.search(r'id="price_id-1"[^>]*aria-invalid="true"', unknown_price.text)
    assert f'<p class="error" id="price_id-1-error">{escape(problem["msg"])}</p>' in unknown_price.text
    assert await _links(session, user.account_id) == 0

    no_lines = await client.post(
        NEW, data={"csrf_token": await page_csrf(client, NEW), "success_url": "https://shop.example/thanks"}
    )
    assert no_lines.status_code == 422
    assert "at least one line item is needed" in no_lines.text
    assert 'id="line_items-error"' in no_lines.text
    assert price_id in no_lines.text  # the form offers the account's prices again
    assert await _links(session, user.account_id) == 0


async def _create(client: httpx.AsyncClient, price_id: str) -> str:
    created = await client.post(
        NEW,
        data={
            "csrf_token": await page_csrf(client, NEW),
            "success_url": "https://shop.example/thanks",
            "price_id.0": price_id,
            "quantity.0": "1",
        },
    )
    assert created.status_code == 303, created.text
    return str(created.headers["location"].split("?")[0])


async def test_update_deactivate_and_reactivate(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    price_id = await _price(session, user.account_id, recurring=True)
    await sign_in(client, user.email)
    path = await _create(client, price_id)
    link_id = path.rsplit("/", 1)[1]
    api_path = f"/api/{user.account_id}/payment-links/{link_id}"
    csrf = await page_csrf(client, path)

    refused = await client.post(
        path, data={"csrf_token": csrf, "name": "Renamed", "success_url": "ftp://nope", "return_url": ""}
    )
    assert refused.status_code == 422
    assert re.search(r'id="success_url"[^>]*aria-invalid="true"', refused.text)
    assert 'value="ftp://nope"' in refused.text  # what was typed is shown again
    assert ": Renamed</h1>" not in refused.text  # the heading is the link as stored
    unchanged = (await client.get(api_path, headers=bearer(user.secret))).json()
    assert (unchanged["name"], unchanged["success_url"]) == (None, "https://shop.example/thanks")

    saved = await client.post(
        path,
        data={
            "csrf_token": csrf,
            "name": "Monthly box",
            "success_url": "https://shop.example/done",
            "return_url": "https://shop.example/cart",
        },
    )
    assert saved.status_code == 303
    changed = (await client.get(api_path, headers=bearer(user.secret))).json()
    assert (changed["name"], changed["success_url"], changed["return_url"], changed["mode"]) == (
        "Monthly box",
        "https://shop.example/done",
        "https://shop.example/cart",
        "subscription",
    )

    off = await client.post(f"{path}/deactivate", data={"csrf_token": csrf})
    assert off.status_code == 303
    assert (await client.get(api_path, headers=bearer(user.secret))).json()["is_active"] is False
    page = await client.get(path)
    assert "<svg" not in page.text  # no QR code to share an inactive link
    assert f"/dashboard/payment-links/{link_id}/activate" in page.text
    visit = await client.get(changed["url"].removeprefix("http://checkstand.test"))
    assert visit.status_code == 410

    # A price archived since can't be sold: reactivating is refused, with the service's words, and nothing changes.
    await catalog.update_price(session, user.account_id, price_id, {"is_active": False})
    await session.commit()
    again = await client.post(f"{path}/activate", data={"csrf_token": csrf})
    assert again.status_code == 422
    assert "Not reactivated" in again.text
    assert (await client.get(api_path, headers=bearer(user.secret))).json()["is_active"] is False


async def test_csrf_and_another_accounts_link(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    price_id = await _price(session, owner.account_id)
    other = await make_user(session, email="other@b.example", name="B")
    await sign_in(client, owner.email)
    path = await _create(client, price_id)
    link_path = path.removeprefix("/dashboard")
    for action in ("", "/deactivate", "/activate"):
        assert (await client.post(f"{path}{action}", data={"name": "x"})).status_code == 403
    assert (
        await client.post(NEW, data={"success_url": "https://shop.example/x", "price_id.0": price_id})
    ).status_code == 403
    assert await _links(session, owner.account_id) == 1
    api = (
        await client.get(
            f"/api/{owner.account_id}/payment-links{link_path.removeprefix('/payment-links')}",
            headers=bearer(owner.secret),
        )
    ).json()
    assert api["is_active"] is True
    assert api["name"] is None

    await sign_in(client, other.email)
    csrf = await page_csrf(client, "/dashboard/payment-links")
    assert (await client.get(path)).status_code == 404
    assert (
        await client.post(path, data={"csrf_token": csrf, "name": "mine", "success_url": "https://b.example"})
    ).status_code == 404
    assert (await client.post(f"{path}/deactivate", data={"csrf_token": csrf})).status_code == 404
    assert (await client.get("/dashboard/payment-links/plink_nobody")).status_code == 404
    assert "0 payment links." in (await client.get("/dashboard/payment-links")).text
    still = (
        await client.get(f"/api/{owner.account_id}/payment-links/{api['id']}", headers=bearer(owner.secret))
    ).json()
    assert still["is_active"] is True
    assert still["name"] is None
