"""The ``paid-python`` SDK's products, plans and pricing calls against a real server, on both backends: every answer
parses into the SDK's own types, refusals are Paid's ``{error, code, details}`` naming the field, and a product or
plan made in one dialect is the same object, under the same id, in the other."""

from __future__ import annotations

from typing import Any

import pytest
from paid import (
    Paid,
    PlanAttributeInput,
    PlanUpgradePathGroup,
    PricingInput_RecurringPerUnit,
    ProductAttributeUpsert,
    ProductPricingInput_OneTimePerUnit,
    ProductPricingInput_RecurringGraduated,
    ProductPricingInput_RecurringPercentOfTotal,
    ProductPricingInput_RecurringPerUnit,
    ProductPricingInput_UsagePerUnit,
    ProductSimplePricePoint,
    ProductTieredPricePoint,
    ProductTieredPricePointTiersItem,
    SimplePricePoint,
)
from paid.core.api_error import ApiError
from paid.errors import BadRequestError, NotFoundError
from payment_kit import PaymentKit

from tests.support import Server


def monthly(amount: int, currency: str = "USD", frequency: str = "Monthly") -> ProductPricingInput_RecurringPerUnit:
    return ProductPricingInput_RecurringPerUnit(
        billing_frequency=frequency,  # type: ignore[arg-type]
        price_points=[ProductSimplePricePoint(currency=currency, unit_price=amount)],
    )


def plan_of(product_id: str, pricing: Any) -> list[PlanAttributeInput]:
    return [PlanAttributeInput(product_attribute_id=product_id, pricing=pricing)]


def refused_fields(error: ApiError) -> list[str]:
    """The fields a Paid 400 names, in order; its body is Paid's error shape."""
    body = error.body
    assert {"error", "code", "details"} <= set(body), body
    return [entry["field"] for entry in body["fields"]]


def both(server: Server) -> tuple[Paid, PaymentKit, str]:
    """One account, seen through both SDKs."""
    account_id, secret = server.new_account()
    return (
        Paid(base_url=f"{server.base_url}/api/v2", token=secret, timeout=30),
        PaymentKit(base_url=server.base_url, token=secret, timeout=30),
        account_id,
    )


def test_products_by_id_and_external_id_with_filters_and_pages(paid: tuple[Paid, str]) -> None:
    client, _ = paid
    products = client.products
    made = [
        products.create_product(name=name, external_id=f"ext-{name.lower()}", metadata={"tier": str(rank)})
        for rank, name in enumerate(["Starter", "Team", "Enterprise"])
    ]
    hidden = products.create_product(name="Legacy plan", active=False, product_code="LEG-1")
    assert made[0].id.startswith("prod_")
    assert made[0].external_id == "ext-starter"
    assert made[0].active
    assert (hidden.active, hidden.product_code, hidden.archived_at) == (False, "LEG-1", None)

    first = products.list_products(limit=2)
    assert [p.name for p in first.data] == ["Legacy plan", "Enterprise"]
    assert (first.pagination.total, first.pagination.has_more, first.pagination.limit) == (4, True, 2)
    rest = products.list_products(limit=2, offset=2)
    assert ([p.name for p in rest.data], rest.pagination.has_more) == (["Team", "Starter"], False)
    assert [p.name for p in products.list_products(name="PLAN").data] == ["Legacy plan"]
    assert len(products.list_products(active=True).data) == 3
    assert products.list_products(archived=True).data == []

    team = products.get_product_by_external_id("ext-team")
    assert (team.id, team.metadata, team.product_attributes) == (made[1].id, {"tier": "1"}, [])
    by_id = products.update_product_by_id(made[1].id, description="For teams", metadata={"tier": None, "seats": "5"})
    assert (by_id.description, by_id.metadata, by_id.name) == ("For teams", {"seats": "5"}, "Team")
    renamed = products.update_product_by_external_id("ext-team", name="Teams", external_id="ext-teams")
    assert (renamed.id, renamed.name, renamed.external_id) == (made[1].id, "Teams", "ext-teams")
    assert products.get_product_by_id(made[1].id).external_id == "ext-teams"
    with pytest.raises(NotFoundError) as gone:
        products.get_product_by_external_id("ext-team")
    assert gone.value.body["code"] == "product_not_found"


