"""Brand settings in the dashboard: saved through the API's own service (same messages, beside the field), a logo
uploaded with the form, CSRF on every post, one account's settings only, and a preview of the hosted page that shows
what was typed and writes nothing. In process, on both backends."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.accounts.models import BrandImage
from checkstand.catalog.models import Price, Product
from checkstand.checkout.models import CheckoutSession
from checkstand.db import Database
from checkstand.events.models import Event
from tests.conftest import bearer
from tests.dashboard.helpers import make_user, page_csrf, sign_in
from tests.images import SVG, png

BRANDING = "/dashboard/branding"
FIELDS = {
    "name": "Corner Shop",
    "legal_name": "Corner Shop Ltd",
    "accent_color": "#0b6e4f",
    "brand_color": "#112233",
    "terms_of_service_url": "https://shop.example/terms",
    "privacy_policy_url": "https://shop.example/privacy",
}


async def counts(database: Database) -> tuple[int, ...]:
    async with database.reading() as fresh:
        return tuple(
            [
                int(await fresh.scalar(select(func.count()).select_from(table)) or 0)
                for table in (CheckoutSession, Product, Price, BrandImage, Event)
            ]
        )


async def brand_of(database: Database, account_id: str) -> dict[str, object]:
    """Read apart from the test's writing session, which would hold SQLite's write lock from its first read on."""
    async with database.reading() as fresh:
        return dict((await accounts.get_account(fresh, account_id)).brand_settings)


async def test_saving_the_form_with_a_logo_is_what_the_api_reads(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    page = await client.get(BRANDING)
    assert page.status_code == 200
    assert '<a href="/dashboard/branding" aria-current="page">Branding</a>' in page.text
    assert "frame-src 'self'" in page.headers["content-security-policy"]

    saved = await client.post(
        BRANDING,
        data={"csrf_token": await page_csrf(client, BRANDING), **FIELDS},
        files={"logo": ("logo.png", png(), "image/png")},
    )

    assert saved.status_code == 303
    assert saved.headers["location"] == f"{BRANDING}?saved=1"
    api = (await client.get(f"/api/accounts/{user.account_id}/brand-settings", headers=bearer(user.secret))).json()
    assert {name: api[name] for name in FIELDS} == FIELDS
    assert api["logo"].startswith("http://checkstand.test/brand-images/bimg_")
    assert (await client.get(api["logo"])).content == png()
    shown = await client.get(f"{BRANDING}?saved=1")
    assert "Brand settings saved" in shown.text
    assert f'src="{api["logo"].removeprefix("http://checkstand.test")}"' in shown.text
    # A blank field clears its setting; a file input left empty keeps the logo.
    cleared = await client.post(
        BRANDING,
        data={"csrf_token": await page_csrf(client, BRANDING), **FIELDS, "legal_name": ""},
        files={"logo": ("", b"", "application/octet-stream")},
    )
    assert cleared.status_code == 303
    after = await brand_of(database, user.account_id)
    assert "legal_name" not in after
    assert after.get("logo_image")


async def test_bad_fields_are_refused_beside_each_field_in_the_apis_words_and_nothing_changes(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    typed = {**FIELDS, "accent_color": "green", "privacy_policy_url": "javascript:alert(1)"}

    refused = await client.post(
        BRANDING,
        data={"csrf_token": await page_csrf(client, BRANDING), **typed},
        files={"logo": ("logo.png", SVG, "image/png")},
    )
    api = await client.patch(
        f"/api/accounts/{user.account_id}/brand-settings",
        files={"logo": ("logo.png", SVG, "image/png")},
        data={"accent_color": "green", "privacy_policy_url": "javascript:alert(1)"},
        headers=bearer(user.secret),
    )

    assert refused.status_code == 422
    assert api.status_code == 422
    for problem in api.json()["detail"]:
        field = problem["loc"][-1]
        assert f'<p class="error" id="{field}-error">{problem["msg"]}</p>' in refused.text
        assert f'id="{field}"' in refused.text
    assert 'value="green"' in refused.text  # what was typed is shown again
    assert await brand_of(database, user.account_id) == {}
    assert await counts(database) == (0, 0, 0, 0, 0)


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)

    for path in (BRANDING, f"{BRANDING}/preview"):
        refused = await client.post(path, data=FIELDS, files={"logo": ("logo.png", png(), "image/png")})
        assert refused.status_code == 403
        wrong = await client.post(path, data={**FIELDS, "csrf_token": "forged"})
        assert wrong.status_code == 403
    assert await brand_of(database, user.account_id) == {}


async def test_another_account_neither_sees_nor_changes_these_settings(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    owner = await make_user(session, email="owner@a.example", name="Shop A")
    other = await make_user(session, email="other@b.example", name="Shop B")
    account = await accounts.get_account(session, owner.account_id)
    await accounts.update_brand_settings(session, account, {"name": "Secret Brand A", "accent_color": "#abcdef"})
    await session.commit()

    await sign_in(client, other.email)
    page = await client.get(BRANDING)
    preview = await client.get(f"{BRANDING}/preview")
    saved = await client.post(BRANDING, data={"csrf_token": await page_csrf(client, BRANDING), "name": "B's name"})

    assert "Secret Brand A" not in page.text
    assert "Secret Brand A" not in preview.text
    assert "Shop B" in preview.text
    assert saved.status_code == 303
    assert await brand_of(database, owner.account_id) == {"name": "Secret Brand A", "accent_color": "#abcdef"}


async def test_the_preview_is_the_hosted_page_with_the_unsaved_settings_and_writes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await make_user(session, name="Saved Shop")
    await sign_in(client, user.email)
    before = await counts(database)

    preview = await client.post(
        f"{BRANDING}/preview",
        data={"csrf_token": await page_csrf(client, BRANDING), **FIELDS, "accent_color": "#aa3300"},
        files={"logo": ("logo.png", png(), "image/png")},
    )

    assert preview.status_code == 200, preview.text
    text = preview.text
    assert "Corner Shop" in text
    assert "Pro plan (sample)" in text
    assert "$34.00" in text  # the sample's total, priced by the checkout service
    assert 'href="https://shop.example/terms"' in text
    assert f"{BRANDING}/theme.css?accent_color=%23aa3300" in text
    assert 'src="data:image/png;base64,' in text
    policy = preview.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy
    assert "form-action 'none'" in policy
    assert "script-src" not in policy
    theme = await client.get(f"{BRANDING}/theme.css?accent_color=%23aa3300")
    assert theme.headers["content-type"].startswith("text/css")
    assert "#aa3300" in theme.text.lower()
    assert (await client.get(f"{BRANDING}/theme.css?accent_color=red")).text == ""
    # Nothing was saved, nothing was made: no session, product, price, image or event.
    assert await counts(database) == before
    assert await brand_of(database, user.account_id) == {}
    saved_preview = await client.get(f"{BRANDING}/preview")
    assert "Saved Shop" in saved_preview.text
    assert "Corner Shop" not in saved_preview.text


async def test_a_preview_of_bad_settings_says_why_and_writes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)

    refused = await client.post(
        f"{BRANDING}/preview",
        data={"csrf_token": await page_csrf(client, BRANDING), "accent_color": "green"},
    )

    assert refused.status_code == 422
    assert "accent_color: must be a colour as # and six hex digits, like #4f46e5" in refused.text
    assert await counts(database) == (0, 0, 0, 0, 0)
