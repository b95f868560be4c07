"""Products, prices and product families in the dashboard: made and changed through their forms by the catalog's
own service calls, refusals shown next to their fields with nothing changed, another account's ids not found, and
every form refused without its CSRF token."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import FamilyMember, Price, Product, ProductFamily
from tests.conftest import bearer
from tests.dashboard.helpers import make_user, page_csrf, sign_in

T = TypeVar("T")

PRODUCTS = "/dashboard/products"
FAMILIES = "/dashboard/product-families"


async def _fresh(session: AsyncSession, query: Select[T]) -> T | None:
    """The row as the app left it, then the test's read ended: on SQLite the app's next write would wait on it."""
    found = await session.scalar(query.execution_options(populate_existing=True))
    await session.commit()
    return found


async def _count(session: AsyncSession, model: Any, account_id: str) -> int:
    total = await session.scalar(select(func.count()).select_from(model).where(model.account_id == account_id))
    await session.commit()
    return int(total or 0)


async def _post(client: httpx.AsyncClient, path: str, data: dict[str, str], *, form_page: str) -> httpx.Response:
    return await client.post(path, data={**data, "csrf_token": await page_csrf(client, form_page)})


async def _new_product(client: httpx.AsyncClient, name: str, **fields: str) -> str:
    created = await _post(client, f"{PRODUCTS}/new", {"name": name, **fields}, form_page=f"{PRODUCTS}/new")
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert location.endswith("?done=created")
    return location.removeprefix(f"{PRODUCTS}/").split("?")[0]


async def _new_price(client: httpx.AsyncClient, product_id: str, **fields: str) -> httpx.Response:
    path = f"{PRODUCTS}/{product_id}/prices/new"
    return await _post(client, path, fields, form_page=path)


async def _new_family(client: httpx.AsyncClient, name: str) -> str:
    created = await _post(client, f"{FAMILIES}/new", {"name": name}, form_page=f"{FAMILIES}/new")
    assert created.status_code == 303, created.text
    return created.headers["location"].removeprefix(f"{FAMILIES}/").split("?")[0]


async def test_a_product_its_prices_and_a_family_made_and_changed_through_the_forms(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    product_id = await _new_product(
        client, "Pro plan", description="For teams", **{"metadata_key.0": "tier", "metadata_value.0": "pro"}
    )
    product = await _fresh(session, select(Product).where(Product.id == product_id))
    assert product is not None
    assert (product.account_id, product.name, product.description) == (user.account_id, "Pro plan", "For teams")
    assert product.product_metadata == {"tier": "pro"}

    monthly = await _new_price(
        client,
        product_id,
        name="Monthly",
        unit_amount="19.99",
        currency="USD",
        pricing_type="recurring",
        recurring_interval="month",
        recurring_interval_count="1",
        trial_days="14",
    )
    assert monthly.status_code == 303, monthly.text
    once = await _new_price(
        client, product_id, unit_amount="1500", currency="jpy", pricing_type="one_time", recurring_interval="month"
    )
    assert once.status_code == 303, once.text
    packs = await _new_price(client, product_id, unit_amount="5", currency="eur", quantity_divisor="10")
    assert packs.status_code == 303, packs.text
    prices = {
        price.currency: price
        for price in (await session.scalars(select(Price).where(Price.product_id == product_id))).all()
    }
    await session.commit()
    usd, jpy, eur = prices["usd"], prices["jpy"], prices["eur"]
    assert (usd.unit_amount_atom, usd.pricing_type, usd.recurring_interval, usd.trial_days) == (
        1999,
        "recurring",
        "month",
        14,
    )
    assert usd.name == "Monthly"
    assert (jpy.unit_amount_atom, jpy.pricing_type, jpy.recurring_interval) == (1500, "one_time", None)
    assert (eur.unit_amount_atom, eur.quantity_divisor) == (500, 10)

    detail = await client.get(f"{PRODUCTS}/{product_id}?done=price_created")
    assert "Price created." in detail.text
    assert "$19.99" in detail.text
    assert "every month, 14-day trial" in detail.text
    assert "per 10 units" in detail.text
    # The checkout form sells what was just made: its price list is the dashboard's own query.
    checkout_form = await client.get("/dashboard/checkout-sessions/new")
    assert f'value="{usd.id}"' in checkout_form.text
    assert "Pro plan · Monthly · $19.99 / month" in checkout_form.text

    listing = await client.get(f"{PRODUCTS}?status=active&q=pro")
    assert f'href="{PRODUCTS}/{product_id}"' in listing.text
    archived = await client.get(f"{PRODUCTS}?status=archived")
    assert product_id not in archived.text

    edit_path = f"{PRODUCTS}/{product_id}/edit"
    edit_form = await client.get(edit_path)
    assert 'value="tier"' in edit_form.text
    saved = await _post(
        client,
        edit_path,
        {"name": "Pro", "description": "", "default_price_id": usd.id, "metadata_key.0": "", "metadata_value.0": ""},
        form_page=edit_path,
    )
    assert saved.status_code == 303, saved.text
    product = await _fresh(session, select(Product).where(Product.id == product_id))
    assert product is not None
    assert (product.name, product.description, product.default_price_id) == ("Pro", None, usd.id)
    assert product.product_metadata == {}

    price_path = f"/dashboard/prices/{jpy.id}"
    renamed = await _post(
        client, price_path, {"name": "Launch", "metadata_key.0": "k", "metadata_value.0": "v"}, form_page=price_path
    )
    assert renamed.status_code == 303, renamed.text
    archived_price = await _post(client, f"{price_path}/status", {"action": "archive"}, form_page=price_path)
    assert archived_price.status_code == 303
    jpy_now = await _fresh(session, select(Price).where(Price.id == jpy.id))
    assert jpy_now is not None
    assert (jpy_now.name, jpy_now.price_metadata, jpy_now.is_active) == ("Launch", {"k": "v"}, False)

    family_id = await _new_family(client, "Plans")
    family_path = f"{FAMILIES}/{family_id}"
    added = await _post(
        client, f"{family_path}/products", {"product_id": product_id, "rank": "2"}, form_page=family_path
    )
    assert added.status_code == 303, added.text
    member = await _fresh(session, select(FamilyMember).where(FamilyMember.product_id == product_id))
    assert member is not None
    assert (member.family_id, member.rank) == (family_id, 2)
    assert "Plans</a>, rank 2" in (await client.get(f"{PRODUCTS}/{product_id}")).text
    edited = await _post(
        client, f"{family_path}/edit", {"name": "Team plans", "description": "Tiers"}, form_page=f"{family_path}/edit"
    )
    assert edited.status_code == 303
    assert "Team plans" in (await client.get(f"{FAMILIES}?q=team")).text
    removed = await _post(client, f"{family_path}/products/{product_id}/remove", {}, form_page=family_path)
    assert removed.status_code == 303
    assert await _fresh(session, select(FamilyMember).where(FamilyMember.product_id == product_id)) is None
    deleted = await _post(client, f"{family_path}/delete", {}, form_page=family_path)
    assert deleted.status_code == 303
    family = await _fresh(session, select(ProductFamily).where(ProductFamily.id == family_id))
    assert family is not None
    assert family.deleted_at is not None
    assert (await client.get(family_path)).status_code == 404


async def test_archive_and_delete_follow_the_apis_rules(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    product_id = await _new_product(client, "Poster")
    assert (await _new_price(client, product_id, unit_amount="12.50", currency="usd")).status_code == 303
    price = await _fresh(session, select(Price).where(Price.product_id == product_id))
    assert price is not None
    product_path = f"{PRODUCTS}/{product_id}"

    refused = await _post(client, f"{product_path}/delete", {}, form_page=product_path)
    assert refused.status_code == 409
    assert "still has 1 active price(s); archive them first." in refused.text
    made_default = await _post(
        client, f"{product_path}/edit", {"name": "Poster", "default_price_id": price.id}, form_page=product_path
    )
    assert made_default.status_code == 303
    price_path = f"/dashboard/prices/{price.id}"
    kept = await _post(client, f"{price_path}/status", {"action": "archive"}, form_page=price_path)
    assert kept.status_code == 409
    assert "give the product another default price first" in kept.text
    price = await _fresh(session, select(Price).where(Price.id == price.id))
    assert price is not None
    assert price.is_active

    archived = await _post(client, f"{product_path}/status", {"action": "archive"}, form_page=product_path)
    assert archived.status_code == 303
    assert product_id in (await client.get(f"{PRODUCTS}?status=archived")).text
    assert price.id not in (await client.get("/dashboard/checkout-sessions/new")).text
    active = await _post(client, f"{product_path}/status", {"action": "activate"}, form_page=product_path)
    assert active.status_code == 303

    await _post(client, f"{product_path}/edit", {"name": "Poster", "default_price_id": ""}, form_page=product_path)
    assert (await _post(client, f"{price_path}/status", {"action": "archive"}, form_page=price_path)).status_code == 303
    gone = await _post(client, f"{product_path}/delete", {}, form_page=product_path)
    assert gone.status_code == 303
    assert gone.headers["location"] == f"{PRODUCTS}?done=deleted"
    product = await _fresh(session, select(Product).where(Product.id == product_id))
    assert product is not None
    assert product.deleted_at is not None
    assert (await client.get(product_path)).status_code == 404
    assert product_id not in (await client.get(PRODUCTS)).text


async def test_refusals_name_their_field_and_change_nothing(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    no_name = await _post(client, f"{PRODUCTS}/new", {"name": "  ", "description": "x"}, form_page=f"{PRODUCTS}/new")
    assert no_name.status_code == 422
    assert 'aria-describedby="name-error"' in no_name.text
    assert "Enter a name" in no_name.text
    too_long = await _post(client, f"{PRODUCTS}/new", {"name": "n" * 251}, form_page=f"{PRODUCTS}/new")
    assert too_long.status_code == 422
    assert "at most 250 characters" in too_long.text
    bad_metadata = await _post(
        client, f"{PRODUCTS}/new", {"name": "Mug", "metadata_value.0": "orphan"}, form_page=f"{PRODUCTS}/new"
    )
    assert bad_metadata.status_code == 422
    assert 'id="metadata-0-key-error"' in bad_metadata.text
    assert await _count(session, Product, user.account_id) == 0

    product_id = await _new_product(client, "Mug")
    api = await client.post(
        f"/api/{user.account_id}/prices/",
        json={"product_id": product_id, "currency": "xyz", "unit_amount_atom": 100},
        headers=bearer(user.secret),
    )
    assert api.status_code == 422
    currency_message = next(p["msg"] for p in api.json()["detail"] if p["loc"][-1] == "currency")
    refusals = [
        ({"unit_amount": "1.00", "currency": "xyz"}, "currency", currency_message),
        ({"unit_amount": "19.999", "currency": "usd"}, "unit_amount", "USD has 2 decimal places at most"),
        ({"unit_amount": "10.5", "currency": "jpy"}, "unit_amount", "JPY has no minor unit: enter a whole amount"),
        ({"unit_amount": "-3", "currency": "usd"}, "unit_amount", "Enter an amount in digits"),
        ({"unit_amount": "", "currency": "usd"}, "unit_amount", "Enter an amount, such as 19.99"),
        (
            {"unit_amount": "100000000.00", "currency": "usd"},
            "unit_amount",
            "must be from 0, at most 9999999999 ($99,999,999.99)",
        ),
        (
            {"unit_amount": "5", "currency": "usd", "pricing_type": "recurring", "recurring_interval": "month"}
            | {"recurring_interval_count": "37"},
            "recurring_interval_count",
            "must be from 1 to 36 for a monthly price (3 years)",
        ),
        (
            {"unit_amount": "5", "currency": "usd", "pricing_type": "one_time", "trial_days": "7"},
            "trial_days",
            "only a recurring price has one",
        ),
        (
            {"unit_amount": "5", "currency": "usd", "pricing_type": "recurring", "recurring_interval": "hour"},
            "recurring_interval",
            "must be day, week, month or year",
        ),
        ({"unit_amount": "5", "currency": "usd", "quantity_divisor": "abc"}, "quantity_divisor", "whole number"),
        ({"unit_amount": "5", "currency": "usd", "quantity_divisor": "0"}, "quantity_divisor", "must be from 1 to"),
    ]
    for fields, field, message in refusals:
        refused = await _new_price(client, product_id, **fields)
        assert refused.status_code == 422, (fields, refused.text)
        assert f'aria-describedby="{field}-error"' in refused.text, fields
        assert message.replace("'", "&#39;") in refused.text, (fields, message)
    assert await _count(session, Price, user.account_id) == 0

    assert (await _new_price(client, product_id, unit_amount="4", currency="usd")).status_code == 303
    other_product = await _new_product(client, "Plate")
    other_price = await _new_price(client, other_product, unit_amount="9", currency="usd")
    assert other_price.status_code == 303
    foreign = await _fresh(session, select(Price.id).where(Price.product_id == other_product))
    edit_path = f"{PRODUCTS}/{product_id}/edit"
    wrong_default = await _post(
        client, edit_path, {"name": "Mug 2", "default_price_id": str(foreign)}, form_page=edit_path
    )
    assert wrong_default.status_code == 422
    assert 'aria-describedby="default_price_id-error"' in wrong_default.text
    assert "must be an active price of this product" in wrong_default.text
    product = await _fresh(session, select(Product).where(Product.id == product_id))
    assert product is not None
    assert (product.name, product.default_price_id) == ("Mug", None)

    family_id = await _new_family(client, "Plans")
    second_family = await _new_family(client, "Others")
    family_path = f"{FAMILIES}/{family_id}"
    add = f"{family_path}/products"
    assert (await _post(client, add, {"product_id": product_id, "rank": "1"}, form_page=family_path)).status_code == 303
    taken = await _post(client, add, {"product_id": other_product, "rank": "1"}, form_page=family_path)
    assert taken.status_code == 422
    assert 'aria-describedby="rank-error"' in taken.text
    assert f"rank 1 is already taken by {product_id}" in taken.text
    elsewhere = await _post(
        client, f"{FAMILIES}/{second_family}/products", {"product_id": product_id, "rank": "1"}, form_page=family_path
    )
    assert elsewhere.status_code == 422
    assert f"is already in product family {family_id}" in elsewhere.text
    no_rank = await _post(client, add, {"product_id": other_product, "rank": "high"}, form_page=family_path)
    assert no_rank.status_code == 422
    assert "Enter a whole number" in no_rank.text
    unknown = await _post(client, add, {"product_id": "prod_nope", "rank": "3"}, form_page=family_path)
    assert unknown.status_code == 422
    assert "no such product" in unknown.text
    nameless = await _post(client, f"{family_path}/edit", {"name": ""}, form_page=family_path)
    assert nameless.status_code == 422
    assert "Enter a name" in nameless.text
    members = await session.scalars(select(FamilyMember).where(FamilyMember.account_id == user.account_id))
    assert [(m.product_id, m.family_id, m.rank) for m in members] == [(product_id, family_id, 1)]
    family = await _fresh(session, select(ProductFamily).where(ProductFamily.id == family_id))
    assert family is not None
    assert family.name == "Plans"


async def test_another_accounts_catalog_is_not_found(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session, email="owner@a.example", name="A")
    other = await make_user(session, email="other@b.example", name="B")
    product = await catalog.create_product(session, owner.account_id, name="Secret product")
    price = await catalog.create_price(
        session, owner.account_id, product_id=product.id, currency="usd", unit_amount_atom=100
    )
    family = await catalog.create_family(session, owner.account_id, name="Secret family", hierarchy=[(product.id, 1)])
    await session.commit()
    await sign_in(client, other.email)
    csrf = await page_csrf(client)
    product_path, price_path, family_path = (
        f"{PRODUCTS}/{product.id}",
        f"/dashboard/prices/{price.id}",
        f"{FAMILIES}/{family.id}",
    )
    for path in (product_path, f"{product_path}/edit", f"{product_path}/prices/new", price_path, family_path):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.get(f"{family_path}/edit")).status_code == 404
    posts = [
        (f"{product_path}/edit", {"name": "Taken"}),
        (f"{product_path}/status", {"action": "archive"}),
        (f"{product_path}/delete", {}),
        (f"{product_path}/prices/new", {"unit_amount": "1", "currency": "usd"}),
        (price_path, {"name": "Taken"}),
        (f"{price_path}/status", {"action": "archive"}),
        (f"{family_path}/edit", {"name": "Taken"}),
        (f"{family_path}/products", {"product_id": product.id, "rank": "2"}),
        (f"{family_path}/products/{product.id}/remove", {}),
        (f"{family_path}/delete", {}),
    ]
    for path, data in posts:
        answer = await client.post(path, data={**data, "csrf_token": csrf})
        assert answer.status_code == 404, (path, answer.status_code)
        assert "There is nothing with that id in this account." in answer.text
    # Nor may the other account's own family take the product.
    mine = await _new_family(client, "Mine")
    taken = await _post(
        client, f"{FAMILIES}/{mine}/products", {"product_id": product.id, "rank": "1"}, form_page=f"{FAMILIES}/{mine}"
    )
    assert taken.status_code == 422
    assert "no such product" in taken.text
    for listing in (PRODUCTS, FAMILIES):
        assert "Secret" not in (await client.get(listing)).text
    assert await _count(session, Price, owner.account_id) == 1
    unchanged = await _fresh(session, select(Product).where(Product.id == product.id))
    assert unchanged is not None
    assert (unchanged.name, unchanged.is_active, unchanged.deleted_at) == (
        "Secret product",
        True,
        None,
    )
    kept = await _fresh(session, select(FamilyMember).where(FamilyMember.product_id == product.id))
    assert kept is not None
    assert kept.family_id == family.id


async def test_every_catalog_form_is_refused_without_its_csrf_token(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    product = await catalog.create_product(session, user.account_id, name="Lamp")
    price = await catalog.create_price(
        session, user.account_id, product_id=product.id, currency="usd", unit_amount_atom=1
    )
    family = await catalog.create_family(session, user.account_id, name="Lights", hierarchy=[(product.id, 1)])
    await session.commit()
    await sign_in(client, user.email)
    posts = [
        (f"{PRODUCTS}/new", {"name": "Forged"}),
        (f"{PRODUCTS}/{product.id}/edit", {"name": "Forged"}),
        (f"{PRODUCTS}/{product.id}/status", {"action": "archive"}),
        (f"{PRODUCTS}/{product.id}/delete", {}),
        (f"{PRODUCTS}/{product.id}/prices/new", {"unit_amount": "1", "currency": "usd"}),
        (f"/dashboard/prices/{price.id}", {"name": "Forged"}),
        (f"/dashboard/prices/{price.id}/status", {"action": "archive"}),
        (f"{FAMILIES}/new", {"name": "Forged"}),
        (f"{FAMILIES}/{family.id}/edit", {"name": "Forged"}),
        (f"{FAMILIES}/{family.id}/products", {"product_id": product.id, "rank": "2"}),
        (f"{FAMILIES}/{family.id}/products/{product.id}/remove", {}),
        (f"{FAMILIES}/{family.id}/delete", {}),
    ]
    for path, data in posts:
        for token in ({}, {"csrf_token": "forged"}):
            answer = await client.post(path, data={**data, **token})
            assert answer.status_code == 403, (path, token, answer.status_code)
            assert "nothing was done" in answer.text
    assert await _count(session, Product, user.account_id) == 1
    assert await _count(session, Price, user.account_id) == 1
    assert await _count(session, ProductFamily, user.account_id) == 1
    now = await _fresh(session, select(Product).where(Product.id == product.id))
    assert now is not None
    assert (now.name, now.is_active, now.deleted_at) == ("Lamp", True, None)
    lamp_price = await _fresh(session, select(Price).where(Price.id == price.id))
    assert lamp_price is not None
    assert (lamp_price.name, lamp_price.is_active) == (None, True)
    member = await _fresh(session, select(FamilyMember).where(FamilyMember.product_id == product.id))
    assert member is not None
    assert member.family_id == family.id