def test_product_refusals_store_nothing(paid: tuple[Paid, str]) -> None:
    client, _ = paid
    products = client.products
    kept = products.create_product(name="Kept", external_id="kept")
    with pytest.raises(ApiError) as duplicate:
        products.create_product(name="Copy", external_id="kept")
    assert (duplicate.value.status_code, duplicate.value.body["code"]) == (409, "product_external_id_taken")
    other = products.create_product(name="Other")
    with pytest.raises(ApiError) as taken:
        products.update_product_by_id(other.id, external_id="kept", name="Renamed")
    assert taken.value.status_code == 409
    assert products.get_product_by_id(other.id).name == "Other"
    with pytest.raises(BadRequestError) as bad:
        products.create_product(name="", metadata={"n": 3})
    assert refused_fields(bad.value) == ["name", "metadata.n"]
    with pytest.raises(BadRequestError) as null_name:
        products.update_product_by_id(kept.id, name=None)
    assert refused_fields(null_name.value) == ["name"]
    with pytest.raises(NotFoundError) as unknown:
        products.get_product_by_id("prod_nope")
    assert unknown.value.body["code"] == "product_not_found"
    assert unknown.value.body["details"]
    assert products.list_products().pagination.total == 2


def test_a_products_base_pricing_is_its_one_attribute(paid: tuple[Paid, str]) -> None:
    client, _ = paid
    product = client.products.create_product(name="Platform")
    attribute = ProductAttributeUpsert(name="Platform fee", pricing=monthly(2900))
    detail = client.products.update_product_by_id(product.id, product_attributes=[attribute])
    [priced] = detail.product_attributes
    assert (priced.product_attribute_id, priced.name, priced.active) == (product.id, "Platform fee", True)
    assert priced.pricing is not None
    assert (priced.pricing.pricing_type, priced.pricing.charge_type, priced.pricing.billing_frequency) == (
        "RecurringPerUnit",
        "recurring",
        "Monthly",
    )
    [point] = priced.pricing.price_points
    assert (point.currency, point.unit_price, point.tiers) == ("USD", 2900, None)
    [plan] = client.plans.list_plans(product_id=product.id).data
    assert (plan.is_default, plan.name, plan.supported_currencies) == (True, "Platform fee", ["USD"])

    listed = client.pricing.list_pricing(product_id=product.id).data
    assert [entry.product_attribute_id for entry in listed] == [product.id]
    assert client.pricing.get_pricing(product.id).pricing.price_points[0].unit_price == 2900  # type: ignore[union-attr]
    same = PricingInput_RecurringPerUnit(
        billing_frequency="Monthly", price_points=[SimplePricePoint(currency="usd", unit_price=2900)]
    )
    assert client.pricing.update_pricing(product.id, pricing=same).name == "Platform fee"
    dearer = PricingInput_RecurringPerUnit(
        billing_frequency="Monthly", price_points=[SimplePricePoint(currency="USD", unit_price=3900)]
    )
    with pytest.raises(BadRequestError) as changed:
        client.pricing.update_pricing(product.id, pricing=dearer)
    assert refused_fields(changed.value) == ["pricing"]
    assert "never change" in changed.value.body["details"]

    renamed = client.products.update_product_by_id(
        product.id, product_attributes=[ProductAttributeUpsert(name="Base fee", pricing=monthly(2900))]
    )
    assert renamed.product_attributes[0].name == "Base fee"
    with pytest.raises(BadRequestError) as repriced:
        client.products.update_product_by_id(
            product.id, name="Ignored", product_attributes=[ProductAttributeUpsert(name="x", pricing=monthly(1))]
        )
    assert refused_fields(repriced.value) == ["productAttributes[0].pricing"]
    assert client.products.get_product_by_id(product.id).name == "Platform"
    assert client.plans.list_plans(product_id=product.id).pagination.total == 1
    unpriced = client.products.create_product(name="Unpriced")
    with pytest.raises(NotFoundError):
        client.pricing.get_pricing(unpriced.id)
    assert client.pricing.list_pricing(product_id=unpriced.id).data == []


