"""``prices/`` through the PaymentKit dialect, in process: the SDK's parameters, what is refused, immutability."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from payment_kit.types import PaginatedResponseListPriceItem, Price, PriceWithProduct
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog.models import Price as PriceRow
from checkstand.events.models import Event
from tests.conftest import bearer


@pytest.fixture
def api(merchant: tuple[str, str]) -> tuple[str, dict[str, str]]:
    account_id, secret = merchant
    return f"/api/{account_id}", bearer(secret)


@pytest.fixture
async def product_id(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> str:
    base, headers = api
    response = await client.post(f"{base}/products/", json={"name": "Pro plan"}, headers=headers)
    return str(response.json()["id"])


async def _price_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(PriceRow)) or 0)


def _locs(response: httpx.Response) -> set[tuple[str | int, ...]]:
    assert response.status_code == 422, response.text
    return {tuple(problem["loc"]) for problem in response.json()["detail"]}


async def test_one_time_and_recurring_prices_in_the_sdks_shape(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], product_id: str
) -> None:
    base, headers = api
    once = await client.post(
        f"{base}/prices/",
        json={"product_id": product_id, "currency": "EUR", "unit_amount_atom": 4900, "name": "Lifetime"},
        headers=headers,
    )
    assert once.status_code == 201, once.text
    one_time = Price.model_validate(once.json())
    assert (one_time.currency, one_time.pricing_type, one_time.trial_days) == ("eur", "one_time", 0)
    assert (one_time.usage_type, one_time.billing_scheme, one_time.auto_renew) == ("licensed", "per_unit", None)
    assert one_time.recurring_interval is None

    monthly = await client.post(
        f"{base}/prices/",
        json={
            "product_id": product_id,
            "currency": "usd",
            "unit_amount_atom": 1999,
            "pricing_type": "recurring",
            "recurring_interval": "month",
            "recurring_interval_count": 3,
            "trial_days": 14,
            "unit_label": "seat",
            "metadata": {"plan": "quarterly"},
        },
        headers=headers,
    )
    recurring = Price.model_validate(monthly.json())
    assert (recurring.recurring_interval, recurring.recurring_interval_count) == ("month", 3)
    assert (recurring.trial_days, recurring.auto_renew, recurring.unit_label) == (14, True, "seat")
    assert recurring.metadata == {"plan": "quarterly"}

    fetched = await client.get(f"{base}/prices/{recurring.id}", headers=headers)
    with_product = PriceWithProduct.model_validate(fetched.json())
    assert with_product.product.id == product_id
    assert with_product.product.name == "Pro plan"


async def test_the_sdks_other_parameters_are_accepted_at_their_plain_values(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], product_id: str
) -> None:
    base, headers = api
    body = {
        "product_id": product_id,
        "currency": "usd",
        "unit_amount_atom": 100,
        "recurring_interval": "year",
        "auto_renew": True,
        "contract_term_multiple": 1,
        "usage_type": "licensed",
        "metered_id": None,
        "billing_scheme": "per_unit",
        "tier_amount_info": None,
        "prerequisite_price_ids": [],
        "exclusive_customer_ids": None,
        "quantity_divisor": 1,
        "custom_fields": None,
        "is_active": None,
        "name": None,
    }
    response = await client.post(f"{base}/prices/", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["is_active"] is True


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"usage_type": "metered"}, "metered_id", "needs the meter its usage is reported on"),
        ({"metered_id": "meter_1"}, "metered_id", "only a metered price has one"),
        ({"pricing_type": "one_time", "recurring_interval": None, "auto_renew": False}, "auto_renew", "recurring"),
        ({"contract_term_multiple": 37}, "contract_term_multiple", "from 1 to 36"),
    ],
)
async def test_unsupported_options_are_refused_clearly(
    client: httpx.AsyncClient,
    api: tuple[str, dict[str, str]],
    product_id: str,
    session: AsyncSession,
    extra: dict[str, Any],
    field: str,
    words: str,
) -> None:
    base, headers = api
    body = {"product_id": product_id, "currency": "usd", "unit_amount_atom": 100, "recurring_interval": "month"}
    response = await client.post(f"{base}/prices/", json={**body, **extra}, headers=headers)
    assert _locs(response) == {("body", field)}
    assert words in response.json()["detail"][0]["msg"]
    assert await _price_count(session) == 0


@pytest.mark.parametrize(
    ("change", "locs"),
    [
        ({"currency": "usdollar"}, {("body", "currency")}),
        ({"currency": "xts"}, {("body", "currency")}),
        ({"unit_amount_atom": 19.99}, {("body", "unit_amount_atom")}),
        ({"unit_amount_atom": "2000"}, {("body", "unit_amount_atom")}),
        ({"unit_amount_atom": -1}, {("body", "unit_amount_atom")}),
        ({"unit_amount_atom": 10**30}, {("body", "unit_amount_atom")}),
        ({"unit_amount_atom": None}, {("body", "unit_amount_atom")}),
        ({"recurring_interval": "fortnight"}, {("body", "recurring_interval")}),
        ({"recurring_interval": "month", "recurring_interval_count": 0}, {("body", "recurring_interval_count")}),
        ({"recurring_interval": "month", "recurring_interval_count": 10**20}, {("body", "recurring_interval_count")}),
        ({"pricing_type": "recurring"}, {("body", "recurring_interval")}),
        ({"pricing_type": "lifetime"}, {("body", "pricing_type")}),
        ({"trial_days": 7}, {("body", "trial_days")}),
        ({"unit_label": "x" * 13}, {("body", "unit_label")}),
        ({"amount": 5}, {("body", "amount")}),
    ],
)
async def test_bad_terms_are_a_422_naming_the_field(
    client: httpx.AsyncClient,
    api: tuple[str, dict[str, str]],
    product_id: str,
    session: AsyncSession,
    change: dict[str, Any],
    locs: set[tuple[str, ...]],
) -> None:
    base, headers = api
    body = {"product_id": product_id, "currency": "usd", "unit_amount_atom": 100, **change}
    assert _locs(await client.post(f"{base}/prices/", json=body, headers=headers)) == locs
    assert await _price_count(session) == 0


@pytest.mark.parametrize("spelt", ["20.0", "2e1", "2.000E+1"])
async def test_a_whole_number_however_spelt_is_an_integer_amount(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], product_id: str, spelt: str
) -> None:
    """JSON Schema, and so the API reference, counts ``20.0`` an integer: the server takes it as ``20``."""
    base, headers = api
    body = f'{{"product_id": "{product_id}", "currency": "usd", "unit_amount_atom": {spelt}}}'
    json_headers = {**headers, "Content-Type": "application/json"}
    response = await client.post(f"{base}/prices/", content=body, headers=json_headers)
    assert response.status_code == 201, response.text
    assert response.json()["unit_amount_atom"] == 20


async def test_a_product_of_another_account_is_no_such_product(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession
) -> None:
    base, headers = api
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs = await client.post(f"/api/{other.id}/products/", json={"name": "T"}, headers=bearer(other_key.secret))
    body = {"product_id": theirs.json()["id"], "currency": "usd", "unit_amount_atom": 100}
    response = await client.post(f"{base}/prices/", json=body, headers=headers)
    assert _locs(response) == {("body", "product_id")}
    assert response.json()["detail"][0]["msg"] == "no such product"
    assert await _price_count(session) == 0


async def test_patch_changes_state_and_labels_but_never_the_terms(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], product_id: str, session: AsyncSession
) -> None:
    base, headers = api
    created = await client.post(
        f"{base}/prices/",
        json={"product_id": product_id, "currency": "usd", "unit_amount_atom": 100, "metadata": {"a": "1"}},
        headers=headers,
    )
    path = f"{base}/prices/{created.json()['id']}"
    for fixed in ({"unit_amount_atom": 200}, {"currency": "eur"}, {"recurring_interval": "month"}):
        refused = await client.patch(path, json={"name": "Cheaper", **fixed}, headers=headers)
        assert _locs(refused) == {("body", next(iter(fixed)))}
        assert "create a new price" in refused.json()["detail"][0]["msg"]
    assert _locs(await client.patch(path, json={"is_active": None}, headers=headers)) == {("body", "is_active")}
    assert _locs(await client.patch(path, json={"colour": "red"}, headers=headers)) == {("body", "colour")}

    archived = await client.patch(
        path, json={"is_active": False, "name": "Legacy", "metadata": {"b": "2"}}, headers=headers
    )
    assert archived.status_code == 200, archived.text
    price = Price.model_validate(archived.json())
    assert (price.is_active, price.name, price.metadata, price.unit_amount_atom) == (
        False,
        "Legacy",
        {"a": "1", "b": "2"},
        100,
    )
    types = (await session.scalars(select(Event.type).where(Event.aggregate_type == "price"))).all()
    assert types == ["price.created", "price.updated"]


async def test_the_default_price_cannot_be_archived(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], product_id: str
) -> None:
    base, headers = api
    price = await client.post(
        f"{base}/prices/", json={"product_id": product_id, "currency": "usd", "unit_amount_atom": 1}, headers=headers
    )
    await client.patch(f"{base}/products/{product_id}", json={"default_price_id": price.json()["id"]}, headers=headers)
    refused = await client.patch(f"{base}/prices/{price.json()['id']}", json={"is_active": False}, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "price_is_default"


async def test_list_carries_products_and_filters_sorts_searches(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    base, headers = api
    ids: dict[str, str] = {}
    for product_name, amounts in (("Basic", (500, 900)), ("Team", (1500,))):
        product = await client.post(f"{base}/products/", json={"name": product_name}, headers=headers)
        for amount in amounts:
            price = await client.post(
                f"{base}/prices/",
                json={"product_id": product.json()["id"], "currency": "gbp", "unit_amount_atom": amount},
                headers=headers,
            )
            ids[f"{product_name}{amount}"] = price.json()["id"]

    async def listed(**params: Any) -> PaginatedResponseListPriceItem:
        response = await client.get(f"{base}/prices/", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return PaginatedResponseListPriceItem.model_validate(response.json())

    everything = await listed(sortBy="unit_amount_atom", sortOrder=1)
    assert [p.unit_amount_atom for p in everything.items] == [500, 900, 1500]
    assert [p.product.name for p in everything.items] == ["Basic", "Basic", "Team"]
    page = await listed(limit=2, offset=1, sortBy="unit_amount_atom", sortOrder=-1)
    assert ([p.unit_amount_atom for p in page.items], page.total, page.has_more) == ([900, 500], 3, False)
    assert [p.id for p in (await listed(search="team")).items] == [ids["Team1500"]]
    assert (await listed(filter=json.dumps({"product_id": "prod_none"}))).total == 0


async def test_another_accounts_price_is_404(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession
) -> None:
    base, headers = api
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs = bearer(other_key.secret)
    product = await client.post(f"/api/{other.id}/products/", json={"name": "T"}, headers=theirs)
    price = await client.post(
        f"/api/{other.id}/prices/",
        json={"product_id": product.json()["id"], "currency": "usd", "unit_amount_atom": 1},
        headers=theirs,
    )
    path = f"{base}/prices/{price.json()['id']}"
    assert (await client.get(path, headers=headers)).status_code == 404
    patched = await client.patch(path, json={"is_active": False}, headers=headers)
    assert patched.status_code == 404
    assert patched.json()["code"] == "price_not_found"
    assert (await client.get(f"{base}/prices/", headers=headers)).json()["total"] == 0
