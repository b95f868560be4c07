from __future__ import annotations

import pytest
from paid import Paid
from payment_kit import PaymentKit

from tests.support import Server


@pytest.fixture
def paymentkit(server: Server) -> tuple[PaymentKit, str]:
    """The public ``payment-kit`` SDK, unchanged, pointed at a real server; with a fresh account's id."""
    account_id, secret = server.new_account()
    return PaymentKit(base_url=server.base_url, token=secret, timeout=30), account_id


@pytest.fixture
def paid(server: Server) -> tuple[Paid, str]:
    """The public ``paid-python`` SDK, unchanged, pointed at the server's ``/api/v2``; with a fresh account's id
    (Paid's calls carry none: the key's account is the one they act on)."""
    account_id, secret = server.new_account()
    return Paid(base_url=f"{server.base_url}/api/v2", token=secret, timeout=30), account_id