def test_plans_by_id_and_external_id_with_each_pricing(paid: tuple[Paid, str]) -> None:
    client, _ = paid
    product = client.products.create_product(name="API", external_id="api")
    basic = client.plans.create_plan(
        product_id=product.id,
        name="Basic",
        external_id="api-basic",
        is_default=True,
        attributes=plan_of(product.id, monthly(1000)),
    )
    tiers = [
        ProductTieredPricePointTiersItem(lower_bound=0, upper_bound=10, unit_amount=500),
        ProductTieredPricePointTiersItem(lower_bound=10, unit_amount=300, flat_amount=1000),
    ]
    graduated = client.plans.create_plan(
        product_id=product.id,
        name="Volume",
        supported_currencies=["EUR"],
        attributes=plan_of(
            product.id,
            ProductPricingInput_RecurringGraduated(
                billing_frequency="Annual",
                price_points=[ProductTieredPricePoint(currency="EUR", unit_price=0, tiers=tiers)],
            ),
        ),
    )
    usage = client.plans.create_plan(
        product_id=product.id,
        attributes=plan_of(
            product.id,
            ProductPricingInput_UsagePerUnit(
                event_name="api_call", price_points=[ProductSimplePricePoint(currency="USD", unit_price=2)]
            ),
        ),
    )
    setup = client.plans.create_plan(
        product_id=product.id,
        name="Setup",
        attributes=plan_of(
            product.id,
            ProductPricingInput_OneTimePerUnit(price_points=[ProductSimplePricePoint(currency="USD", unit_price=5000)]),
        ),
    )
    assert basic.id.startswith("price_")
    assert (basic.is_default, basic.status, basic.external_id) == (
        True,
        "active",
        "api-basic",
    )
    [volume] = graduated.attributes
    assert volume.pricing is not None
    assert (volume.product_attribute_id, volume.pricing.pricing_type, volume.pricing.pricing_model) == (
        product.id,
        "RecurringGraduated",
        "graduatedPricing",
    )
    [tiered] = volume.pricing.price_points
    assert tiered["currency"] == "EUR"
    assert [(t["lowerBound"], t["upperBound"], t["unitAmount"], t["flatAmount"]) for t in tiered["tiers"]] == [
        (0, 10, 500, None),
        (10, None, 300, 1000),
    ]
    metered = usage.attributes[0].pricing
    assert metered is not None
    assert (metered.pricing_type, metered.charge_type) == ("UsagePerUnit", "usage")
    assert setup.attributes[0].pricing.pricing_type == "OneTimePerUnit"  # type: ignore[union-attr]

    listed = client.plans.list_plans(product_id=product.id, limit=3)
    assert [plan.id for plan in listed.data] == [setup.id, usage.id, graduated.id]
    assert (listed.pagination.total, listed.pagination.has_more) == (4, True)
    assert client.plans.list_plans(external_product_id="api").pagination.total == 4
    assert client.plans.get_plan_by_external_id("api-basic").id == basic.id

    archived = client.plans.update_plan_by_id(setup.id, status="archived", name="Old setup", external_id="setup")
    assert (archived.status, archived.name, archived.external_id) == ("archived", "Old setup", "setup")
    assert client.plans.list_plans(product_id=product.id).pagination.total == 3
    assert client.plans.list_plans(product_id=product.id, include_archived=True).pagination.total == 4
    restored = client.plans.update_plan_by_external_id("setup", status="active")
    assert restored.status == "active"

    # The same pricing sent back changes nothing; the default moves with isDefault.
    made_default = client.plans.update_plan_by_id(
        usage.id,
        is_default=True,
        attributes=[PlanAttributeInput(product_attribute_id=product.id, pricing=metered_input())],
    )
    assert made_default.is_default
    assert not client.plans.get_plan_by_id(basic.id).is_default
    detail = client.products.get_product_by_id(product.id)
    assert [a.pricing.pricing_type for a in detail.product_attributes] == ["UsagePerUnit"]  # type: ignore[union-attr]


def metered_input() -> ProductPricingInput_UsagePerUnit:
    return ProductPricingInput_UsagePerUnit(
        event_name="api_call", price_points=[ProductSimplePricePoint(currency="USD", unit_price=2)]
    )


