"""The ``payment-kit`` SDK's accounts calls against a real server."""

from __future__ import annotations

import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError

from tests.support import Server


def test_get_account_and_brand_settings(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    account = client.accounts.get_account(account_id)
    assert account.id == account_id
    assert account.created_at.tzinfo is not None
    assert [a.id for a in client.accounts.get_accounts()] == [account_id]

    updated = client.accounts.update_brand_settings(account_id, name="Acme", accent_color="#0055aa")
    assert updated.brand_settings is not None
    assert updated.brand_settings.accent_color == "#0055aa"
    assert client.accounts.get_brand_settings(account_id).name == "Acme"


def test_another_accounts_id_is_not_found(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, _ = paymentkit
    with pytest.raises(ApiError) as raised:
        client.accounts.get_account(server.account_id)
    assert raised.value.status_code == 404
