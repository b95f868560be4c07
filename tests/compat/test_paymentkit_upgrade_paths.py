"""The ``payment-kit`` SDK's ``upgrade_paths`` calls against a real server: every response parses into the SDK's
own types."""

from __future__ import annotations

import pytest
from payment_kit import PaymentKit, ProductHierarchyItem
from payment_kit.core.api_error import ApiError
from payment_kit.errors import UnprocessableEntityError

from tests.support import Server


def _plan(client: PaymentKit, account_id: str, name: str, amount: int) -> tuple[str, str]:
    product = client.products.create_product(account_id, name=name)
    price = client.prices.create_price(
        account_id, product_id=product.id, currency="usd", unit_amount_atom=amount, recurring_interval="month"
    )
    return product.id, price.id


def test_crud_and_transitions(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    paths = client.upgrade_paths
    basic, basic_price = _plan(client, account_id, "Basic", 1000)
    pro, pro_price = _plan(client, account_id, "Pro", 3000)

    up = paths.create_upgrade_path(
        account_id, source_product_id=basic, target_product_id=pro, transition_type="upgrade", description="Go pro"
    )
    assert (up.account_id, up.transition_type, up.is_active, up.deleted_at) == (account_id, "upgrade", True, None)
    down = paths.create_upgrade_path(
        account_id, source_price_id=pro_price, target_price_id=basic_price, transition_type="lateral"
    )
    assert (down.source_product_id, down.source_price_id, down.transition_type) == (pro, pro_price, "crossgrade")
    with pytest.raises(ApiError) as duplicate:
        paths.create_upgrade_path(account_id, source_product_id=basic, target_product_id=pro)
    assert duplicate.value.status_code == 409

    assert paths.get_upgrade_path(account_id, up.id).description == "Go pro"
    listed = paths.list_upgrade_paths(account_id)
    assert ([p.id for p in listed.items], listed.total, listed.has_more) == ([down.id, up.id], 2, False)
    assert [p.id for p in paths.list_upgrade_paths(account_id, transition_type="upgrade").items] == [up.id]
    changed = paths.update_upgrade_path(account_id, down.id, transition_type="downgrade", description="Step down")
    assert (changed.transition_type, changed.description) == ("downgrade", "Step down")

    from_product = paths.list_transitions_from_product(account_id, basic)
    assert from_product.source_product_id == basic
    assert [(t.path_id, t.target_product_id, t.transition_type) for t in from_product.transitions or []] == [
        (up.id, pro, "upgrade")
    ]
    from_price = paths.list_transitions_from_price(account_id, pro_price)
    assert (from_price.source_product_id, from_price.source_price_id) == (pro, pro_price)
    assert [t.path_id for t in from_price.transitions or []] == [down.id]

    allowed = paths.validate_transition(account_id, source_price_id=basic_price, target_price_id=pro_price)
    assert (allowed.allowed, allowed.transition_type, allowed.path_id) == (True, "upgrade", up.id)
    refused = paths.validate_transition(account_id, source_product_id=pro, target_product_id=basic)
    assert (refused.allowed, refused.path_id) == (False, None)
    assert refused.reason

    assert paths.delete_upgrade_path(account_id, up.id) is None
    with pytest.raises(ApiError) as gone:
        paths.get_upgrade_path(account_id, up.id)
    assert gone.value.status_code == 404
    deleted = paths.get_upgrade_path(account_id, up.id, include_deleted=True)
    assert (deleted.is_active, deleted.deleted_at is not None) == (False, True)
    assert paths.list_upgrade_paths(account_id, include_deleted=True).total == 2
    assert paths.list_upgrade_paths(account_id).total == 1


def test_ranks_decide_without_paths(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    basic, basic_price = _plan(client, account_id, "Basic", 1000)
    pro, pro_price = _plan(client, account_id, "Pro", 3000)
    client.product_families.create_product_family(
        account_id,
        name="Plans",
        hierarchy=[ProductHierarchyItem(product_id=basic, rank=1), ProductHierarchyItem(product_id=pro, rank=2)],
    )
    up = client.upgrade_paths.validate_transition(account_id, source_price_id=basic_price, target_price_id=pro_price)
    assert (up.allowed, up.transition_type, up.path_id) == (True, "upgrade", None)
    down = client.upgrade_paths.validate_transition(account_id, source_product_id=pro, target_product_id=basic)
    assert (down.allowed, down.transition_type) == (True, "downgrade")


def test_bad_input_and_another_account(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    basic, basic_price = _plan(client, account_id, "Basic", 1000)
    with pytest.raises(UnprocessableEntityError) as raised:
        client.upgrade_paths.create_upgrade_path(
            account_id, source_product_id=basic, target_price_id="price_nope", transition_type="upgrade"
        )
    detail = raised.value.body.detail or []
    assert [(list(e.loc), e.msg) for e in detail] == [(["body", "target_price_id"], "no such price")]
    with pytest.raises(UnprocessableEntityError) as kind:
        client.upgrade_paths.create_upgrade_path(
            account_id, source_product_id=basic, target_price_id=basic_price, transition_type="sideways"
        )
    assert [list(e.loc) for e in kind.value.body.detail or []] == [["body", "transition_type"]]
    with pytest.raises(UnprocessableEntityError) as missing:
        client.upgrade_paths.validate_transition(account_id, source_product_id=basic)
    assert [list(e.loc) for e in missing.value.body.detail or []] == [["body", "target_product_id"]]
    assert client.upgrade_paths.list_upgrade_paths(account_id).total == 0

    path = client.upgrade_paths.create_upgrade_path(
        account_id, source_product_id=basic, target_price_id=basic_price, transition_type="crossgrade"
    )
    other_id, other_secret = server.new_account()
    other = PaymentKit(base_url=server.base_url, token=other_secret, timeout=30)
    with pytest.raises(ApiError) as foreign:
        other.upgrade_paths.get_upgrade_path(other_id, path.id)
    assert foreign.value.status_code == 404
    with pytest.raises(ApiError) as foreign_product:
        other.upgrade_paths.list_transitions_from_product(other_id, basic)
    assert foreign_product.value.status_code == 404
    with pytest.raises(UnprocessableEntityError) as foreign_create:
        other.upgrade_paths.create_upgrade_path(
            other_id, source_product_id=basic, target_price_id=basic_price, transition_type="upgrade"
        )
    assert {e.msg for e in foreign_create.value.body.detail or []} == {"no such product", "no such price"}