def test_plan_refusals_name_the_field_and_store_nothing(paid: tuple[Paid, str]) -> None:
    client, _ = paid
    product = client.products.create_product(name="Seats")
    plan = client.plans.create_plan(
        product_id=product.id, external_id="seat", attributes=plan_of(product.id, monthly(700))
    )

    def refused(**body: Any) -> list[str]:
        with pytest.raises(BadRequestError) as raised:
            client.plans.create_plan(**{"product_id": product.id, **body})
        return refused_fields(raised.value)

    percent = ProductPricingInput_RecurringPercentOfTotal(percentage_value=5, billing_frequency="Monthly")
    assert refused(attributes=plan_of(product.id, percent)) == [
        "attributes[0].pricing.pricingType",
        "attributes[0].pricing.percentageValue",
    ]
    two = ProductPricingInput_RecurringPerUnit(
        billing_frequency="Monthly",
        price_points=[ProductSimplePricePoint(currency=c, unit_price=1) for c in ("USD", "EUR")],
    )
    assert refused(attributes=plan_of(product.id, two)) == ["attributes[0].pricing.pricePoints"]
    assert refused(attributes=plan_of(product.id, monthly(100, currency="XYZ"))) == [
        "attributes[0].pricing.pricePoints[0].currency"
    ]
    custom = monthly(100, frequency="Custom")
    assert refused(attributes=plan_of(product.id, custom)) == ["attributes[0].pricing.billingFrequencyCustomMonths"]
    assert refused(attributes=plan_of("prod_other", monthly(100))) == ["attributes[0].productAttributeId"]
    assert refused(attributes=plan_of(product.id, monthly(100)), supported_currencies=["EUR"]) == [
        "supportedCurrencies"
    ]
    assert refused(attributes=[]) == ["attributes"]
    assert refused(attributes=plan_of("prod_nope", monthly(100)), product_id="prod_nope") == ["productId"]
    bad_tiers = ProductPricingInput_RecurringGraduated(
        billing_frequency="Monthly",
        price_points=[
            ProductTieredPricePoint(
                currency="USD",
                unit_price=0,
                tiers=[
                    ProductTieredPricePointTiersItem(lower_bound=0, upper_bound=10, unit_amount=5),
                    ProductTieredPricePointTiersItem(lower_bound=30, upper_bound=5, unit_amount=3),
                ],
            )
        ],
    )
    assert refused(attributes=plan_of(product.id, bad_tiers)) == [
        "attributes[0].pricing.pricePoints[0].tiers[1].lowerBound"
    ]
    with pytest.raises(ApiError) as duplicate:
        client.plans.create_plan(product_id=product.id, external_id="seat", attributes=plan_of(product.id, monthly(1)))
    assert (duplicate.value.status_code, duplicate.value.body["code"]) == (409, "price_external_id_taken")
    with pytest.raises(BadRequestError) as repriced:
        client.plans.update_plan_by_id(plan.id, name="New", attributes=plan_of(product.id, monthly(800)))
    assert refused_fields(repriced.value) == ["attributes[0].pricing"]
    assert client.plans.get_plan_by_id(plan.id).name is None
    assert client.plans.list_plans(include_archived=True).pagination.total == 1
    with pytest.raises(NotFoundError) as unknown:
        client.plans.get_plan_by_id("price_nope")
    assert unknown.value.body["code"] == "price_not_found"
    with pytest.raises(NotFoundError):
        client.plans.list_plans(product_id="prod_nope")


