from __future__ import annotations

import pytest
from payment_kit import PaymentKit

from tests.support import Server


@pytest.fixture
def paymentkit(server: Server) -> tuple[PaymentKit, str]:
    """The public ``payment-kit`` SDK, unchanged, pointed at a real server; with a fresh account's id."""
    account_id, secret = server.new_account()
    return PaymentKit(base_url=server.base_url, token=secret, timeout=30), account_id
