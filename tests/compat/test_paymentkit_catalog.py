"""The ``payment-kit`` SDK's products, prices and product families calls against a real server: every response must
parse into the SDK's own types."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from payment_kit import PaymentKit, ProductHierarchyItem
from payment_kit.core.api_error import ApiError
from payment_kit.errors import UnprocessableEntityError

from tests.support import Server


def test_products_create_list_update_and_archive(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    products = client.products
    made = [
        products.create_product(account_id, name=name, description=f"The {name} tier", metadata={"rank": str(i)})
        for i, name in enumerate(["Basic", "Standard", "Premium", "Enterprise", "Legacy"])
    ]
    assert all(p.id.startswith("prod_") and p.account_id == account_id for p in made)
    assert made[0].metadata == {"rank": "0"}

    first = products.list_products(account_id, limit=2)
    assert [p.name for p in first.items] == ["Legacy", "Enterprise"]
    assert (first.total, first.has_more) == (5, True)
    last = products.list_products(account_id, limit=2, offset=4)
    assert ([p.name for p in last.items], last.has_more) == (["Basic"], False)
    by_name = products.list_products(account_id, sort_by="name", sort_order=1)
    assert [p.name for p in by_name.items] == ["Basic", "Enterprise", "Legacy", "Premium", "Standard"]
    assert [p.name for p in products.list_products(account_id, search="premium tier").items] == ["Premium"]
    filtered = products.list_products(account_id, filter=json.dumps({"name": "Standard"}))
    assert [p.id for p in filtered.items] == [made[1].id]

    legacy = made[4]
    renamed = products.update_product(account_id, legacy.id, name="Legacy (old)", metadata={"rank": None})
    assert (renamed.name, renamed.metadata, renamed.description) == ("Legacy (old)", {}, "The Legacy tier")
    fetched = products.get_product(account_id, legacy.id)
    assert (fetched.name, fetched.total_prices) == ("Legacy (old)", 0)

    assert products.delete_product(account_id, legacy.id) is None
    with pytest.raises(ApiError) as gone:
        products.get_product(account_id, legacy.id)
    assert gone.value.status_code == 404
    archived = products.get_product(account_id, legacy.id, include_deleted=True)
    assert archived.is_active is False
    assert products.list_products(account_id).total == 4
    assert products.list_products(account_id, include_deleted=True).total == 5


def test_bad_input_is_a_validation_error_the_sdk_reads(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    with pytest.raises(UnprocessableEntityError) as raised:
        client.products.create_product(account_id, name="Pro", metadata={"tier": 3})
    assert raised.value.body.detail is not None
    assert [list(e.loc) for e in raised.value.body.detail] == [["body", "metadata", "tier"]]
    product = client.products.create_product(account_id, name="Pro")
    with pytest.raises(UnprocessableEntityError) as tiered:
        client.prices.create_price(
            account_id,
            product_id=product.id,
            currency="usd",
            unit_amount_atom=100,
            usage_type="metered",
            metered_id="api_calls",
        )
    assert tiered.value.body.detail is not None
    assert [list(e.loc) for e in tiered.value.body.detail] == [["body", "usage_type"]]
    assert client.prices.list_prices(account_id).total == 0


def test_prices_one_time_and_recurring(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    basic = client.products.create_product(account_id, name="Basic")
    team = client.products.create_product(account_id, name="Team")
    once = client.prices.create_price(
        account_id, product_id=basic.id, currency="jpy", unit_amount_atom=5000, name="Lifetime"
    )
    assert (once.pricing_type, once.currency, once.trial_days, once.recurring_interval) == ("one_time", "jpy", 0, None)
    monthly = client.prices.create_price(
        account_id,
        product_id=team.id,
        currency="usd",
        unit_amount_atom=1900,
        pricing_type="recurring",
        recurring_interval="month",
        trial_days=14,
        metadata={"plan": "team"},
    )
    assert (monthly.recurring_interval, monthly.recurring_interval_count, monthly.trial_days) == ("month", 1, 14)
    yearly = client.prices.create_price(
        account_id, product_id=team.id, currency="usd", unit_amount_atom=19000, recurring_interval="year"
    )

    with_product = client.prices.get_price(account_id, monthly.id)
    assert (with_product.product.id, with_product.product.name) == (team.id, "Team")

    listed = client.prices.list_prices(account_id, limit=2, sort_by="unit_amount_atom", sort_order=-1)
    assert [p.id for p in listed.items] == [yearly.id, once.id]
    assert (listed.total, listed.has_more) == (3, True)
    assert {p.product.name for p in client.prices.list_prices(account_id, search="team").items} == {"Team"}
    in_usd = client.prices.list_prices(account_id, filter=json.dumps({"currency": "usd", "recurring_interval": "year"}))
    assert [p.id for p in in_usd.items] == [yearly.id]

    of_team = client.products.list_product_prices(account_id, team.id, limit=1, offset=1)
    assert ([p.id for p in of_team.items], of_team.total, of_team.has_more) == ([monthly.id], 2, False)
    assert client.products.get_product(account_id, team.id).total_prices == 2

    with_default = client.products.update_product(account_id, team.id, name="Team", default_price_id=monthly.id)
    assert with_default.default_price_id == monthly.id
    with pytest.raises(UnprocessableEntityError):
        client.products.update_product(account_id, basic.id, name="Basic", default_price_id=monthly.id)
    with pytest.raises(ApiError) as refused:
        client.products.delete_product(account_id, team.id)
    assert refused.value.status_code == 409


def test_a_product_whose_prices_are_inactive_can_be_archived(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    product = client.products.create_product(account_id, name="Retired")
    client.prices.create_price(account_id, product_id=product.id, currency="eur", unit_amount_atom=1, is_active=False)
    client.products.delete_product(account_id, product.id)
    assert client.products.list_products(account_id).total == 0
    kept = client.products.list_products(account_id, include_deleted=True).items
    assert [(p.id, p.is_active, p.total_prices) for p in kept] == [(product.id, False, 1)]


def test_product_families(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    small, medium, large = (client.products.create_product(account_id, name=n) for n in ("S", "M", "L"))
    families = client.product_families
    family = families.create_product_family(
        account_id,
        name="Sizes",
        description="S to L",
        hierarchy=[
            ProductHierarchyItem(product_id=small.id, rank=1),
            ProductHierarchyItem(product_id=large.id, rank=3),
        ],
    )
    assert family.hierarchy == {small.id: 1, large.id: 3}
    assert family.deleted_at is None
    added = families.add_product_to_family(account_id, family.id, product_id=medium.id, rank=2)
    assert added.hierarchy == {small.id: 1, medium.id: 2, large.id: 3}
    reordered = families.update_hierarchy(
        account_id,
        family.id,
        hierarchy=[
            ProductHierarchyItem(product_id=large.id, rank=1),
            ProductHierarchyItem(product_id=small.id, rank=2),
        ],
    )
    assert reordered.hierarchy == {large.id: 1, small.id: 2}
    assert families.remove_product_from_family(account_id, family.id, large.id).hierarchy == {small.id: 2}
    renamed = families.update_product_family(account_id, family.id, name="Tiers")
    assert (renamed.name, renamed.description) == ("Tiers", "S to L")
    assert families.get_product_family(account_id, family.id).name == "Tiers"

    other = families.create_product_family(account_id, name="Other line")
    page = families.list_product_families(account_id, limit=1)
    assert ([f.id for f in page.items], page.total, page.has_more) == ([other.id], 2, True)
    assert [f.id for f in families.list_product_families(account_id, search="tier").items] == [family.id]

    with pytest.raises(UnprocessableEntityError) as taken:
        families.add_product_to_family(account_id, other.id, product_id=small.id, rank=1)
    assert taken.value.body.detail is not None
    assert list(taken.value.body.detail[0].loc) == ["body", "product_id"]

    assert families.delete_product_family(account_id, family.id) is None
    with pytest.raises(ApiError) as gone:
        families.get_product_family(account_id, family.id)
    assert gone.value.status_code == 404
    assert families.get_product_family(account_id, family.id, include_deleted=True).deleted_at is not None
    assert families.list_product_families(account_id).total == 1
    assert families.list_product_families(account_id, include_deleted=True).total == 2
    freed = families.add_product_to_family(account_id, other.id, product_id=small.id, rank=1)
    assert freed.hierarchy == {small.id: 1}


def test_another_accounts_catalog_is_not_found(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    other_id, other_secret = server.new_account("Other merchant")
    other = PaymentKit(base_url=server.base_url, token=other_secret, timeout=30)
    product = other.products.create_product(other_id, name="Theirs")
    price = other.prices.create_price(other_id, product_id=product.id, currency="usd", unit_amount_atom=1)
    family = other.product_families.create_product_family(other_id, name="Theirs")
    for call in (
        lambda: client.products.get_product(account_id, product.id),
        lambda: client.prices.get_price(account_id, price.id),
        lambda: client.product_families.get_product_family(account_id, family.id),
        lambda: client.products.list_products(other_id),
    ):
        with pytest.raises(ApiError) as raised:
            call()
        assert raised.value.status_code == 404
    with pytest.raises(UnprocessableEntityError) as borrowed:
        client.prices.create_price(account_id, product_id=product.id, currency="usd", unit_amount_atom=1)
    assert borrowed.value.body.detail is not None
    assert list(borrowed.value.body.detail[0].loc) == ["body", "product_id"]


def test_racing_adds_put_a_product_in_one_family(paymentkit: tuple[PaymentKit, str]) -> None:
    """Eight threads add one product to eight families at the same moment: exactly one family gets it."""
    client, account_id = paymentkit
    product = client.products.create_product(account_id, name="Contested")
    families = [client.product_families.create_product_family(account_id, name=f"F{i}") for i in range(8)]
    barrier = threading.Barrier(len(families))

    def add(family_id: str) -> int:
        barrier.wait()
        try:
            client.product_families.add_product_to_family(account_id, family_id, product_id=product.id, rank=1)
        except ApiError as refused:
            return refused.status_code or 0
        return 200

    with ThreadPoolExecutor(max_workers=len(families)) as pool:
        statuses = list(pool.map(add, [f.id for f in families]))

    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 409, 422}
    homes = [
        f.id
        for f in families
        if product.id in (client.product_families.get_product_family(account_id, f.id).hierarchy or {})
    ]
    assert homes == [families[statuses.index(200)].id]
