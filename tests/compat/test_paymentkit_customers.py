"""The ``payment-kit`` SDK's customers and custom-field-definitions calls against a real server; the SDK parses
every response into its own types, so a missing or mistyped field fails here."""

from __future__ import annotations

import json

import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.errors import UnprocessableEntityError
from payment_kit.types import AddressCreate


def test_customer_create_get_update_and_address(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    created = client.customers.create_customer(
        account_id,
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        address=AddressCreate(line1="12 St James's Square", city="London", country="GB"),
        currency="gbp",
        language="en",
        tax_ids=["GB123"],
        metadata={"crm": "42"},
        request_options={"additional_body_parameters": {"external_id": "crm-42"}},
    )
    assert created.id.startswith("cus_")
    assert created.name == "Ada Lovelace"
    assert created.address is not None
    assert created.address.city == "London"
    assert created.currency == "gbp"
    assert created.created_at.tzinfo is not None
    assert getattr(created, "external_id", None) == "crm-42"

    fetched = client.customers.get_customer(account_id, created.id)
    assert fetched.email == "ada@example.com"
    assert fetched.custom_fields is None

    updated = client.customers.update_customer(
        account_id, created.id, email="ada@lovelace.org", phone="+44 20 7946 0000", metadata={"crm": ""}
    )
    assert (updated.email, updated.phone, updated.first_name) == ("ada@lovelace.org", "+44 20 7946 0000", "Ada")
    assert updated.metadata == {}

    shipping = client.customers.create_customer_address(
        account_id, created.id, line1="1 Main St", city="Boston", country="US", address_type="shipping"
    )
    assert shipping.id.startswith("addr_")
    after = client.customers.get_customer(account_id, created.id)
    assert after.shipping_address is not None
    assert after.shipping_address.id == shipping.id
    assert after.address is not None
    assert after.address.city == "London"


def test_customer_list_paginates_filters_and_searches(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    ids = [
        client.customers.create_customer(
            account_id,
            email=f"buyer{n}@example.com",
            first_name=f"Buyer{n}",
            request_options={"additional_body_parameters": {"external_id": f"ext-{n}"}},
        ).id
        for n in range(5)
    ]
    seen: list[str] = []
    offset = 0
    while True:
        page = client.customers.list_customers(account_id, limit=2, offset=offset)
        assert page.total == 5
        seen.extend(customer.id for customer in page.items)
        if not page.has_more:
            break
        offset += 2
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5

    by_email = client.customers.list_customers(account_id, filter=json.dumps({"email": "BUYER3@example.com"}))
    assert [c.id for c in by_email.items] == [ids[3]]
    by_external = client.customers.list_customers(account_id, filter=json.dumps({"external_id": "ext-1"}))
    assert [c.id for c in by_external.items] == [ids[1]]
    searched = client.customers.list_customers(account_id, search="buyer4")
    assert [c.id for c in searched.items] == [ids[4]]
    ascending = client.customers.list_customers(account_id, sort_by="created_at", sort_order=1, limit=1)
    assert ascending.items[0].id == ids[0]


def test_duplicate_external_id_and_bad_email_are_refused(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    extra = {"additional_body_parameters": {"external_id": "dup"}}
    client.customers.create_customer(account_id, email="a@example.com", request_options=extra)
    with pytest.raises(ApiError) as raised:
        client.customers.create_customer(account_id, email="b@example.com", request_options=extra)
    assert raised.value.status_code == 409
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "customer_external_id_taken"

    with pytest.raises(UnprocessableEntityError) as invalid:
        client.customers.create_customer(account_id, email="not-an-email")
    assert invalid.value.body.detail is not None
    assert [problem.loc for problem in invalid.value.body.detail] == [["body", "email"]]
    assert client.customers.list_customers(account_id).total == 1


def test_custom_field_definitions_crud_and_customer_values(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    cfd = client.custom_field_definitions
    tier = cfd.create_custom_field_definition(
        account_id,
        field_key="tier",
        entity_type="customer",
        data_type="select",
        display_name="Tier",
        constraints={"options": ["gold", "silver"]},
    )
    assert tier.id.startswith("cfd_")
    assert tier.constraints == {"options": ["gold", "silver"]}
    cfd.create_custom_field_definition(
        account_id, field_key="launch", entity_type="product", data_type="boolean", display_name="Launch"
    )
    assert cfd.get_custom_field_definition(account_id, tier.id).field_key == "tier"
    assert [d.field_key for d in cfd.list_custom_field_definitions(account_id)] == ["launch", "tier"]
    assert [d.field_key for d in cfd.list_custom_field_definitions(account_id, entity_type="customer")] == ["tier"]

    updated = cfd.update_custom_field_definition(
        account_id, tier.id, display_name="Loyalty tier", constraints={"options": ["gold", "silver", "bronze"]}
    )
    assert updated.display_name == "Loyalty tier"
    assert updated.constraints == {"options": ["gold", "silver", "bronze"]}

    customer = client.customers.create_customer(account_id, email="vip@example.com", custom_fields={"tier": "gold"})
    expanded = client.customers.get_customer(account_id, customer.id, expand=["custom_fields"])
    assert expanded.custom_fields == {"tier": "gold"}
    with pytest.raises(UnprocessableEntityError) as invalid:
        client.customers.update_customer(account_id, customer.id, email="vip@example.com", custom_fields={"tier": "x"})
    assert invalid.value.body.detail is not None
    assert invalid.value.body.detail[0].loc == ["body", "custom_fields", "tier"]

    with pytest.raises(UnprocessableEntityError):
        cfd.delete_custom_field_definition(account_id, tier.id, confirm_field_key="tie")
    cfd.delete_custom_field_definition(account_id, tier.id, confirm_field_key="tier")
    with pytest.raises(ApiError) as gone:
        cfd.get_custom_field_definition(account_id, tier.id)
    assert gone.value.status_code == 404
    after = client.customers.get_customer(account_id, customer.id, expand=["custom_fields"])
    assert after.custom_fields == {}
