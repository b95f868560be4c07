"""Logo and icon uploads through ``PATCH brand-settings`` (the SDK's multipart form), and the images served by
Checkstand at ``/brand-images/{id}``. In process, on both backends."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.accounts.models import BrandImage
from checkstand.db import Database
from tests.conftest import bearer
from tests.images import GIF, SVG, png
from tests.payments import flow
from tests.shop import Shop

PUBLIC_URL = "http://checkstand.test"


def brand_path(account_id: str) -> str:
    return f"/api/accounts/{account_id}/brand-settings"


async def upload(
    client: httpx.AsyncClient, merchant: tuple[str, str], files: dict[str, Any], **data: str
) -> httpx.Response:
    account_id, secret = merchant
    return await client.patch(brand_path(account_id), files=files, data=data, headers=bearer(secret))


async def image_count(database: Database) -> int:
    async with database.reading() as fresh:
        return int(await fresh.scalar(select(func.count()).select_from(BrandImage)) or 0)


def refused_at(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {problem["loc"][-1]: problem["msg"] for problem in response.json()["detail"]}


async def test_an_uploaded_logo_is_served_by_checkstand_as_the_image_it_is(
    client: httpx.AsyncClient, merchant: tuple[str, str]
) -> None:
    logo, icon = png(), GIF

    updated = await upload(
        client,
        merchant,
        {"logo": ("logo.png", logo, "image/png"), "icon": ("icon.gif", icon, "image/gif")},
        name="Acme",
        accent_color="#112233",
    )

    assert updated.status_code == 200, updated.text
    brand = updated.json()["brand_settings"]
    assert (brand["name"], brand["accent_color"]) == ("Acme", "#112233")
    assert brand["logo"].startswith(f"{PUBLIC_URL}/brand-images/bimg_")
    assert brand["icon"].startswith(f"{PUBLIC_URL}/brand-images/bimg_")
    read = await client.get(brand_path(merchant[0]), headers=bearer(merchant[1]))
    assert read.json()["logo"] == brand["logo"]
    for url, data, media_type in ((brand["logo"], logo, "image/png"), (brand["icon"], icon, "image/gif")):
        served = await client.get(url)
        assert served.status_code == 200
        assert served.content == data
        assert served.headers["content-type"] == media_type
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["content-security-policy"].startswith("default-src 'none'")
        # Served without a key: the hosted page's customers fetch it.
        assert "authorization" not in served.request.headers
    head = await client.head(brand["logo"])
    assert (head.status_code, head.content, head.headers["content-type"]) == (200, b"", "image/png")


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for image_id in ("bimg_" + "0" * 64, "nothing", "bimg_" + "a" * 200):
        missing = await client.get(f"/brand-images/{image_id}")
        assert missing.status_code == 404
        assert missing.headers["x-content-type-options"] == "nosniff"


async def test_too_large_or_not_an_image_is_refused_at_the_field_and_the_old_logo_kept(
    client: httpx.AsyncClient, merchant: tuple[str, str], database: Database
) -> None:
    first = await upload(client, merchant, {"logo": ("logo.png", png(), "image/png")})
    kept = first.json()["brand_settings"]["logo"]
    large = png(padding=512 * 1024)

    attempts = {
        "too large": await upload(client, merchant, {"logo": ("big.png", large, "image/png")}, name="Changed"),
        "svg": await upload(client, merchant, {"logo": ("logo.svg", SVG, "image/svg+xml")}),
        "svg as png": await upload(client, merchant, {"logo": ("logo.png", SVG, "image/png")}),
        "text named png": await upload(client, merchant, {"logo": ("logo.png", b"hello, world\n", "image/png")}),
        "empty": await upload(client, merchant, {"icon": ("icon.png", b"", "image/png")}),
    }

    assert refused_at(attempts["too large"]) == {"logo": "is larger than 512 KiB"}
    for kind in ("svg", "svg as png", "text named png"):
        assert refused_at(attempts[kind]) == {"logo": "must be a PNG, JPEG, WebP or GIF image (SVG is not taken)"}
    assert set(refused_at(attempts["empty"])) == {"icon"}
    after = await client.get(brand_path(merchant[0]), headers=bearer(merchant[1]))
    assert (after.json()["logo"], after.json()["name"], after.json()["icon"]) == (kept, None, None)
    assert await image_count(database) == 1
    assert (await client.get(kept)).content == png()


async def test_a_replaced_logo_is_deleted_with_the_change_and_the_same_bytes_are_one_image(
    client: httpx.AsyncClient, merchant: tuple[str, str], database: Database
) -> None:
    old = (await upload(client, merchant, {"logo": ("a.png", png(rgb=(1, 2, 3)), "image/png")})).json()
    again = (await upload(client, merchant, {"logo": ("b.png", png(rgb=(1, 2, 3)), "image/png")})).json()
    assert again["brand_settings"]["logo"] == old["brand_settings"]["logo"]
    assert await image_count(database) == 1

    new = (await upload(client, merchant, {"logo": ("c.png", png(rgb=(9, 9, 9)), "image/png")})).json()

    assert new["brand_settings"]["logo"] != old["brand_settings"]["logo"]
    assert (await client.get(old["brand_settings"]["logo"])).status_code == 404
    assert (await client.get(new["brand_settings"]["logo"])).status_code == 200
    assert await image_count(database) == 1
    # A URL given as JSON takes the uploaded image's place, which goes too; null clears the slot.
    account_id, secret = merchant
    linked = await client.patch(
        brand_path(account_id), json={"logo": "https://cdn.shop.test/logo.png"}, headers=bearer(secret)
    )
    assert linked.json()["brand_settings"]["logo"] == "https://cdn.shop.test/logo.png"
    assert await image_count(database) == 0
    cleared = await client.patch(brand_path(account_id), json={"logo": None}, headers=bearer(secret))
    assert cleared.json()["brand_settings"]["logo"] is None


async def test_another_accounts_image_is_served_only_by_its_own_id(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    same = png()

    mine = (await upload(client, merchant, {"logo": ("l.png", same, "image/png")})).json()["brand_settings"]["logo"]
    theirs = (await upload(client, (other.id, other_key.secret), {"logo": ("l.png", same, "image/png")})).json()

    # The same bytes are two images: an id names the account's upload, not only the content.
    assert theirs["brand_settings"]["logo"] != mine
    assert (await client.get(theirs["brand_settings"]["logo"])).content == same
    # A key never reads or changes another account's brand settings.
    foreign = await client.patch(
        brand_path(other.id), files={"logo": ("x.png", png(rgb=(0, 0, 0)), "image/png")}, headers=bearer(merchant[1])
    )
    assert foreign.status_code == 404
    assert (await client.get(theirs["brand_settings"]["logo"])).status_code == 200


async def test_the_sdks_other_parts_are_refused_clearly_and_change_nothing(
    client: httpx.AsyncClient, merchant: tuple[str, str], database: Database
) -> None:
    key_file = await upload(
        client,
        merchant,
        {"logo": ("l.png", png(), "image/png"), "apple_pay_merchant_key_file": ("k.pem", b"-----BEGIN", "text/plain")},
    )
    domain = await upload(client, merchant, {"logo": ("l.png", png(), "image/png")}, custom_domain="pay.shop.test")
    both = await upload(client, merchant, {"logo": ("l.png", png(), "image/png")}, logo="https://cdn.shop.test/l.png")
    bad_fields = await upload(client, merchant, {}, accent_color="red", privacy_policy_url="javascript:alert(1)")

    assert refused_at(key_file) == {"apple_pay_merchant_key_file": "Apple Pay is not supported; the file was not kept"}
    assert refused_at(domain) == {"custom_domain": "custom domains are not supported"}
    assert set(refused_at(both)) == {"logo"}
    assert set(refused_at(bad_fields)) == {"accent_color", "privacy_policy_url"}
    assert await image_count(database) == 0
    read = await client.get(brand_path(merchant[0]), headers=bearer(merchant[1]))
    assert (read.json()["logo"], read.json()["accent_color"]) == (None, None)


async def test_the_hosted_page_shows_the_uploaded_logo_from_this_host(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])
    uploaded = await upload(client, (shop.account_id, shop.secret), {"logo": ("l.png", png(), "image/png")})
    logo_url = uploaded.json()["brand_settings"]["logo"]

    page = await client.get(f"/c/{opened.secure_token}")

    assert page.status_code == 200
    path = logo_url.removeprefix(PUBLIC_URL)
    assert f'<img class="logo" src="{path}"' in page.text
    assert "img-src 'self'" in page.headers["content-security-policy"]
    assert (await client.get(path)).content == png()