def test_an_upgrade_path_ranks_a_products_plans_for_plan_changes(server: Server) -> None:
    """The order a merchant gives decides upgrade or downgrade between two plans of one product billed as often,
    whatever their amounts; PaymentKit's validate_transition (the engine plan changes use) says so too."""
    client, paymentkit, account_id = both(server)
    product = client.products.create_product(name="Support")
    gold, silver, bronze = (
        client.plans.create_plan(product_id=product.id, name=name, attributes=plan_of(product.id, monthly(amount)))
        for name, amount in (("Gold", 1000), ("Silver", 2000), ("Bronze", 3000))
    )
    annual = client.plans.create_plan(
        product_id=product.id, name="Yearly", attributes=plan_of(product.id, monthly(9000, frequency="Annual"))
    )
    ranked = client.plans.update_plan_upgrade_path(
        product_id=product.id,
        groups=[
            PlanUpgradePathGroup(frequency="Monthly", plan_ids=[bronze.id, silver.id, gold.id]),
            PlanUpgradePathGroup(frequency="Annual", plan_ids=[annual.id]),
        ],
    )
    assert [(plan.name, plan.upgrade_path_order) for plan in ranked.data] == [
        ("Bronze", 1),
        ("Silver", 2),
        ("Gold", 3),
        ("Yearly", 1),
    ]
    assert client.plans.get_plan_by_id(gold.id).upgrade_path_order == 3

    def transition(source: str, target: str) -> str | None:
        verdict = paymentkit.upgrade_paths.validate_transition(
            account_id, source_price_id=source, target_price_id=target
        )
        return verdict.transition_type

    assert transition(bronze.id, gold.id) == "upgrade"  # cheaper per month, yet higher on the path
    assert transition(gold.id, silver.id) == "downgrade"
    assert transition(gold.id, annual.id) == "downgrade"  # another frequency: the amounts per day decide

    def refused(groups: list[PlanUpgradePathGroup]) -> list[str]:
        with pytest.raises(BadRequestError) as raised:
            client.plans.update_plan_upgrade_path(product_id=product.id, groups=groups)
        return refused_fields(raised.value)

    other = client.products.create_product(name="Other")
    elsewhere = client.plans.create_plan(product_id=other.id, attributes=plan_of(other.id, monthly(5)))
    assert refused([PlanUpgradePathGroup(plan_ids=[gold.id, elsewhere.id, gold.id])]) == [
        "groups[0].planIds[1]",
        "groups[0].planIds[2]",
    ]
    assert refused([PlanUpgradePathGroup(frequency="Annual", plan_ids=[gold.id])]) == ["groups[0].planIds[0]"]
    assert refused([PlanUpgradePathGroup(frequency="Weekly", plan_ids=[gold.id])]) == ["groups[0].frequency"]
    assert client.plans.get_plan_by_id(gold.id).upgrade_path_order == 3

    cleared = client.plans.update_plan_upgrade_path(
        product_id=product.id, groups=[PlanUpgradePathGroup(plan_ids=[gold.id, bronze.id])]
    )
    assert [plan.upgrade_path_order for plan in cleared.data] == [1, 2]
    assert client.plans.get_plan_by_id(silver.id).upgrade_path_order is None
    assert transition(gold.id, bronze.id) == "upgrade"


def test_objects_made_in_either_dialect_have_one_id_in_both(server: Server) -> None:
    client, paymentkit, account_id = both(server)
    made = paymentkit.products.create_product(account_id, name="Made in PaymentKit", metadata={"from": "pk"})
    price = paymentkit.prices.create_price(
        account_id, product_id=made.id, unit_amount_atom=1500, currency="usd", recurring_interval="month"
    )
    paymentkit.products.update_product(account_id, made.id, name=made.name, default_price_id=price.id)
    seen = client.products.get_product_by_id(made.id)
    assert (seen.name, seen.metadata) == ("Made in PaymentKit", {"from": "pk"})
    assert [a.product_attribute_id for a in seen.product_attributes] == [made.id]
    plan = client.plans.get_plan_by_id(price.id)
    assert (plan.product_id, plan.is_default, plan.supported_currencies) == (made.id, True, ["USD"])
    assert plan.attributes[0].pricing.price_points[0]["unitPrice"] == 1500  # type: ignore[union-attr]

    product = client.products.create_product(name="Made in Paid", external_id="paid-made")
    created = client.plans.create_plan(
        product_id=product.id, is_default=True, attributes=plan_of(product.id, monthly(4200, currency="EUR"))
    )
    read = paymentkit.products.get_product(account_id, product.id)
    assert (read.name, read.default_price_id) == ("Made in Paid", created.id)
    read_price = paymentkit.prices.get_price(account_id, created.id)
    assert (read_price.unit_amount_atom, read_price.currency, read_price.recurring_interval) == (4200, "eur", "month")
